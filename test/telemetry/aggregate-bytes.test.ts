import { describe, expect, it } from 'vitest'
import { isGridgateError } from '../../src/core/errors.js'
import { aggregateFromJSON, aggregateRecord, createAggregate, mergeAggregates, type Aggregate } from '../../src/telemetry/aggregate.js'
import { aggregateBytes, aggregateFromBytes, isAggregateBytes } from '../../src/telemetry/aggregate-bytes.js'

// The bytes LevelDB stores for a rollup bucket: every AggregateJSON comes back exactly, and
// anything that is not such a value is refused with INTERNAL instead of read as numbers.

function aggOf (readings: ReadonlyArray<readonly [number, number]>, percentiles = true): Aggregate {
  const a = createAggregate({ percentiles })
  for (const [t, v] of readings) a.add(t, v)
  return a
}

describe('aggregate bytes (the stored form of a rollup bucket)', () => {
  const cases: Array<[string, Aggregate]> = [
    ['empty: nulls for min, max, first and last', createAggregate()],
    ['empty, without a sketch', createAggregate({ percentiles: false })],
    ['one reading', aggOf([[1_767_225_600_100, 21.5]])],
    ['a second of readings: positive, negative and zero values', aggOf([[1000, 20.5], [1200, -3], [1400, 0], [1600, 20.9], [1800, -0.25]])],
    ['without a sketch', aggOf([[5, 1.5], [6, 2.5]], false)],
    ['extreme magnitudes', aggOf([[1, 1e150], [2, -1e-300], [3, Number.MIN_VALUE], [4, -Number.MAX_SAFE_INTEGER]])],
    ['merged from two aggregates', mergeAggregates(aggOf([[1, 1], [2, 2]]), aggOf([[3, 100], [4, -7]]))],
    ['many readings of one value', aggOf(Array.from({ length: 5000 }, (_, i) => [i, 42] as const))]
  ]

  it.each(cases)('gives back the same AggregateJSON: %s', (_name, agg) => {
    const json = agg.toJSON()
    const bytes = aggregateBytes(json)
    expect(isAggregateBytes(bytes)).toBe(true)
    expect(aggregateFromBytes(bytes)).toEqual(json)
    expect(aggregateFromJSON(aggregateFromBytes(bytes)).toJSON()).toEqual(json)
  })

  it.each([
    ['a JSON record', Buffer.from(JSON.stringify(aggregateRecord(aggOf([[1, 2]]).toJSON())))],
    ['a JSON object', Buffer.from(JSON.stringify(aggOf([[1, 2]]).toJSON()))],
    ['nothing', Buffer.alloc(0)]
  ])('does not take %s for bytes', (_name, b) => {
    expect(isAggregateBytes(b)).toBe(false)
  })

  const goodJson = aggOf([[1000, 20.5], [1200, -3]]).toJSON()
  const good = aggregateBytes(goodJson)
  // The negative store is last: its length, then its numbers, each a float64.
  const negativeLengthAt = good.length - 8 * (goodJson.sketch?.n.length ?? 0) - 8
  const withNumberAt = (at: number, v: number): Buffer => { const b = Buffer.from(good); b.writeDoubleLE(v, at); return b }
  it.each([
    ['cut short by a number', good.subarray(0, good.length - 8)],
    ['cut short within a number', good.subarray(0, good.length - 3)],
    ['cut short in the fixed fields', good.subarray(0, 20)],
    ['with a number after the end', Buffer.concat([good, Buffer.alloc(8)])],
    ['with a byte after the end', Buffer.concat([good, Buffer.from([0])])],
    ['of another version', Buffer.concat([Buffer.from([2]), good.subarray(1)])],
    ['whose sketch store claims more numbers than it holds', withNumberAt(negativeLengthAt, 1_000_000)],
    ['whose sketch store length is not a count', withNumberAt(negativeLengthAt, 0.5)]
  ])('refuses a value %s with INTERNAL', (_name, b) => {
    let err: unknown
    try { aggregateFromBytes(b) } catch (e) { err = e }
    expect(isGridgateError(err) && err.code === 'INTERNAL').toBe(true)
  })
})
