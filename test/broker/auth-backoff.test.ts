import { describe, it, expect } from 'vitest'
import { afterFailure, delayBeforeAttempt, type BackoffPolicy, type FailureRecord } from '../../src/broker/auth-backoff.js'

const POLICY: BackoffPolicy = { freeAttempts: 3, baseDelayMs: 100, maxDelayMs: 5000, windowSeconds: 60 }
const SINCE = 1_700_000_000_000
const WINDOW_MS = POLICY.windowSeconds * 1000

describe('delayBeforeAttempt', () => {
  it('does not delay an address without failures', () => {
    expect(delayBeforeAttempt(undefined, SINCE, POLICY)).toBe(0)
  })

  it.each([
    { failures: 0, delay: 0 },
    { failures: 1, delay: 0 },
    { failures: 2, delay: 0 },
    { failures: 3, delay: 100 }, // base * 2^0
    { failures: 4, delay: 200 },
    { failures: 5, delay: 400 },
    { failures: 6, delay: 800 },
    { failures: 7, delay: 1600 },
    { failures: 8, delay: 3200 },
    { failures: 9, delay: 5000 }, // 6400 capped
    { failures: 10, delay: 5000 },
    { failures: 40, delay: 5000 },
    { failures: 1100, delay: 5000 }, // 2^1097 would be Infinity without a cap
    { failures: 1_000_000, delay: 5000 }
  ])('after $failures failures in the window waits $delay ms', ({ failures, delay }) => {
    expect(delayBeforeAttempt({ failures, since: SINCE }, SINCE + 1000, POLICY)).toBe(delay)
  })

  it.each([
    { name: 'no free attempts', policy: { ...POLICY, freeAttempts: 0 }, failures: 1, delay: 200 },
    { name: 'no free attempts, first failure', policy: { ...POLICY, freeAttempts: 0 }, failures: 2, delay: 400 },
    { name: 'one free attempt', policy: { ...POLICY, freeAttempts: 1 }, failures: 1, delay: 100 },
    { name: 'ten free attempts, ninth failure', policy: { ...POLICY, freeAttempts: 10 }, failures: 9, delay: 0 },
    { name: 'ten free attempts, tenth failure', policy: { ...POLICY, freeAttempts: 10 }, failures: 10, delay: 100 },
    { name: 'a base delay of 250 ms', policy: { ...POLICY, baseDelayMs: 250 }, failures: 5, delay: 1000 },
    { name: 'a cap below the base delay', policy: { ...POLICY, baseDelayMs: 1000, maxDelayMs: 300 }, failures: 3, delay: 300 },
    { name: 'a zero base delay', policy: { ...POLICY, baseDelayMs: 0 }, failures: 20, delay: 0 },
    { name: 'a zero cap', policy: { ...POLICY, maxDelayMs: 0 }, failures: 20, delay: 0 }
  ])('follows the policy with $name', ({ policy, failures, delay }) => {
    expect(delayBeforeAttempt({ failures, since: SINCE }, SINCE, policy)).toBe(delay)
  })

  it.each([
    { name: 'at the start of the window', age: 0, delay: 800 },
    { name: 'in the middle of the window', age: WINDOW_MS / 2, delay: 800 },
    { name: 'exactly at the end of the window', age: WINDOW_MS, delay: 800 },
    { name: 'one millisecond after the window', age: WINDOW_MS + 1, delay: 0 },
    { name: 'long after the window', age: 100 * WINDOW_MS, delay: 0 }
  ])('with 6 failures, $name, waits $delay ms', ({ age, delay }) => {
    expect(delayBeforeAttempt({ failures: 6, since: SINCE }, SINCE + age, POLICY)).toBe(delay)
  })
})

describe('afterFailure', () => {
  it('starts a window at 1 for an address without failures', () => {
    expect(afterFailure(undefined, SINCE, POLICY)).toEqual({ failures: 1, since: SINCE })
  })

  it.each([
    { name: 'at the start of the window', age: 0, expected: { failures: 5, since: SINCE } },
    { name: 'inside the window', age: WINDOW_MS - 1, expected: { failures: 5, since: SINCE } },
    { name: 'exactly at the end of the window', age: WINDOW_MS, expected: { failures: 5, since: SINCE } },
    { name: 'one millisecond after the window', age: WINDOW_MS + 1, expected: { failures: 1, since: SINCE + WINDOW_MS + 1 } },
    { name: 'long after the window', age: 10 * WINDOW_MS, expected: { failures: 1, since: SINCE + 10 * WINDOW_MS } }
  ])('after 4 failures, a failure $name gives $expected.failures', ({ age, expected }) => {
    expect(afterFailure({ failures: 4, since: SINCE }, SINCE + age, POLICY)).toEqual(expected)
  })

  it('does not change the record it is given', () => {
    const record: FailureRecord = { failures: 2, since: SINCE }
    afterFailure(record, SINCE + 10, POLICY)
    expect(record).toEqual({ failures: 2, since: SINCE })
  })

  it('counts consecutive failures into the backoff table, then resets after the window', () => {
    let record: FailureRecord | undefined
    const delays: number[] = []
    for (let i = 0; i < 10; i++) {
      const now = SINCE + i * 1000
      delays.push(delayBeforeAttempt(record, now, POLICY))
      record = afterFailure(record, now, POLICY)
    }
    expect(delays).toEqual([0, 0, 0, 100, 200, 400, 800, 1600, 3200, 5000])
    expect(record).toEqual({ failures: 10, since: SINCE })

    const later = SINCE + WINDOW_MS + 1
    expect(delayBeforeAttempt(record, later, POLICY)).toBe(0)
    record = afterFailure(record, later, POLICY)
    expect(record).toEqual({ failures: 1, since: later })
    expect(delayBeforeAttempt(record, later + 1, POLICY)).toBe(0)
  })
})
