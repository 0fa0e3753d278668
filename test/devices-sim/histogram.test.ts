import { describe, expect, it } from 'vitest'
import { addEncoded, encodeHistogram, latencyHistogram, recordMs, summarize } from '../../devices-sim/histogram.js'

describe('latency histograms', () => {
  it('summarises in ms with 3 significant digits, percentiles never above the max', () => {
    const h = latencyHistogram()
    for (let i = 1; i <= 1000; i++) recordMs(h, i / 10) // 0.1 .. 100 ms
    const s = summarize(h)
    expect(s.count).toBe(1000)
    expect(s.p50).toBeCloseTo(50, 0)
    expect(s.p90).toBeCloseTo(90, 0)
    expect(s.p99).toBeCloseTo(99, 0)
    expect(s.p999).toBeLessThanOrEqual(s.max)
    expect(s.max).toBeCloseTo(100, 0)
    expect(s.mean).toBeCloseTo(50.05, 0)
  })

  it('records sub-millisecond and negative latencies', () => {
    const h = latencyHistogram()
    recordMs(h, 0.0123)
    recordMs(h, -5) // a clock step: the smallest value, not an error
    expect(summarize(h)).toMatchObject({ count: 2, max: 0.012 })
  })

  it('is all zeros when empty', () => {
    expect(summarize(latencyHistogram())).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 })
  })

  it('adds encoded histograms (as workers send them) into one', () => {
    const a = latencyHistogram()
    const b = latencyHistogram()
    for (let i = 0; i < 100; i++) recordMs(a, 1)
    for (let i = 0; i < 100; i++) recordMs(b, 1000)
    const total = latencyHistogram()
    addEncoded(total, encodeHistogram(a))
    addEncoded(total, encodeHistogram(b))
    const s = summarize(total)
    expect(s.count).toBe(200)
    expect(s.p50).toBeCloseTo(1, 1)
    expect(s.p99).toBeCloseTo(1000, -1)
  })
})
