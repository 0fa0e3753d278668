// Slowing down repeated bad passwords per client address. Pure: state in, state out.

export interface BackoffPolicy {
  freeAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  windowSeconds: number
}

export interface FailureRecord {
  failures: number
  /** When the first failure of this window happened. */
  since: number
}

/** How long an attempt from this address waits before it is checked. */
export function delayBeforeAttempt (record: FailureRecord | undefined, now: number, policy: BackoffPolicy): number {
  if (record === undefined || now - record.since > policy.windowSeconds * 1000) return 0
  const over = record.failures - policy.freeAttempts
  if (over < 0) return 0
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(over, 30))
}

export function afterFailure (record: FailureRecord | undefined, now: number, policy: BackoffPolicy): FailureRecord {
  if (record === undefined || now - record.since > policy.windowSeconds * 1000) return { failures: 1, since: now }
  return { failures: record.failures + 1, since: record.since }
}
