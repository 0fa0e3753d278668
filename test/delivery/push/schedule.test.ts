import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../../src/config/validate.js'
import {
  classifyResponse,
  DEADLETTER_REASONS,
  nextStep,
  parseIsoDuration,
  retryDelay,
  retryPolicyOf,
  type RetryPolicy
} from '../../../src/delivery/push/schedule.js'

// The policy of the default config: the tables below check that it is Event Grid's schedule.
const DEFAULT_RETRY_POLICY = retryPolicyOf(validateConfig({}).webhooks)

const mid = (): number => 0.5 // jitter factor 0: the table value exactly
const low = (): number => 0 // the most negative jitter
const high = (): number => 1 - Number.EPSILON // just under the most positive jitter

describe('retryDelay', () => {
  it.each([
    [1, 0],
    [2, 10_000],
    [3, 30_000],
    [4, 60_000],
    [5, 300_000],
    [6, 300_000],
    [10, 300_000],
    [1000, 300_000]
  ])('attempt %i waits %i ms without jitter (Event Grid namespaces schedule)', (attempt, ms) => {
    expect(retryDelay(attempt, DEFAULT_RETRY_POLICY, mid)).toBe(ms)
  })

  it.each([
    [2, low, 9_000],
    [2, high, 11_000],
    [3, low, 27_000],
    [3, high, 33_000],
    [5, low, 270_000],
    [5, () => 0.75, 315_000],
    [1, low, 0],
    [1, high, 0]
  ])('attempt %i with random %o is jittered by up to 10%%: %i ms', (attempt, random, ms) => {
    expect(retryDelay(attempt, DEFAULT_RETRY_POLICY, random)).toBe(ms)
  })

  it('stays within ±jitterRatio for any random value in [0,1)', () => {
    for (let r = 0; r < 1; r += 0.01) {
      const d = retryDelay(4, DEFAULT_RETRY_POLICY, () => r)
      expect(d).toBeGreaterThanOrEqual(54_000)
      expect(d).toBeLessThanOrEqual(66_000)
    }
  })

  it('takes a configured policy in ms', () => {
    expect(retryPolicyOf({ retryDelaysSeconds: [0, 1.5, 60], jitterRatio: 0.2 })).toEqual({ delaysMs: [0, 1500, 60_000], jitterRatio: 0.2 })
  })

  it('repeats the last delay of a custom (test-sized) policy and honours jitterRatio 0', () => {
    const policy: RetryPolicy = { delaysMs: [0, 5, 20], jitterRatio: 0 }
    expect([1, 2, 3, 4, 9].map((a) => retryDelay(a, policy, high))).toEqual([0, 5, 20, 20, 20])
  })

  it.each([0, -1, 1.5, Number.NaN])('refuses attempt %d', (attempt) => {
    expect(() => retryDelay(attempt, DEFAULT_RETRY_POLICY, mid)).toThrow(RangeError)
  })

  it('refuses a policy without delays', () => {
    expect(() => retryDelay(1, { delaysMs: [], jitterRatio: 0 }, mid)).toThrow(RangeError)
  })
})

describe('classifyResponse', () => {
  it.each([200, 201, 202, 203, 204])('%i is success', (status) => {
    expect(classifyResponse(status)).toEqual({ kind: 'success' })
  })

  it.each([400, 401, 403, 404, 413, 414])('%i is dead-lettered at once as a client error', (status) => {
    expect(classifyResponse(status)).toEqual({ kind: 'deadletter', status, reason: 'Undeliverable due to client error' })
  })

  it.each([205, 206, 301, 302, 307, 405, 408, 409, 410, 415, 429, 500, 502, 503, 504])('%i is retried', (status) => {
    expect(classifyResponse(status)).toEqual({ kind: 'retry', status })
  })

  it.each(['timeout', 'connect ECONNREFUSED 127.0.0.1:9'])('a transport failure (%s) is retried with its error', (error) => {
    expect(classifyResponse(undefined, error)).toEqual({ kind: 'retry', error })
  })

  it('a missing answer without an error message is still a retry', () => {
    expect(classifyResponse(undefined)).toEqual({ kind: 'retry', error: 'no response' })
  })
})

describe('nextStep', () => {
  const now = Date.UTC(2026, 0, 1)
  const day = 24 * 3600_000
  const base = { maxDeliveryCount: 10, expiresAt: now + day, now, policy: DEFAULT_RETRY_POLICY, random: mid }

  it.each([
    [1, 10_000],
    [2, 30_000],
    [3, 60_000],
    [4, 300_000],
    [5, 300_000],
    [9, 300_000]
  ])('after %i failed attempts the next one is %i ms later', (attempts, delay) => {
    expect(nextStep({ ...base, attempts })).toEqual({ kind: 'retry', at: now + delay })
  })

  it('applies the injected jitter to the next attempt', () => {
    expect(nextStep({ ...base, attempts: 1, random: low })).toEqual({ kind: 'retry', at: now + 9_000 })
  })

  it.each([
    [10, 10],
    [11, 10],
    [1, 1],
    [3, 3]
  ])('dead-letters after %i attempts with maxDeliveryCount %i', (attempts, maxDeliveryCount) => {
    expect(nextStep({ ...base, attempts, maxDeliveryCount }))
      .toEqual({ kind: 'deadletter', reason: 'Maximum delivery attempts was exceeded.' })
  })

  it('dead-letters when the next attempt would come after the event expires', () => {
    expect(nextStep({ ...base, attempts: 4, expiresAt: now + 299_999 }))
      .toEqual({ kind: 'deadletter', reason: 'Event time to live expired.' })
  })

  it('still retries when the next attempt falls exactly on the expiry', () => {
    expect(nextStep({ ...base, attempts: 4, expiresAt: now + 300_000 })).toEqual({ kind: 'retry', at: now + 300_000 })
  })

  it('dead-letters an already expired event', () => {
    expect(nextStep({ ...base, attempts: 1, expiresAt: now - 1 })).toEqual({ kind: 'deadletter', reason: DEADLETTER_REASONS.timeToLive })
  })

  it('names the delivery count when both limits are reached', () => {
    expect(nextStep({ ...base, attempts: 10, expiresAt: now - 1 })).toEqual({ kind: 'deadletter', reason: DEADLETTER_REASONS.maxDeliveryAttempts })
  })

  it('refuses attempts below 1', () => {
    expect(() => nextStep({ ...base, attempts: 0 })).toThrow(RangeError)
  })
})

describe('parseIsoDuration', () => {
  it.each([
    ['PT1M', 60_000],
    ['P1D', 86_400_000],
    ['PT1H30M', 5_400_000],
    ['P7DT2H', 7 * 86_400_000 + 7_200_000],
    ['PT30S', 30_000],
    ['PT0.5S', 500],
    ['PT1,25S', 1_250],
    ['P1DT1H1M1S', 86_400_000 + 3_600_000 + 60_000 + 1_000],
    ['P2W', 14 * 86_400_000],
    ['PT0S', 0],
    ['PT90M', 5_400_000],
    ['P10675199D', 10_675_199 * 86_400_000]
  ])('%s is %i ms', (text, ms) => {
    expect(parseIsoDuration(text)).toBe(ms)
  })

  it.each([
    'P', 'PT', 'P1DT', '', '1D', 'PT1', 'P1Y', 'P1M', 'P1Y2M', 'pt1m', 'PT1m', '-PT1M', 'PT-1M', 'P1.5D', 'PT1.5M',
    'PT1S1M', 'P1H', 'T1H', ' PT1M', 'PT1M ', 'P1DT2H3M4S5', `P${'9'.repeat(20)}D`
  ])('refuses %j', (text) => {
    expect(() => parseIsoDuration(text)).toThrow(RangeError)
  })
})
