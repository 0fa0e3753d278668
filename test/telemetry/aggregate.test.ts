import { describe, expect, it } from 'vitest'
import { AGGREGATE_NAMES, RELATIVE_ACCURACY, aggregateFromJSON, aggregateFromRecord, aggregateRecord, assertAggregateNames, createAggregate, mergeAggregates, needsPercentiles, type Aggregate } from '../../src/telemetry/aggregate.js'
import { exactQuantile, normal, seeded } from '../helpers/seeded.js'

function aggOf (readings: ReadonlyArray<readonly [number, number]>): Aggregate {
  const a = createAggregate()
  for (const [t, v] of readings) a.add(t, v)
  return a
}

const EXACT = ['count', 'min', 'max', 'first', 'last', 'p50', 'p95', 'p99'] as const
const ROUNDED = ['sum', 'avg', 'stddev', 'stddevp'] as const

/** Same results: exact where merge is exact, to ~12 significant digits where it rounds. */
function expectSameResults (a: Aggregate, b: Aggregate): void {
  const ra = a.result(AGGREGATE_NAMES)
  const rb = b.result(AGGREGATE_NAMES)
  for (const name of EXACT) expect(ra[name], name).toBe(rb[name])
  for (const name of ROUNDED) {
    const x = ra[name] as number
    const y = rb[name] as number
    expect(Math.abs(x - y), name).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(y)))
  }
}

describe('aggregate', () => {
  it.each<{ name: string, readings: Array<[number, number]>, expected: Record<string, number | null> }>([
    {
      name: 'the basic statistics of a few readings',
      readings: [[1, 2], [2, 4], [3, 4], [4, 4], [5, 5], [6, 5], [7, 7], [8, 9]],
      expected: { count: 8, sum: 40, min: 2, max: 9, avg: 5, first: 2, last: 9, stddevp: 2, stddev: Math.sqrt(32 / 7) }
    },
    {
      name: 'first and last by event time, not by order of arrival',
      readings: [[30, 3], [10, 1], [50, 5], [20, 2], [40, 4]],
      expected: { first: 1, last: 5, min: 1, max: 5, count: 5 }
    },
    {
      name: 'on equal event times, first is the earliest added and last the latest added',
      readings: [[10, 1], [10, 2], [20, 3], [20, 4]],
      expected: { first: 1, last: 4 }
    },
    {
      name: 'a single reading: sample stddev undefined, population stddev 0, percentiles the value',
      readings: [[5, 21.5]],
      expected: { count: 1, sum: 21.5, avg: 21.5, stddev: null, stddevp: 0, p50: 21.5, p95: 21.5, p99: 21.5 }
    },
    {
      name: 'no readings: count 0 and nothing else defined',
      readings: [],
      expected: { count: 0, sum: null, min: null, max: null, avg: null, first: null, last: null, stddev: null, p50: null }
    },
    {
      name: 'negative values and zeros',
      readings: [[1, -10], [2, 0], [3, 10]],
      expected: { sum: 0, avg: 0, min: -10, max: 10, p50: 0, stddevp: Math.sqrt(200 / 3) }
    }
  ])('$name', ({ readings, expected }) => {
    const result = aggOf(readings).result(Object.keys(expected))
    for (const [name, value] of Object.entries(expected)) {
      if (value === null) expect(result[name], name).toBeNull()
      else expect(result[name], name).toBeCloseTo(value, 12)
    }
  })

  it('computes percentiles within the sketch\'s relative error of the exact ones on 10k generated values', () => {
    const rand = seeded(1)
    const n = normal(rand)
    const readings: Array<[number, number]> = Array.from({ length: 10_000 }, (_, i) => [i, Math.exp(2 + n())])
    const result = aggOf(readings).result(['p50', 'p95', 'p99'])
    const sorted = readings.map(([, v]) => v).sort((a, b) => a - b)
    for (const [name, q] of [['p50', 0.5], ['p95', 0.95], ['p99', 0.99]] as const) {
      const exact = exactQuantile(sorted, q)
      expect(Math.abs((result[name] as number) - exact)).toBeLessThanOrEqual(RELATIVE_ACCURACY * (1 + 1e-9) * exact)
    }
  })

  it.each([2, 3, 10, 100])('merging %i parts gives the same results as one aggregate of every reading', (parts) => {
    const rand = seeded(parts)
    const n = normal(rand)
    const readings: Array<[number, number]> = Array.from({ length: 5_000 }, () => [Math.floor(rand() * 1e6), 15 + 10 * n()])
    const pieces = Array.from({ length: parts }, () => createAggregate())
    for (const [t, v] of readings) pieces[Math.floor(rand() * parts)]?.add(t, v)
    const merged = pieces.reduce((acc, p) => mergeAggregates(acc, p), createAggregate())
    expectSameResults(merged, aggOf(readings))
  })

  it.each([
    ['positive values over a wide range', [[1, 0.001], [2, 5], [3, 1e9]], [[4, 20], [5, 21]]],
    ['negative values and zeros', [[1, -3], [2, 0], [3, -1e6]], [[4, -2], [5, 0], [6, 7]]],
    ['nothing after the reset', [[1, 42]], []]
  ] as const)('after reset is as a new aggregate: %s', (_name, before, after) => {
    const reused = aggOf(before)
    reused.reset()
    expect(reused.toJSON()).toEqual(createAggregate().toJSON())
    for (const [t, v] of after) reused.add(t, v)
    expect(reused.toJSON()).toEqual(aggOf(after).toJSON())
    for (const name of AGGREGATE_NAMES) expect(reused.value(name)).toEqual(aggOf(after).value(name))
  })

  it('merge leaves its inputs unchanged', () => {
    const a = aggOf([[1, 1], [2, 2]])
    const b = aggOf([[3, 3]])
    const before = [JSON.stringify(a), JSON.stringify(b)]
    mergeAggregates(a, b)
    expect([JSON.stringify(a), JSON.stringify(b)]).toEqual(before)
  })

  it('merges with an empty aggregate on either side', () => {
    const a = aggOf([[1, 4], [2, 8]])
    expectSameResults(mergeAggregates(createAggregate(), a), a)
    expectSameResults(mergeAggregates(a, createAggregate()), a)
  })

  it('merging keeps first/last ties as if the second aggregate\'s readings were added after the first\'s', () => {
    const merged = mergeAggregates(aggOf([[10, 1], [20, 2]]), aggOf([[10, 3], [20, 4]]))
    expect(merged.result(['first', 'last'])).toEqual({ first: 1, last: 4 })
  })

  it('round-trips through JSON, and a restored aggregate merges like the original', () => {
    const rand = seeded(9)
    const a = aggOf(Array.from({ length: 1000 }, (_, i) => [i, rand() * 50 - 25] as [number, number]))
    const b = aggOf([[2000, 99], [-5, -99]])
    const restored = aggregateFromJSON(JSON.parse(JSON.stringify(a)))
    expectSameResults(restored, a)
    expectSameResults(mergeAggregates(restored, b), mergeAggregates(a, b))
    const empty = aggregateFromJSON(JSON.parse(JSON.stringify(createAggregate())))
    expect(empty.result(['count', 'min', 'p50'])).toEqual({ count: 0, min: null, p50: null })
  })

  it.each([
    ['not an object', 'x'],
    ['a field of the wrong type', { ...createAggregate().toJSON(), count: '3' }],
    ['a malformed sketch', { ...createAggregate().toJSON(), sketch: { z: 0, p: 'x', n: [] } }]
  ])('refuses stored JSON that is %s', (_, json) => {
    expect(() => aggregateFromJSON(json)).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
  })

  it('answers null percentiles when created without a sketch, and merging with one drops them', () => {
    const plain = createAggregate({ percentiles: false })
    plain.add(1, 5)
    expect(plain.result(['p50', 'avg'])).toEqual({ p50: null, avg: 5 })
    expect(plain.toJSON().sketch).toBeUndefined()
    expect(mergeAggregates(plain, aggOf([[2, 6]])).result(['p99', 'count'])).toEqual({ p99: null, count: 2 })
  })

  it('rejects an unknown aggregate name with CONFIG_INVALID', () => {
    expect(() => aggOf([[1, 1]]).result(['median'])).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => { assertAggregateNames(['avg', 'p42']) }).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => { assertAggregateNames(AGGREGATE_NAMES) }).not.toThrow()
  })

  it('knows which names need the sketch', () => {
    expect(needsPercentiles(['avg', 'max'])).toBe(false)
    expect(needsPercentiles(['avg', 'p95'])).toBe(true)
  })

  it('remove takes values back out of count, sum, avg, stddev and percentiles', () => {
    const values = [3, 1, 4, 1, 5, 9, 2, 6]
    const a = aggOf(values.map((v, i) => [i, v]))
    for (const v of values.slice(0, 3)) a.remove(v)
    const rest = aggOf(values.slice(3).map((v, i) => [i, v]))
    const names = ['count', 'sum', 'avg', 'stddev', 'stddevp', 'p50', 'p95'] as const
    const got = a.result(names)
    const want = rest.result(names)
    for (const name of names) expect(got[name], name).toBeCloseTo(want[name] as number, 12)
  })
})

describe('aggregate records (the stored form)', () => {
  const withSketch = aggOf([[1000, 20.5], [1200, -3], [1400, 0], [1600, 20.9]])
  const cases: Array<[string, Aggregate]> = [
    ['with a sketch of positive, negative and zero values', withSketch],
    ['without a sketch', (() => { const a = createAggregate({ percentiles: false }); a.add(5, 1.5); return a })()],
    ['empty (nulls for min, max, first and last)', createAggregate()]
  ]
  it.each(cases)('gives back the same AggregateJSON after a JSON round trip: %s', (_name, agg) => {
    const json = agg.toJSON()
    const stored: unknown = JSON.parse(JSON.stringify(aggregateRecord(json)))
    expect(Array.isArray(stored)).toBe(true)
    expect(aggregateFromRecord(stored)).toEqual(json)
    expect(aggregateFromJSON(aggregateFromRecord(stored)).toJSON()).toEqual(json)
  })

  it('is at most half the bytes of the object form for a second of readings', () => {
    const json = withSketch.toJSON()
    expect(JSON.stringify(aggregateRecord(json)).length).toBeLessThanOrEqual(JSON.stringify(json).length / 2)
  })

  it('reads the object form that releases before 0.11.0 stored, as it is', () => {
    const json = withSketch.toJSON()
    expect(aggregateFromRecord(JSON.parse(JSON.stringify(json)))).toEqual(json)
  })
})
