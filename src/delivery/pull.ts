import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import type { Delivery, SettleOutcome } from './queue.js'
import type { Subscription } from './subscriptions.js'

// Pull delivery (Event Grid namespace "Queue" subscriptions): receive with a long poll,
// then acknowledge, release, reject or renew by lock token.

export interface SettleAnswer {
  failedLockTokens: Array<{ lockToken: string, error: { code: string, message: string } }>
  succeededLockTokens: string[]
}

export const RELEASE_DELAYS_SECONDS = [0, 10, 60, 600, 3600] as const
export const REASON_REJECTED = 'Rejected by the receiver.'

function queueOf (sub: Subscription): { lockMs: number } {
  if (sub.spec.mode !== 'Queue' || sub.spec.queue === undefined) {
    throw new GridgateError('DELIVERY_MODE_MISMATCH', `event subscription '${sub.name}' delivers by push; receive, acknowledge, release, reject and renewLock are for Queue subscriptions`)
  }
  return { lockMs: sub.spec.queue.receiveLockDurationInSeconds * 1000 }
}

/**
 * Returns as soon as at least one event is deliverable, or empty when `maxWaitMs` passes.
 * `gone()` says the caller hung up, so nothing is locked for nobody.
 */
export async function receive (sub: Subscription, log: TopicLog, clock: Clock, maxEvents: number, maxWaitMs: number, gone: () => boolean = () => false): Promise<Delivery[]> {
  const { lockMs } = queueOf(sub)
  const deadline = clock.now() + maxWaitMs
  for (;;) {
    if (gone()) return []
    const got = await sub.queue.take(maxEvents, lockMs)
    if (got.length > 0) return got
    const now = clock.now()
    const remaining = deadline - now
    if (remaining <= 0) return []
    const wake = sub.queue.nextWakeAt()
    const wait = wake === undefined ? remaining : Math.min(remaining, Math.max(1, wake - now))
    await log.waitForAppend(sub.topic, sub.queue.cursor, wait)
  }
}

export function answer (tokens: readonly unknown[], outcomes: readonly SettleOutcome[]): SettleAnswer {
  const out: SettleAnswer = { failedLockTokens: [], succeededLockTokens: [] }
  tokens.forEach((t, i) => {
    const o = outcomes[i]
    if (o?.ok === true) out.succeededLockTokens.push(t as string)
    else out.failedLockTokens.push({ lockToken: String(t), error: { code: o?.ok === false ? o.code : 'LOCK_TOKEN_INVALID', message: o?.ok === false ? o.message : 'invalid lock token' } })
  })
  return out
}

export async function settle (sub: Subscription, action: 'acknowledge' | 'release' | 'reject' | 'renewLock', tokens: string[], releaseDelaySeconds = 0): Promise<SettleAnswer> {
  const { lockMs } = queueOf(sub)
  let outcomes: SettleOutcome[]
  switch (action) {
    case 'acknowledge': outcomes = await sub.queue.acknowledge(tokens); break
    case 'release': outcomes = await sub.queue.release(tokens, releaseDelaySeconds * 1000); break
    case 'reject': outcomes = await sub.queue.reject(tokens, REASON_REJECTED); break
    case 'renewLock': outcomes = await sub.queue.renew(tokens, lockMs); break
  }
  return answer(tokens, outcomes)
}
