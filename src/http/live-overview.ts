import type { TimerHandle } from '../core/clock.js'
import { monitorLoop } from '../observability/metrics.js'
import type { HttpDeps } from './deps.js'

// The numbers the web console's overview shows, sampled once per interval while at least one
// stream (GET /stream) listens, and handed to every listener: rates over the last interval,
// presence, the event-loop delay of the ingest loop, and what the topics hold. Nothing runs
// while nobody listens. The loop monitor is the sampler's own, so /metrics scrapes (which
// reset theirs) and the console do not disturb each other.

export interface Overview {
  time: string
  intervalSeconds: number
  /** Events appended to the log per second (MQTT and HTTP), and device messages per second. */
  ingest: { eventsPerSecond: number, mqttMessagesPerSecond: number }
  /** Events delivered per second: push successes and pull acknowledgements. */
  delivery: { eventsPerSecond: number }
  devices: { connected: number, registered: number }
  /** How late the ingest loop ran during the interval, in milliseconds. */
  eventLoopDelayMs: { p50: number, p99: number, max: number }
  storage: { topics: number, events: number, bytes: number }
  /** Each topic's size and offsets (the first 500). */
  topics: Array<{ name: string, events: number, bytes: number, firstOffset: number, nextOffset: number }>
  subscriptions: SubscriptionSummary[]
}

export interface SubscriptionSummary {
  topic: string
  name: string
  deliveryMode: string
  backlog: number
  inFlight: number
  delivered: number
  failed: number
  deadLettered: number
  lastError: string | null
}

export interface OverviewSampler {
  /** Calls `listener` with each sample from now on (the first within an interval); returns the function that stops it. */
  listen: (listener: (overview: Overview) => void) => () => void
}

type Deps = Pick<HttpDeps, 'log' | 'metrics' | 'registry' | 'subscriptions' | 'clock'>

const total = async (counter: { get: () => Promise<{ values: Array<{ value: number }> }> | { values: Array<{ value: number }> } }): Promise<number> =>
  (await counter.get()).values.reduce((sum, v) => sum + v.value, 0)

/** At most this many topics and subscriptions in a sample (the console lists them; a gateway may hold more). */
const MAX_LISTED = 500

export function createOverviewSampler (deps: Deps, intervalMs: number): OverviewSampler {
  const listeners = new Set<(o: Overview) => void>()
  let timer: TimerHandle | undefined
  let loop: ReturnType<typeof monitorLoop> | undefined
  let last: { at: number, appended: number, mqtt: number, delivered: number } | undefined

  const ms = (ns: number): number => Number.isFinite(ns) && ns > 0 && ns < 1e12 ? Math.round(ns / 1e4) / 100 : 0

  async function sample (): Promise<Overview> {
    const topics = await deps.log.listTopics()
    const subscriptions: SubscriptionSummary[] = []
    let delivered = 0
    for (const t of topics) {
      for (const sub of deps.subscriptions.list(t.name)) {
        delivered += sub.queue.counters.delivered
        if (subscriptions.length >= MAX_LISTED) continue
        const stats = sub.queue.stats()
        subscriptions.push({
          topic: t.name,
          name: sub.name,
          deliveryMode: sub.spec.mode,
          backlog: Math.max(0, t.nextOffset - sub.queue.cursor) + stats.waiting,
          inFlight: stats.locked,
          delivered: sub.queue.counters.delivered,
          failed: sub.queue.counters.failed,
          deadLettered: stats.deadLettered,
          lastError: sub.queue.counters.lastError ?? null
        })
      }
    }
    const now = deps.clock.now()
    const counts = { at: now, appended: await total(deps.metrics.eventsAppended), mqtt: await total(deps.metrics.mqttMessages), delivered }
    const seconds = last === undefined ? 0 : (now - last.at) / 1000
    const rate = (n: number, before: number | undefined): number => seconds <= 0 || before === undefined ? 0 : Math.max(0, Math.round((n - before) / seconds * 10) / 10)
    const devices = await deps.registry.list()
    const overview: Overview = {
      time: new Date(now).toISOString(),
      intervalSeconds: intervalMs / 1000,
      ingest: { eventsPerSecond: rate(counts.appended, last?.appended), mqttMessagesPerSecond: rate(counts.mqtt, last?.mqtt) },
      delivery: { eventsPerSecond: rate(counts.delivered, last?.delivered) },
      devices: { connected: devices.filter((d) => d.connected).length, registered: devices.length },
      eventLoopDelayMs: loop === undefined ? { p50: 0, p99: 0, max: 0 } : { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      storage: { topics: topics.length, events: topics.reduce((n, t) => n + t.events, 0), bytes: topics.reduce((n, t) => n + t.bytes, 0) },
      topics: topics.slice(0, MAX_LISTED).map((t) => ({ name: t.name, events: t.events, bytes: t.bytes, firstOffset: t.firstOffset, nextOffset: t.nextOffset })),
      subscriptions
    }
    loop?.reset()
    last = counts
    return overview
  }

  function tick (): void {
    timer = undefined
    sample().then((overview) => {
      for (const l of listeners) l(overview)
    }, () => { /* a failed read (stopping, storage error): the next tick tries again */ }).finally(() => {
      if (listeners.size > 0 && timer === undefined) timer = deps.clock.setTimer(intervalMs, tick)
    })
  }

  function start (): void {
    loop = monitorLoop()
    last = undefined
    // The first sample sets the baseline and shows the levels at once; rates follow a tick later.
    timer = deps.clock.setTimer(0, tick)
  }

  function stop (): void {
    timer?.cancel()
    timer = undefined
    loop?.disable()
    loop = undefined
  }

  return {
    listen (listener) {
      listeners.add(listener)
      if (listeners.size === 1) start()
      return () => {
        if (!listeners.delete(listener)) return
        if (listeners.size === 0) stop()
      }
    }
  }
}
