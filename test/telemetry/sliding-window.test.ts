import { describe, expect, it } from 'vitest'
import { createAggregate } from '../../src/telemetry/aggregate.js'
import { createSlidingWindow, type SlidingResult } from '../../src/telemetry/windows.js'
import { seeded } from '../helpers/seeded.js'

const S = 1000
const T0 = Date.UTC(2021, 9, 26, 10, 15, 0)
const at = (s: number): number => T0 + s * S

/** Outputs as [end in seconds since T0, count]. */
function ends (outputs: readonly SlidingResult[]): Array<[number, number]> {
  return outputs.map((o) => [(o.end - T0) / S, o.values.count as number])
}

function feed (size: number, seconds: readonly number[], watermark = Infinity): SlidingResult[] {
  const op = createSlidingWindow(size * S, ['count', 'sum'])
  seconds.forEach((s, i) => { expect(op.add(at(s), i)).toBe(true) })
  return [...op.advance(watermark)]
}

describe('sliding windows', () => {
  it('outputs where the docs\' example does: entries at 34, 38, 42, exits at 39 and 43, nothing at 47 when the window empties', () => {
    expect(ends(feed(5, [34, 38, 42]))).toEqual([[34, 1], [38, 2], [39, 1], [42, 2], [43, 1]])
  })

  it('reproduces the docs\' SlidingWindow(second, 10) HAVING COUNT(*) >= 3: 4 at 10:15:15, 3 at 10:15:20', () => {
    const outputs = ends(feed(10, [10, 12, 15, 15, 27]))
    expect(outputs).toEqual([[10, 1], [12, 2], [15, 4], [20, 3], [22, 2], [27, 1]])
    expect(outputs.filter(([, count]) => count >= 3)).toEqual([[15, 4], [20, 3]])
  })

  it.each<{ name: string, events: number[], size: number, expected: Array<[number, number]> }>([
    { name: 'an exit and an entry at the same instant give one output, after both', events: [0, 10], size: 10, expected: [[0, 1], [10, 1]] },
    { name: 'an event leaves exactly size after it (the start is exclusive)', events: [0, 9.999], size: 10, expected: [[0, 1], [9.999, 2], [10, 1]] },
    { name: 'events at one instant enter together', events: [3, 3, 3], size: 5, expected: [[3, 3]] },
    { name: 'a gap longer than the window: no output while it is empty', events: [0, 100], size: 10, expected: [[0, 1], [100, 1]] }
  ])('$name', ({ events, size, expected }) => {
    expect(ends(feed(size, events))).toEqual(expected)
  })

  it('each output covers (end − size, end]', () => {
    for (const o of feed(10, [1, 2, 3])) expect(o.end - o.start).toBe(10 * S)
  })

  it('outputs a change point only once the watermark is past it, each once', () => {
    const op = createSlidingWindow(10 * S, ['count'])
    op.add(at(1), 1)
    op.add(at(5), 2)
    expect(ends(op.advance(at(5)))).toEqual([[1, 1]])
    expect(ends(op.advance(at(5) + 1))).toEqual([[5, 2]])
    expect(ends(op.advance(at(11) + 1))).toEqual([[11, 1]])
    expect(op.advance(at(11) + 1)).toEqual([])
    expect(ends(op.advance(Infinity))).toEqual([])
  })

  it('rejects a reading older than the previous one or below the watermark', () => {
    const op = createSlidingWindow(10 * S, ['count'])
    expect(op.add(at(5), 1)).toBe(true)
    expect(op.add(at(4), 1)).toBe(false)
    op.advance(at(8))
    expect(op.add(at(7), 1)).toBe(false)
    expect(op.add(at(8), 1)).toBe(true)
    expect(op.rejected).toBe(2)
  })

  it('matches a brute-force recomputation of every aggregate on 3000 random readings', () => {
    const rand = seeded(21)
    const size = 10 * S
    const readings: Array<[number, number]> = []
    let t = T0
    for (let i = 0; i < 3000; i++) {
      t += Math.floor(rand() * 4) * 500 // steps of 0 to 1.5 s: ties, and exits meeting entries
      readings.push([t, Math.round((rand() * 200 - 100) * 10) / 10])
    }
    const names = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'stddev', 'stddevp', 'p50', 'p95', 'p99'] as const
    const op = createSlidingWindow(size, names)
    const outputs: SlidingResult[] = []
    for (const [time, v] of readings) {
      op.add(time, v)
      outputs.push(...op.advance(time))
    }
    outputs.push(...op.advance(Infinity))
    // Change points: every entry time and every exit time whose window is not empty.
    const points = [...new Set(readings.flatMap(([time]) => [time, time + size]))].sort((a, b) => a - b)
    const expected = points.flatMap((end) => {
      const agg = createAggregate()
      for (const [time, v] of readings) if (time > end - size && time <= end) agg.add(time, v)
      return agg.count === 0 ? [] : [{ end, values: agg.result(names) }]
    })
    expect(outputs.map((o) => o.end)).toEqual(expected.map((o) => o.end))
    outputs.forEach((o, i) => {
      const want = expected[i]?.values ?? {}
      for (const name of names) {
        if (want[name] === null) expect(o.values[name], name).toBeNull()
        else expect(o.values[name], `${name} at ${o.end}`).toBeCloseTo(want[name] as number, 6)
      }
    })
  })

  it('refuses an unknown aggregate or a bad size with CONFIG_INVALID', () => {
    expect(() => createSlidingWindow(10, ['mode'])).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => createSlidingWindow(0)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
  })
})
