import { describe, expect, it } from 'vitest'
import { LatencyPerSecond, PerSecond, sumSeries, zipSeries } from '../../devices-sim/series.js'

describe('PerSecond', () => {
  it('counts per whole second, dense, ignoring negative and non-finite seconds', () => {
    const p = new PerSecond()
    p.add(0.1)
    p.add(0.9, 2)
    p.add(3.5)
    p.add(-0.1)
    p.add(Number.NaN)
    expect(p.toArray()).toEqual([3, 0, 0, 1])
  })
})

describe('sumSeries and zipSeries', () => {
  it.each<[number[][], number[]]>([
    [[], []],
    [[[1, 2], [3]], [4, 2]],
    [[[0, 0, 5], [1], []], [1, 0, 5]]
  ])('sums %j → %j', (series, sum) => {
    expect(sumSeries(series)).toEqual(sum)
  })

  it('zips columns of different lengths', () => {
    expect(zipSeries({ sent: [5, 5], acked: [4, 6], delivered: [3], errors: [0, 0, 1] })).toEqual([
      { second: 0, sent: 5, acked: 4, delivered: 3, errors: 0, latencyMs: null },
      { second: 1, sent: 5, acked: 6, delivered: 0, errors: 0, latencyMs: null },
      { second: 2, sent: 0, acked: 0, delivered: 0, errors: 1, latencyMs: null }
    ])
  })
})

describe('LatencyPerSecond', () => {
  it('summarises each second of arrivals, null for seconds without any', () => {
    const l = new LatencyPerSecond()
    for (let i = 1; i <= 100; i++) l.record(0.5, i)
    l.record(2.1, 7)
    l.record(2.9, 9)
    const out = l.toArray()
    expect(out).toHaveLength(3)
    expect(out[0]).toEqual({ p50Ms: expect.closeTo(50, 0), p99Ms: expect.closeTo(99, 0), maxMs: expect.closeTo(100, 0) })
    expect(out[1]).toBeNull()
    expect(out[2]?.maxMs).toBeCloseTo(9, 1)
  })

  it('is empty without arrivals', () => {
    expect(new LatencyPerSecond().toArray()).toEqual([])
  })
})
