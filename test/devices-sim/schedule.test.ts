import { describe, expect, it } from 'vitest'
import { dueAtMs, dueCount, inShare, sleepMs, splitByWeight, splitRanges } from '../../devices-sim/schedule.js'

describe('dueCount', () => {
  it.each([
    // rate, elapsed ms, limit, due
    [1000, -1, Infinity, 0],
    [1000, 0, Infinity, 1],
    [1000, 0.999, Infinity, 1],
    [1000, 1, Infinity, 2],
    [1000, 1000, Infinity, 1001],
    [5000, 1000, Infinity, 5001],
    [5000, 20_000, 100_000, 100_000],
    [3, 333, Infinity, 1],
    [3, 334, Infinity, 2],
    [3, 1000, Infinity, 4],
    [0.5, 1999, Infinity, 1],
    [0.5, 2000, Infinity, 2],
    [10, 300, Infinity, 4], // 0.3 s × 10/s = 3 (+ the first), not 2.9999…
    [100, 50, 0, 0]
  ])('rate %d after %d ms (limit %d): %d', (rate, elapsed, limit, due) => {
    expect(dueCount(rate, elapsed, limit)).toBe(due)
  })

  it('hits the total exactly at the end of the duration', () => {
    const rate = 4999.7
    const messages = Math.round(rate * 7)
    expect(dueCount(rate, dueAtMs(rate, messages - 1), messages)).toBe(messages)
    expect(dueCount(rate, dueAtMs(rate, messages - 1) - 0.01, messages)).toBe(messages - 1)
  })

  it('a late timer catches up with everything that is due', () => {
    const sent = dueCount(2000, 10) // 21 due after 10 ms
    expect(dueCount(2000, 60) - sent).toBe(100)
  })
})

describe('sleepMs', () => {
  it.each([
    // rate, sent, elapsed, sleep
    [1000, 10, 5, 5],
    [1000, 10, 9.2, 1],
    [1000, 10, 20, 1], // behind: as soon as possible
    [10, 5, 100, 100], // next at 500 ms, capped to 100
    [10, 2, 150, 50]
  ])('rate %d, %d sent, %d ms in: %d ms', (rate, sent, elapsed, ms) => {
    expect(sleepMs(rate, sent, elapsed)).toBe(ms)
  })
})

describe('splitByWeight', () => {
  it.each<[number, number[], number[]]>([
    [10, [1, 1], [5, 5]],
    [11, [1, 1], [6, 5]],
    [100_000, [334, 333, 333], [33_400, 33_300, 33_300]],
    [7, [3, 3, 1], [3, 3, 1]],
    [1, [1, 1, 1], [1, 0, 0]],
    [5, [0, 2], [0, 5]],
    [5, [0, 0], [0, 0]]
  ])('%d by %j → %j', (total, weights, parts) => {
    const got = splitByWeight(total, weights)
    expect(got).toEqual(parts)
  })

  it('always sums to the total', () => {
    for (let total = 0; total < 200; total += 7) {
      for (const weights of [[1], [1, 2], [3, 3, 3, 1], [5, 7, 11, 13]]) {
        expect(splitByWeight(total, weights).reduce((a, b) => a + b, 0)).toBe(total)
      }
    }
  })
})

describe('splitRanges', () => {
  it.each<[number, number, Array<[number, number]>]>([
    [10, 2, [[0, 5], [5, 10]]],
    [10, 3, [[0, 4], [4, 7], [7, 10]]],
    [2, 4, [[0, 1], [1, 2], [2, 2], [2, 2]]],
    [1000, 1, [[0, 1000]]]
  ])('%d into %d', (n, parts, ranges) => {
    expect(splitRanges(n, parts)).toEqual(ranges)
  })
})

describe('inShare', () => {
  it.each([
    // n, share, selected
    [50, 0, 0],
    [50, 1, 50],
    [50, 0.5, 25],
    [50, 0.1, 5],
    [10, 0.25, 2],
    [1000, 0.333, 333],
    [7, 0.99, 6]
  ])('%d devices, share %d: %d selected', (n, share, count) => {
    const picked = Array.from({ length: n }, (_, i) => inShare(i, share, n)).filter(Boolean).length
    expect(picked).toBe(count)
  })

  it('spreads the selection instead of taking the first ones', () => {
    const picked = Array.from({ length: 10 }, (_, i) => inShare(i, 0.2, 10))
    expect(picked.slice(0, 5).filter(Boolean)).toHaveLength(1)
    expect(picked.slice(5).filter(Boolean)).toHaveLength(1)
  })

  it('an offset moves the pattern but keeps the count', () => {
    const a = Array.from({ length: 20 }, (_, i) => inShare(i, 0.25, 20))
    const b = Array.from({ length: 20 }, (_, i) => inShare(i, 0.25, 20, 10))
    expect(b.filter(Boolean)).toHaveLength(5)
    expect(a).not.toEqual(b)
  })
})
