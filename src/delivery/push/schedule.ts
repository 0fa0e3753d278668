// Push retry policy of Event Grid namespaces, as pure functions over plain data: which
// answers count as delivered, which are retried and when, and when an event gives up and
// is dead-lettered. Time and randomness are arguments, so a schedule is tested exactly.

import type { Config } from '../../config/schema.js'

export interface RetryPolicy {
  /** Delay before attempt n is `delaysMs[n - 1]`; the last entry repeats for every later attempt. */
  delaysMs: readonly number[]
  /** Each delay is moved by up to ±ratio of itself, so failed deliveries do not retry in lockstep. */
  jitterRatio: number
}

/**
 * The policy of the `webhooks` config. Its defaults (config/schema.ts) are Event Grid
 * namespaces' schedule: at once, then 10 s, 30 s, 1 min, 5 min, then every 5 min, ±10%.
 */
export function retryPolicyOf (webhooks: Pick<Config['webhooks'], 'retryDelaysSeconds' | 'jitterRatio'>): RetryPolicy {
  return { delaysMs: webhooks.retryDelaysSeconds.map((s) => s * 1000), jitterRatio: webhooks.jitterRatio }
}

/** Dead-letter reasons, worded as Event Grid words them in `deadletterproperties.deadletterreason`. */
export const DEADLETTER_REASONS = Object.freeze({
  clientError: 'Undeliverable due to client error',
  maxDeliveryAttempts: 'Maximum delivery attempts was exceeded.',
  timeToLive: 'Event time to live expired.'
})

/**
 * Delay before attempt `attempt` (1-based; attempt 1 = first delivery = delaysMs[0]), with
 * jitter in [-ratio, +ratio] from random() in [0,1). Rounded to whole milliseconds, never negative.
 */
export function retryDelay (attempt: number, policy: RetryPolicy, random: () => number): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`attempt must be an integer >= 1, got ${attempt}`)
  const { delaysMs, jitterRatio } = policy
  if (delaysMs.length === 0) throw new RangeError('the retry policy has no delays')
  const base = delaysMs[Math.min(attempt, delaysMs.length) - 1] as number
  // random() in [0,1) maps to a factor in [-1, +1): symmetric jitter around the table value.
  const jitter = base * jitterRatio * (2 * random() - 1)
  return Math.max(0, Math.round(base + jitter))
}

export type AttemptResult =
  | { kind: 'success' }
  | { kind: 'retry', status?: number, error?: string }
  | { kind: 'deadletter', status: number, reason: string }

// Event Grid namespaces do not retry these: the endpoint said the request itself is wrong,
// so a retry would get the same answer (api.md, "Push delivery to webhooks").
const NOT_RETRIED = new Set([400, 401, 403, 404, 413, 414])

/**
 * Classifies an HTTP status (or a transport error / timeout, `status` undefined) into success /
 * retry / dead-letter: 200-204 success; 400, 401, 403, 404, 413, 414 dead-letter at once;
 * everything else (other 4xx incl. 408 and 429, 3xx, 5xx, timeouts, connection errors) retry.
 */
export function classifyResponse (status: number | undefined, error?: string): AttemptResult {
  if (status === undefined) return { kind: 'retry', error: error ?? 'no response' }
  if (status >= 200 && status <= 204) return { kind: 'success' }
  if (NOT_RETRIED.has(status)) return { kind: 'deadletter', status, reason: DEADLETTER_REASONS.clientError }
  return error === undefined ? { kind: 'retry', status } : { kind: 'retry', status, error }
}

/**
 * After a failed attempt (`attempts` made so far, >= 1): dead-letter when attempts >= maxDeliveryCount
 * (DEADLETTER_REASONS.maxDeliveryAttempts; checked first, so it wins when both apply) or when the
 * next attempt would come after the event's expiry, publish time + eventTimeToLive
 * (DEADLETTER_REASONS.timeToLive; an attempt exactly at `expiresAt` is still made). Otherwise the
 * time of the next attempt.
 */
export function nextStep (input: {
  attempts: number
  maxDeliveryCount: number
  expiresAt: number
  now: number
  policy: RetryPolicy
  random: () => number
}): { kind: 'retry', at: number } | { kind: 'deadletter', reason: string } {
  const { attempts, maxDeliveryCount, expiresAt, now, policy, random } = input
  if (!Number.isInteger(attempts) || attempts < 1) throw new RangeError(`attempts must be an integer >= 1, got ${attempts}`)
  if (attempts >= maxDeliveryCount) return { kind: 'deadletter', reason: DEADLETTER_REASONS.maxDeliveryAttempts }
  const at = now + retryDelay(attempts + 1, policy, random)
  if (at > expiresAt) return { kind: 'deadletter', reason: DEADLETTER_REASONS.timeToLive }
  return { kind: 'retry', at }
}

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const WEEK = 7 * DAY

// PnW, PnD and the time part TnHnMnS, each optional but in this order; only seconds may
// carry a fraction. Years and months have no fixed length, so they are not accepted.
const DURATION = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d+)?)S)?)?$/

/**
 * ISO 8601 durations like PT1M, P1D, PT1H30M, P7DT2H, PT0.5S (weeks, days, hours, minutes,
 * seconds; no years or months) -> milliseconds, rounded. Throws RangeError on anything else
 * (including "P", "PT", lower case, signs and P1Y/P1M), so callers can map it to their own error code.
 */
export function parseIsoDuration (text: string): number {
  const m = DURATION.exec(text)
  // "P" or "P1DT" match the pattern with nothing (or nothing after T) in them: not durations.
  if (m === null || text === 'P' || text.endsWith('T')) {
    throw new RangeError(`"${text}" is not an ISO 8601 duration of weeks, days, hours, minutes and seconds (e.g. PT1M, P1D, PT1H30M)`)
  }
  const [, w, d, h, min, s] = m
  const ms = num(w) * WEEK + num(d) * DAY + num(h) * HOUR + num(min) * MINUTE + num(s?.replace(',', '.')) * SECOND
  if (!Number.isSafeInteger(Math.round(ms))) throw new RangeError(`"${text}" is too long a duration`)
  return Math.round(ms)
}

function num (part: string | undefined): number {
  return part === undefined ? 0 : Number(part)
}
