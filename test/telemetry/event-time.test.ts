import { describe, expect, it } from 'vitest'
import { createEventTimePolicy, type EventTimeCounters, type EventTimePolicyOptions, type TimedValue } from '../../src/telemetry/event-time.js'
import { createTumbling } from '../../src/telemetry/windows.js'

const MIN = 60_000
const S = 1000
/** "12:07" → ms since midnight. */
const hm = (text: string): number => {
  const [h, m] = text.split(':').map(Number)
  return ((h ?? 0) * 60 + (m ?? 0)) * MIN
}

const ZERO: EventTimeCounters = { invalidDropped: 0, lateDropped: 0, lateAdjusted: 0, earlyDropped: 0, earlyAdjusted: 0, outOfOrderDropped: 0, outOfOrderAdjusted: 0 }

// The watermark illustration of "Understand time handling in Azure Stream Analytics":
// [event time, arrival time] with early arrival 5 min, late arrival 5 min, reorder 2 min.
const DOCS_EVENTS: Array<[string, string]> = [
  ['12:07', '12:07'], ['12:08', '12:08'], ['12:17', '12:11'], ['12:08', '12:13'], ['12:19', '12:16'], ['12:12', '12:17'],
  ['12:17', '12:18'], ['12:20', '12:19'], ['12:16', '12:21'], ['12:23', '12:22'], ['12:22', '12:24'], ['12:21', '12:27']
]
const DOCS_POLICY: EventTimePolicyOptions = { outOfOrderToleranceMs: 2 * MIN, lateArrivalToleranceMs: 5 * MIN, earlyArrivalLimitMs: 5 * MIN }

/** Runs [event time, arrival time] pairs (value = 1-based index); returns everything released, drained at the end. */
function runPolicy (opts: EventTimePolicyOptions, events: ReadonlyArray<readonly [number, number]>): { released: Array<TimedValue<number>>, watermarks: number[], counters: EventTimeCounters } {
  const policy = createEventTimePolicy<number>(opts)
  const released: Array<TimedValue<number>> = []
  const watermarks: number[] = []
  events.forEach(([e, a], i) => {
    released.push(...policy.accept(e, a, i + 1))
    watermarks.push(policy.watermark)
  })
  released.push(...policy.drain())
  return { released, watermarks, counters: { ...policy.counters } }
}

describe('event-time policy', () => {
  it('follows the docs\' watermark illustration: early event dropped, 12:12 adjusted to the 12:17 watermark, late 12:21 adjusted to 12:22', () => {
    const { released, watermarks, counters } = runPolicy(DOCS_POLICY, DOCS_EVENTS.map(([e, a]) => [hm(e), hm(a)]))
    const timeOf = new Map(released.map((r) => [r.value, r.time]))
    expect(timeOf.has(3)).toBe(false) // 12:17 arriving 12:11 is 6 min early
    expect(watermarks[2]).toBe(watermarks[1]) // ... and does not move the watermark
    expect(watermarks[5]).toBe(hm('12:17'))
    expect(timeOf.get(6)).toBe(hm('12:17'))
    expect(timeOf.get(9)).toBe(hm('12:18')) // 12:16 under the 12:18 watermark, by the same rule
    expect(watermarks[11]).toBe(hm('12:21'))
    expect(timeOf.get(12)).toBe(hm('12:22')) // 6 min late: arrival − 5 min, above the watermark
    expect(timeOf.get(4)).toBe(hm('12:08')) // exactly 5 min late: within the tolerance
    expect(counters).toEqual({ ...ZERO, earlyDropped: 1, outOfOrderAdjusted: 2, lateAdjusted: 1 })
    const times = released.map((r) => r.time)
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(released).toHaveLength(11)
  })

  it('follows the docs\' second illustration: with no early-arrival limit, the early event raises the watermark to 12:15 and 12:08 is moved forward to it', () => {
    const { released } = runPolicy({ ...DOCS_POLICY, earlyArrivalLimitMs: Infinity }, DOCS_EVENTS.slice(0, 4).map(([e, a]) => [hm(e), hm(a)]))
    expect(released.find((r) => r.value === 4)?.time).toBe(hm('12:15'))
  })

  it.each<{ name: string, opts: EventTimePolicyOptions, events: Array<[number, number]>, released: Array<[value: number, time: number]>, counters: Partial<EventTimeCounters> }>([
    { name: 'in-order events pass straight through with zero tolerance', opts: {}, events: [[10, 10], [12, 12], [12, 13]], released: [[1, 10], [2, 12], [3, 12]], counters: {} },
    { name: 'events within the out-of-order tolerance are released in event-time order', opts: { outOfOrderToleranceMs: 10 }, events: [[100, 100], [95, 101], [105, 105], [98, 106], [112, 112]], released: [[2, 95], [4, 98], [1, 100], [3, 105], [5, 112]], counters: {} },
    { name: 'equal event times leave in arrival order', opts: { outOfOrderToleranceMs: 10 }, events: [[50, 50], [40, 51], [50, 52], [40, 53]], released: [[2, 40], [4, 40], [1, 50], [3, 50]], counters: {} },
    { name: 'beyond the out-of-order tolerance, adjust: moved up to the watermark', opts: { outOfOrderToleranceMs: 10, outOfOrderAction: 'adjust' }, events: [[100, 100], [80, 101]], released: [[2, 90], [1, 100]], counters: { outOfOrderAdjusted: 1 } },
    { name: 'beyond the out-of-order tolerance, drop', opts: { outOfOrderToleranceMs: 10, outOfOrderAction: 'drop' }, events: [[100, 100], [80, 101], [90, 102]], released: [[3, 90], [1, 100]], counters: { outOfOrderDropped: 1 } },
    { name: 'late arrival, adjust: event time becomes arrival − tolerance', opts: { lateArrivalToleranceMs: 5 * S, lateArrivalAction: 'adjust' }, events: [[0, 60 * S]], released: [[1, 55 * S]], counters: { lateAdjusted: 1 } },
    { name: 'late arrival, drop', opts: { lateArrivalToleranceMs: 5 * S, lateArrivalAction: 'drop' }, events: [[0, 60 * S], [56 * S, 60 * S]], released: [[2, 56 * S]], counters: { lateDropped: 1 } },
    { name: 'exactly at the late-arrival tolerance is not late', opts: { lateArrivalToleranceMs: 5 * S, lateArrivalAction: 'drop' }, events: [[55 * S, 60 * S]], released: [[1, 55 * S]], counters: {} },
    { name: 'a late event adjusted, then below the watermark, is adjusted again to the watermark', opts: { lateArrivalToleranceMs: 5 * S }, events: [[100 * S, 100 * S], [0, 60 * S]], released: [[1, 100 * S], [2, 100 * S]], counters: { lateAdjusted: 1, outOfOrderAdjusted: 1 } },
    { name: 'early arrival, drop (the default): the watermark does not move', opts: { earlyArrivalLimitMs: 60 * S }, events: [[200 * S, 100 * S], [101 * S, 101 * S]], released: [[2, 101 * S]], counters: { earlyDropped: 1 } },
    { name: 'early arrival, adjust: event time becomes arrival + limit (and moves the watermark there)', opts: { earlyArrivalLimitMs: 60 * S, earlyArrivalAction: 'adjust' }, events: [[200 * S, 100 * S], [150 * S, 101 * S]], released: [[1, 160 * S], [2, 160 * S]], counters: { earlyAdjusted: 1, outOfOrderAdjusted: 1 } },
    { name: 'an event time that is not a finite number is dropped and counted', opts: {}, events: [[NaN, 5], [Infinity, 5], [7, 7]], released: [[3, 7]], counters: { invalidDropped: 2 } },
    { name: 'Infinity turns the late and early checks off', opts: { lateArrivalToleranceMs: Infinity, earlyArrivalLimitMs: Infinity }, events: [[-1e12, 0], [1e12, 0]], released: [[1, -1e12], [2, 1e12]], counters: {} }
  ])('$name', ({ opts, events, released, counters }) => {
    const got = runPolicy({ lateArrivalToleranceMs: Infinity, ...opts }, events)
    expect(got.released.map((r) => [r.value, r.time])).toEqual(released)
    expect(got.counters).toEqual({ ...ZERO, ...counters })
  })

  it('buffers while the watermark lags and releases as it advances', () => {
    const policy = createEventTimePolicy<string>({ outOfOrderToleranceMs: 10 * S, lateArrivalToleranceMs: Infinity })
    expect(policy.accept(100 * S, 100 * S, 'a')).toEqual([])
    expect(policy.watermark).toBe(90 * S)
    expect(policy.buffered).toBe(1)
    expect(policy.accept(111 * S, 111 * S, 'b')).toEqual([{ time: 100 * S, value: 'a' }])
    expect(policy.buffered).toBe(1)
  })

  it('flush(now) moves the watermark to now − late-arrival tolerance when events are sparse, never backwards', () => {
    const policy = createEventTimePolicy<string>({ outOfOrderToleranceMs: 60 * S, lateArrivalToleranceMs: 5 * S })
    policy.accept(100 * S, 100 * S, 'a')
    expect(policy.flush(104 * S)).toEqual([])
    expect(policy.watermark).toBe(99 * S)
    expect(policy.flush(105 * S)).toEqual([{ time: 100 * S, value: 'a' }])
    expect(policy.flush(50 * S)).toEqual([])
    expect(policy.watermark).toBe(100 * S)
  })

  it('drain releases everything buffered', () => {
    const policy = createEventTimePolicy<number>({ outOfOrderToleranceMs: 60 * S, lateArrivalToleranceMs: Infinity })
    for (const t of [5, 3, 9]) policy.accept(t * S, t * S, t)
    expect(policy.drain().map((r) => r.value)).toEqual([3, 5, 9])
    expect(policy.buffered).toBe(0)
  })

  it.each([{ outOfOrderToleranceMs: -1 }, { lateArrivalToleranceMs: NaN }, { earlyArrivalLimitMs: -5 }])('refuses %o with CONFIG_INVALID', (opts) => {
    expect(() => createEventTimePolicy(opts)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
  })
})

describe('event-time policy feeding a tumbling window', () => {
  /** Readings [event s, arrival s, value] through a policy into TumblingWindow(second, 10); windows as [end s, sum]. */
  function windows (opts: EventTimePolicyOptions, readings: Array<[number, number, number]>): Array<[number, number]> {
    const policy = createEventTimePolicy<number>(opts)
    const op = createTumbling(10 * S)
    const out: Array<[number, number]> = []
    const take = (released: ReadonlyArray<TimedValue<number>>): void => {
      for (const r of released) op.add(r.time, r.value)
      for (const w of op.advance(policy.watermark)) out.push([w.end / S, w.aggregate.sum])
    }
    for (const [e, a, v] of readings) take(policy.accept(e * S, a * S, v))
    take(policy.drain())
    for (const w of op.advance(Infinity)) out.push([w.end / S, w.aggregate.sum])
    return out
  }

  it('an out-of-order event within the tolerance still counts in its own window', () => {
    expect(windows({ outOfOrderToleranceMs: 5 * S }, [[8, 8, 1], [12, 12, 2], [9, 13, 4], [25, 25, 8]])).toEqual([[10, 5], [20, 2], [30, 8]])
  })

  it.each<[string, EventTimePolicyOptions, Array<[number, number]>]>([
    ['adjusted into the window of the watermark', { outOfOrderAction: 'adjust' }, [[10, 1], [20, 6], [30, 8]]],
    ['dropped', { outOfOrderAction: 'drop' }, [[10, 1], [20, 2], [30, 8]]]
  ])('an out-of-order event beyond the tolerance is %s', (_, opts, expected) => {
    const policy = { outOfOrderToleranceMs: 5 * S, lateArrivalToleranceMs: Infinity, ...opts }
    expect(windows(policy, [[8, 8, 1], [18, 18, 2], [9, 19, 4], [25, 25, 8]])).toEqual(expected)
  })

  it.each<[string, EventTimePolicyOptions, Array<[number, number]>]>([
    ['adjusted to arrival − tolerance, into a later window', { lateArrivalAction: 'adjust' }, [[10, 1], [30, 6]]],
    ['dropped', { lateArrivalAction: 'drop' }, [[10, 1], [30, 2]]]
  ])('a late event is %s', (_, opts, expected) => {
    expect(windows({ lateArrivalToleranceMs: 5 * S, ...opts }, [[8, 8, 1], [22, 26, 2], [2, 30, 4]])).toEqual(expected)
  })
})
