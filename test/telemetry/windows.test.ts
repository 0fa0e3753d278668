import { describe, expect, it } from 'vitest'
import { createAggregate, type Aggregate } from '../../src/telemetry/aggregate.js'
import { createHopping, createTumbling, hoppingWindows, tumblingWindow, type WindowOperator, type WindowResult } from '../../src/telemetry/windows.js'
import { seeded } from '../helpers/seeded.js'

const S = 1000
/** 2021-10-26T10:15:ss, the timeline of Stream Analytics' examples; 10:15:00 is on every grid used here. */
const T0 = Date.UTC(2021, 9, 26, 10, 15, 0)
const at = (s: number): number => T0 + s * S

type Row = [start: number, end: number, count: number]

/** Feeds readings (value = its index), then advances the watermark to `watermark`; windows as [start, end, count] in seconds since T0. */
function run (op: WindowOperator<WindowResult>, seconds: readonly number[], watermark = Infinity): Row[] {
  seconds.forEach((s, i) => { expect(op.add(at(s), i)).toBe(true) })
  return op.advance(watermark).map((w) => [(w.start - T0) / S, (w.end - T0) / S, w.aggregate.count])
}

// Reconstructed from "Stream Analytics windowing functions": the docs give the first events
// (10:15:01, :03, :06) and the counts per window; these times fit every count they list.
const DOCS_EVENTS = [1, 3, 4, 5, 6, 12, 15, 21, 22, 24, 25]

describe('window assignment', () => {
  it.each<[string, number, number, number, [number, number]]>([
    ['inside a window', 7, 10, 0, [0, 10]],
    ['exactly on a boundary: the window that ends there', 10, 10, 0, [0, 10]],
    ['just past a boundary: the next window', 10.001, 10, 0, [10, 20]],
    ['at zero', 0, 10, 0, [-10, 0]],
    ['before the epoch', -15, 10, 0, [-20, -10]],
    ['with an offset', 3, 10, 2, [2, 12]],
    ['on an offset boundary', 2, 10, 2, [-8, 2]],
    ['with a negative offset (Offset(millisecond, -1) makes windows start-inclusive)', 10, 10, -0.001, [9.999, 19.999]]
  ])('tumbling: %s', (_, time, size, offset, [start, end]) => {
    const w = tumblingWindow(time * S, size * S, offset * S)
    expect(w.start).toBeCloseTo(start * S, 6)
    expect(w.end).toBeCloseTo(end * S, 6)
  })

  it.each<[string, number, number, number, Array<[number, number]>]>([
    ['inside two overlapping windows', 7, 10, 5, [[0, 10], [5, 15]]],
    ['exactly on a hop boundary: the window ending there and the next', 10, 10, 5, [[0, 10], [5, 15]]],
    ['on a boundary with hop = size/3', 30, 30, 10, [[0, 30], [10, 40], [20, 50]]],
    ['hop equal to size is tumbling', 7, 10, 10, [[0, 10]]],
    ['hop larger than size: an event in a gap is in no window', 3, 5, 10, []]
  ])('hopping: %s', (_, time, size, hop, expected) => {
    expect(hoppingWindows(time * S, size * S, hop * S).map((w) => [w.start / S, w.end / S])).toEqual(expected)
  })
})

describe('tumbling windows', () => {
  it('reproduces the docs\' TumblingWindow(second, 10) counts 5, 2, 4', () => {
    expect(run(createTumbling(10 * S), DOCS_EVENTS)).toEqual([[0, 10, 5], [10, 20, 2], [20, 30, 4]])
  })

  it.each<{ name: string, events: number[], size: number, offset?: number, expected: Row[] }>([
    { name: 'an event exactly on a boundary belongs to the window that ends there', events: [10, 10.001], size: 10, expected: [[0, 10, 1], [10, 20, 1]] },
    { name: 'empty windows in a gap are not emitted', events: [1, 55], size: 10, expected: [[0, 10, 1], [50, 60, 1]] },
    { name: 'windows align to the epoch plus the offset', events: [1, 2, 3], size: 10, offset: 2, expected: [[-8, 2, 2], [2, 12, 1]] },
    { name: 'several events at one instant stay together', events: [5, 5, 5], size: 10, expected: [[0, 10, 3]] }
  ])('$name', ({ events, size, offset, expected }) => {
    expect(run(createTumbling(size * S, (offset ?? 0) * S), events)).toEqual(expected)
  })

  it('closes a window only once the watermark is past its end, and emits it once', () => {
    const op = createTumbling(10 * S)
    op.add(at(3), 1)
    op.add(at(10), 2)
    expect(op.advance(at(10))).toEqual([])
    const [w] = op.advance(at(10) + 1)
    expect(w?.aggregate.result(['count', 'sum'])).toEqual({ count: 2, sum: 3 })
    expect(op.advance(at(100))).toEqual([])
  })

  it('takes readings out of order while their window is open, and rejects readings below the watermark or not finite', () => {
    const op = createTumbling(10 * S)
    expect(op.add(at(15), 1)).toBe(true)
    expect(op.add(at(4), 2)).toBe(true)
    expect(op.advance(at(12))).toHaveLength(1)
    expect(op.add(at(11), 3)).toBe(false)
    expect(op.add(at(12), 4)).toBe(true)
    expect(op.add(at(13), NaN)).toBe(false)
    expect(op.add(Infinity, 1)).toBe(false)
    expect(op.rejected).toBe(3)
    const [w] = op.advance(Infinity)
    // first/last go by event time: 12 s (added last) is first.
    expect(w?.aggregate.result(['count', 'first', 'last'])).toEqual({ count: 2, first: 4, last: 1 })
    expect(op.watermark).toBe(Infinity)
  })

  it.each([[0], [-5], [1.5], [NaN], [Infinity]])('refuses size %s with CONFIG_INVALID', (size) => {
    expect(() => createTumbling(size)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
  })
})

describe('hopping windows', () => {
  it('reproduces the docs\' HoppingWindow(second, 10, 5) counts 5, 3, 2, 4, 4', () => {
    // The docs list the windows ending 10:15:10 to :30; the one ending :05 holds :01 to :05 as well.
    expect(run(createHopping(10 * S, 5 * S), DOCS_EVENTS)).toEqual([[-5, 5, 4], [0, 10, 5], [5, 15, 3], [10, 20, 2], [15, 25, 4], [20, 30, 4]])
  })

  it.each<{ name: string, events: number[], size: number, hop: number, expected: Row[] }>([
    { name: 'an event on a hop boundary is in every window ending at or after it that holds it', events: [10], size: 10, hop: 5, expected: [[0, 10, 1], [5, 15, 1]] },
    { name: 'overlapping windows each count the shared events', events: [1, 6, 11], size: 15, hop: 5, expected: [[-10, 5, 1], [-5, 10, 2], [0, 15, 3], [5, 20, 2], [10, 25, 1]] },
    { name: 'windows holding no event in a gap are not emitted', events: [1, 41], size: 10, hop: 5, expected: [[-5, 5, 1], [0, 10, 1], [35, 45, 1], [40, 50, 1]] },
    { name: 'a hop that does not divide the size (panes of their gcd)', events: [1, 5], size: 6, hop: 4, expected: [[-2, 4, 1], [2, 8, 1]] },
    { name: 'a hop larger than the size leaves events in gaps out', events: [3, 7, 12], size: 5, hop: 10, expected: [[5, 10, 1]] }
  ])('$name', ({ events, size, hop, expected }) => {
    expect(run(createHopping(size * S, hop * S), events)).toEqual(expected)
  })

  it('hands out a fresh aggregate per window: changing one leaves the others', () => {
    const out = createHopping(10 * S, 5 * S)
    out.add(at(7), 1)
    const [a, b] = out.advance(Infinity)
    a?.aggregate.add(at(8), 100)
    expect(b?.aggregate.count).toBe(1)
  })

  it.each([
    { size: 10, hop: 5 },
    { size: 60, hop: 15 },
    { size: 7, hop: 3 },
    { size: 10, hop: 10 }
  ])('matches a brute-force assignment on 2000 random readings: size $size s, hop $hop s', ({ size, hop }) => {
    const rand = seeded(size * 100 + hop)
    const readings: Array<[number, number]> = []
    let t = T0
    for (let i = 0; i < 2000; i++) {
      t += Math.floor(rand() * 3 * S) // gaps of 0 to 3 s, some events on whole seconds
      readings.push([t, Math.round(rand() * 1000) / 10])
    }
    const expected = new Map<number, Aggregate>()
    for (const [time, v] of readings) {
      for (const w of hoppingWindows(time, size * S, hop * S)) {
        let agg = expected.get(w.end)
        if (agg === undefined) expected.set(w.end, agg = createAggregate())
        agg.add(time, v)
      }
    }
    const op = createHopping(size * S, hop * S)
    const got: WindowResult[] = []
    // Advance as an event-time policy would: after each reading, to its time.
    for (const [time, v] of readings) {
      op.add(time, v)
      got.push(...op.advance(time))
    }
    got.push(...op.advance(Infinity))
    const names = ['count', 'sum', 'min', 'max', 'first', 'last', 'p50'] as const
    expect(got.map((w) => w.end)).toEqual([...expected.keys()].sort((a, b) => a - b))
    for (const w of got) {
      const want = expected.get(w.end)?.result(names) ?? {}
      const have = w.aggregate.result(names)
      expect(w.start).toBe(w.end - size * S)
      for (const name of names) expect(have[name], name).toBeCloseTo(want[name] as number, 9)
    }
  })
})
