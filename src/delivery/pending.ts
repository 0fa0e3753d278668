// Per-event delivery state of one subscription, for events taken from the log but not yet
// settled: locked (in flight), waiting to be available again (released, retried), or
// available. Pure: time comes in as `now`.

export interface PendingEntry {
  offset: number
  /** When the log accepted the event (for eventTimeToLive). */
  appendTime: number
  /** Deliveries so far. */
  deliveryCount: number
  /** Not deliverable before this time (release delay, retry schedule). */
  availableAt: number
  lockToken?: string
  lockedUntil?: number
  lastStatus?: number
  lastError?: string
  lastAttemptAt?: number
  /** Push only: taken from the log and in flight, kept in memory, not in LevelDB. */
  volatile?: boolean
}

export type Verdict =
  | { kind: 'deliver' }
  | { kind: 'wait', until: number }
  | { kind: 'deadletter', reason: string }

export const REASON_MAX_DELIVERIES = 'Maximum delivery attempts was exceeded.'
export const REASON_TTL = 'Event time to live expired.'

/** What to do with a pending entry now. */
export function verdict (e: PendingEntry, now: number, limits: { maxDeliveryCount: number, ttlMs: number }): Verdict {
  if (e.lockedUntil !== undefined && e.lockedUntil > now) return { kind: 'wait', until: e.lockedUntil }
  if (e.deliveryCount >= limits.maxDeliveryCount) return { kind: 'deadletter', reason: REASON_MAX_DELIVERIES }
  if (now >= e.appendTime + limits.ttlMs) return { kind: 'deadletter', reason: REASON_TTL }
  if (e.availableAt > now) return { kind: 'wait', until: e.availableAt }
  return { kind: 'deliver' }
}

/**
 * The first moment verdict() stops answering 'wait' for the entry: its lock's end, and then
 * the earlier of its availability and its time to live (at once past its last attempt).
 * Time only moves on, so from then on the entry is due until it changes.
 */
export function dueAt (e: PendingEntry, limits: { maxDeliveryCount: number, ttlMs: number }): number {
  const lockEnd = e.lockedUntil ?? -Infinity
  const free = e.deliveryCount >= limits.maxDeliveryCount ? -Infinity : Math.min(e.availableAt, e.appendTime + limits.ttlMs)
  return Math.max(lockEnd, free)
}

/** The entry as it is handed out: one more delivery, locked until `now + lockMs`. */
export function lockFor (e: PendingEntry, token: string, now: number, lockMs: number): PendingEntry {
  return { ...e, deliveryCount: e.deliveryCount + 1, lockToken: token, lockedUntil: now + lockMs, lastAttemptAt: now }
}

/** True when `token` holds a live lock on the entry. */
export function holdsLock (e: PendingEntry | undefined, token: string, now: number): e is PendingEntry {
  return e !== undefined && e.lockToken === token && e.lockedUntil !== undefined && e.lockedUntil > now
}

/** Unlocked, deliverable again at `at` (release with delay, or the next retry). */
export function unlock (e: PendingEntry, at: number, result?: { status?: number, error?: string }): PendingEntry {
  const { lockToken: _t, lockedUntil: _l, volatile: _v, ...rest } = e
  return { ...rest, availableAt: at, lastStatus: result?.status ?? e.lastStatus, lastError: result?.error ?? e.lastError }
}

/** Lock tokens carry their event's offset, so settling one is a map lookup. */
export function makeLockToken (offset: number, random: string): string {
  return `${offset.toString(36)}.${random}`
}

export function offsetOfToken (token: string): number | undefined {
  const dot = token.indexOf('.')
  if (dot <= 0) return undefined
  const n = parseInt(token.slice(0, dot), 36)
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined
}
