import type { Clock, TimerHandle } from '../../core/clock.js'
import type { TopicLog } from '../../log/types.js'
import type { Delivery } from '../queue.js'
import type { PushSettings } from '../subscription-spec.js'
import type { Subscription } from '../subscriptions.js'
import { classifyResponse, nextStep, parseIsoDuration, type RetryPolicy } from './schedule.js'
import type { WebhookClientOptions } from './webhook-client.js'
import { deliver } from './webhook-client.js'

// Push delivery for one subscription: take events from its queue, POST them, and settle
// by the answer: acknowledge on 200-204, dead-letter at once on 400/401/403/404/413/414,
// otherwise retry on the schedule until maxDeliveryCount or eventTimeToLive. At most
// `concurrency` requests are in flight, and the queue holds at most maxPending events, so a
// slow or dead endpoint costs bounded memory and never slows ingest or other subscriptions.

export interface DispatcherOptions {
  log: TopicLog
  clock: Clock
  client: WebhookClientOptions
  policy: RetryPolicy
  random: () => number
  concurrency: number
  onAttempt?: (sub: Subscription, events: number, outcome: 'success' | 'retry' | 'deadletter', ms: number) => void
  onError?: (sub: Subscription, err: unknown) => void
}

/** Splits a batch by preferredBatchSizeInKilobytes; one oversized event goes alone. */
export function chunkBySize (items: readonly Delivery[], maxBytes: number): Delivery[][] {
  const out: Delivery[][] = []
  let current: Delivery[] = []
  let size = 2
  for (const d of items) {
    if (current.length > 0 && size + d.bytes.length + 1 > maxBytes) {
      out.push(current)
      current = []
      size = 2
    }
    current.push(d)
    size += d.bytes.length + 1
  }
  if (current.length > 0) out.push(current)
  return out
}

/** The least wait before the next take after `failures` failed ones in a row: 1 ms, then 100 ms doubling to 5 s. */
export function failedTakeDelayMs (failures: number): number {
  return failures === 0 ? 1 : Math.min(5000, 100 * 2 ** Math.min(failures - 1, 16))
}

export function startPushDispatcher (sub: Subscription, opts: DispatcherOptions): () => Promise<void> {
  const push = sub.spec.push as PushSettings
  const ttlMs = parseIsoDuration(push.eventTimeToLive)
  // The lock outlives the request: an answer that arrives still finds its lock.
  const lockMs = opts.client.timeoutMs + 60_000
  const inflight = new Set<Promise<void>>()
  let running = true
  let pumping = false
  let timer: TimerHandle | undefined
  // Takes that failed in a row (the store unreachable, a topic deleted under us): the next
  // wake-up waits failedTakeDelayMs, however due an entry is, instead of trying again at once.
  let failedTakes = 0

  async function send (batch: Delivery[]): Promise<void> {
    const tokens = batch.map((d) => d.lockToken)
    const now = opts.clock.now()
    const res = await deliver(push.endpointUrl, batch.map((d) => d.bytes), {
      ...opts.client,
      batch: push.maxEventsPerBatch > 1,
      secret: push.secret,
      // The same id on every retry, so receivers can drop duplicates (Standard Webhooks).
      deliveryId: `${sub.topic}-${sub.name}-${batch[0]?.offset ?? 0}`,
      nowSeconds: Math.floor(now / 1000)
    })
    const result = 'status' in res ? classifyResponse(res.status) : classifyResponse(undefined, res.error)
    const detail = 'status' in res ? { status: res.status } : { error: res.error }
    if (result.kind === 'success') {
      await sub.queue.acknowledge(tokens)
    } else if (result.kind === 'deadletter') {
      await sub.queue.reject(tokens, result.reason, detail)
    } else {
      const after = opts.clock.now()
      for (const d of batch) {
        const step = nextStep({ attempts: d.deliveryCount, maxDeliveryCount: push.maxDeliveryCount, expiresAt: d.appendTime + ttlMs, now: after, policy: opts.policy, random: opts.random })
        if (step.kind === 'deadletter') await sub.queue.reject([d.lockToken], step.reason, detail)
        else await sub.queue.release([d.lockToken], Math.max(0, step.at - after), detail)
      }
    }
    opts.onAttempt?.(sub, batch.length, result.kind, res.ms)
  }

  async function pump (): Promise<void> {
    if (pumping || !running) return
    pumping = true
    try {
      // `running` and `inflight` change while this loop awaits.
      // eslint-disable-next-line no-unmodified-loop-condition
      while (running && inflight.size < opts.concurrency) {
        const taken = await sub.queue.take(push.maxEventsPerBatch, lockMs)
        failedTakes = 0
        if (taken.length === 0) break
        for (const batch of chunkBySize(taken, push.preferredBatchSizeInKilobytes * 1024)) {
          const p: Promise<void> = send(batch).catch((err: unknown) => opts.onError?.(sub, err)).finally(() => {
            inflight.delete(p)
            void pump()
          })
          inflight.add(p)
        }
      }
    } catch (err) {
      // A storage error or a topic deleted under us: try again on the next wake-up.
      failedTakes++
      opts.onError?.(sub, err)
    } finally {
      pumping = false
    }
    if (running && inflight.size < opts.concurrency) arm()
  }

  // Sleep until the topic grows or a retry or lock comes due, whichever is first. Called
  // after every pump, so a newly released event moves the wake-up earlier.
  let appendWait = false
  function arm (): void {
    if (!running) return
    const now = opts.clock.now()
    const wake = sub.queue.nextWakeAt()
    const ms = wake === undefined ? 60_000 : Math.max(failedTakeDelayMs(failedTakes), wake - now)
    timer?.cancel()
    timer = opts.clock.setTimer(ms, () => { void pump() })
    if (appendWait) return
    appendWait = true
    void opts.log.waitForAppend(sub.topic, sub.queue.cursor, ms).then((grew) => {
      appendWait = false
      if (grew) void pump()
      else arm()
    }, () => { appendWait = false })
  }

  void pump()
  return async () => {
    running = false
    timer?.cancel()
    await Promise.all([...inflight])
  }
}
