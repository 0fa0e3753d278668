import { describe, expect, it } from 'vitest'
import { MAX_BINS, QuantileSketch, RELATIVE_ACCURACY } from '../../src/telemetry/sketch.js'
import { exactQuantile, normal, seeded } from '../helpers/seeded.js'

const QS = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]
// The guarantee is α exactly; allow for the rounding of log/pow at bucket edges.
const TOLERANCE = RELATIVE_ACCURACY * (1 + 1e-9)

function sketchOf (values: readonly number[]): QuantileSketch {
  const s = new QuantileSketch()
  for (const v of values) s.add(v)
  return s
}

function quantiles (s: QuantileSketch): Array<number | null> {
  return QS.map((q) => s.quantile(q))
}

const DATASETS: Array<{ name: string, make: (rand: () => number) => number[] }> = [
  { name: 'uniform 0..100', make: (r) => Array.from({ length: 10_000 }, () => r() * 100) },
  { name: 'temperatures around 21 °C', make: (r) => { const n = normal(r); return Array.from({ length: 10_000 }, () => 21 + 3 * n()) } },
  { name: 'long-tailed latencies (log-normal)', make: (r) => { const n = normal(r); return Array.from({ length: 10_000 }, () => Math.exp(3 + 1.5 * n())) } },
  { name: 'mixed signs around zero', make: (r) => { const n = normal(r); return Array.from({ length: 10_000 }, () => 40 * n()) } },
  { name: 'all negative', make: (r) => Array.from({ length: 10_000 }, () => -1 - r() * 999) },
  { name: 'integers with many exact zeros', make: (r) => Array.from({ length: 10_000 }, () => Math.floor(r() * 7) - 3) }
]

describe('quantile sketch', () => {
  it.each(DATASETS)('estimates every quantile of 10k values within the stated relative error: $name', ({ make }) => {
    const values = make(seeded(42))
    const s = sketchOf(values)
    const sorted = [...values].sort((a, b) => a - b)
    for (const q of QS) {
      const exact = exactQuantile(sorted, q)
      const est = s.quantile(q) as number
      expect(Math.abs(est - exact), `q=${q}: ${est} vs exact ${exact}`).toBeLessThanOrEqual(TOLERANCE * Math.abs(exact))
    }
  })

  it.each(DATASETS)('merging sketches of parts equals one sketch of everything: $name', ({ make }) => {
    const values = make(seeded(7))
    const parts = [0, 1, 2, 3].map((k) => sketchOf(values.filter((_, i) => i % 4 === k)))
    const merged = new QuantileSketch()
    for (const p of parts) merged.merge(p)
    expect(merged.count).toBe(values.length)
    expect(quantiles(merged)).toEqual(quantiles(sketchOf(values)))
  })

  it('keeps the negative values when merging two non-empty sketches (sketches-js#22)', () => {
    const a = sketchOf([-5, -4, 1, 2])
    a.merge(sketchOf([-3, -2, 3, 4]))
    expect(a.quantile(0.5)).toBeCloseTo(-2, 1)
    expect(quantiles(a)).toEqual(quantiles(sketchOf([-5, -4, 1, 2, -3, -2, 3, 4])))
  })

  it('removing values gives the sketch of the values left', () => {
    const values = DATASETS[3]?.make(seeded(3)) ?? []
    const s = sketchOf(values)
    for (let i = 0; i < values.length; i += 2) s.remove(values[i] as number)
    expect(quantiles(s)).toEqual(quantiles(sketchOf(values.filter((_, i) => i % 2 === 1))))
  })

  it('is empty again after every value is removed, and starts afresh', () => {
    const s = sketchOf([1e6, -3, 0])
    for (const v of [1e6, -3, 0]) s.remove(v)
    expect(s.count).toBe(0)
    expect(s.quantile(0.5)).toBeNull()
    s.add(0.001)
    expect(s.quantile(1)).toBeCloseTo(0.001, 4)
  })

  it('can take back every value even after its lowest buckets collapsed', () => {
    const values = Array.from({ length: 3000 }, (_, i) => Math.pow(10, -30 + (i % 61)))
    const s = sketchOf(values)
    for (const v of values) s.remove(v)
    expect(s.count).toBe(0)
    expect(s.toJSON()).toEqual({ z: 0, p: [], n: [] })
  })

  it('round-trips through JSON with identical quantiles', () => {
    const values = DATASETS[3]?.make(seeded(11)) ?? []
    const s = sketchOf(values)
    const back = QuantileSketch.fromJSON(JSON.parse(JSON.stringify(s.toJSON())))
    expect(back.count).toBe(s.count)
    expect(quantiles(back)).toEqual(quantiles(s))
  })

  it('answers null when empty and the value itself when it holds one', () => {
    expect(new QuantileSketch().quantile(0.5)).toBeNull()
    expect(sketchOf([0]).quantile(0.99)).toBe(0)
    expect(Math.abs((sketchOf([123.4]).quantile(0.5) as number) - 123.4)).toBeLessThanOrEqual(TOLERANCE * 123.4)
  })

  // Nearest rank: the smallest value with at least a share q of the values at or below it.
  it.each([
    { values: [21.7, 35.2], q: 0.99, rank: 1 },
    { values: [21.5, 21.7, 35.2], q: 0.99, rank: 2 },
    { values: [21.5, 21.7, 35.2], q: 0.5, rank: 1 },
    { values: [1, 2, 3, 4], q: 0.5, rank: 1 },
    { values: [1, 2, 3, 4], q: 0.51, rank: 2 },
    { values: [1, 2, 3, 4], q: 0, rank: 0 },
    { values: Array.from({ length: 100 }, (_, i) => i + 1), q: 0.07, rank: 6 },
    { values: Array.from({ length: 100 }, (_, i) => i + 1), q: 0.95, rank: 94 },
    { values: Array.from({ length: 20 }, (_, i) => i + 1), q: 0.95, rank: 18 }
  ])('answers q=$q of $values.length values with the value at nearest rank $rank', ({ values, q, rank }) => {
    const exact = values[rank] as number
    expect(Math.abs((sketchOf(values).quantile(q) as number) - exact)).toBeLessThanOrEqual(TOLERANCE * exact)
  })

  it('bounds its buckets when values span more than MAX_BINS buckets, keeping the high quantiles', () => {
    const rand = seeded(5)
    // Magnitudes from 1e-30 to 1e30: ~7000 buckets of 2 %. The top 2048 cover about 17.6
    // decades (1e12.4 to 1e30), so quantiles above ~0.71 keep the guarantee; lower ones collapse.
    const values = Array.from({ length: 10_000 }, () => Math.pow(10, -30 + 60 * rand()))
    const s = sketchOf(values)
    const json = s.toJSON()
    expect(json.p.length).toBeLessThanOrEqual(MAX_BINS + 1)
    const sorted = [...values].sort((a, b) => a - b)
    for (const q of [0.75, 0.9, 0.99, 1]) {
      const exact = exactQuantile(sorted, q)
      expect(Math.abs((s.quantile(q) as number) - exact)).toBeLessThanOrEqual(TOLERANCE * exact)
    }
  })
})
