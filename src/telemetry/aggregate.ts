// A mergeable aggregate over (event time, value) readings: the state a window keeps, a rollup
// stores (as JSON) and coarser resolutions merge. Pure; no I/O.
//
// merge(a, b) gives what one aggregate fed a's values then b's would give: count, min, max,
// first and last exactly; sum, avg and the standard deviations up to floating-point rounding
// (mean and M2 merge with Chan et al.'s parallel formula); percentiles exactly as the sketch
// would (bucket counts add), i.e. within its RELATIVE_ACCURACY of the exact percentile.

import { GridgateError } from '../core/errors.js'
import { QuantileSketch, isSketchJSON, type SketchJSON } from './sketch.js'

export { RELATIVE_ACCURACY } from './sketch.js'

/**
 * `stddev` is the sample standard deviation (n − 1 in the denominator), as Stream Analytics'
 * STDEV; `stddevp` the population one, as STDEVP. pNN are percentiles from the sketch.
 */
export const AGGREGATE_NAMES = ['count', 'sum', 'min', 'max', 'avg', 'first', 'last', 'stddev', 'stddevp', 'p50', 'p95', 'p99'] as const
export type AggregateName = typeof AGGREGATE_NAMES[number]

const NAMES = new Set<string>(AGGREGATE_NAMES)
const PERCENTILE_NAMES = new Set<string>(['p50', 'p95', 'p99'])

export interface AggregateOptions {
  /** Keep a quantile sketch for p50/p95/p99 (default true); without it they come back null. */
  percentiles?: boolean
}

export interface AggregateJSON {
  count: number
  sum: number
  min: number | null
  max: number | null
  mean: number
  m2: number
  firstTime: number | null
  first: number | null
  lastTime: number | null
  last: number | null
  sketch?: SketchJSON
}

export class Aggregate {
  count = 0
  sum = 0
  min = Infinity
  max = -Infinity
  /** Running mean and sum of squared deviations from it (Welford). */
  mean = 0
  m2 = 0
  /** Value of the reading with the earliest event time; on a tie the one added first. */
  firstTime = Infinity
  first = NaN
  /** Value of the reading with the latest event time; on a tie the one added last. */
  lastTime = -Infinity
  last = NaN
  readonly sketch: QuantileSketch | null

  constructor (opts: AggregateOptions = {}) {
    this.sketch = opts.percentiles === false ? null : new QuantileSketch()
  }

  add (time: number, value: number): void {
    const n = ++this.count
    this.sum += value
    if (value < this.min) this.min = value
    if (value > this.max) this.max = value
    const d = value - this.mean
    this.mean += d / n
    this.m2 += d * (value - this.mean)
    if (time < this.firstTime) {
      this.firstTime = time
      this.first = value
    }
    if (time >= this.lastTime) {
      this.lastTime = time
      this.last = value
    }
    this.sketch?.add(value)
  }

  /** Back to empty, as a new aggregate with the same options, keeping the sketch's bins. */
  reset (): void {
    this.count = 0
    this.sum = 0
    this.min = Infinity
    this.max = -Infinity
    this.mean = 0
    this.m2 = 0
    this.firstTime = Infinity
    this.first = NaN
    this.lastTime = -Infinity
    this.last = NaN
    this.sketch?.clear()
  }

  /**
   * Takes one value back out of count, sum, avg, the deviations and the sketch, for sliding
   * windows. min, max, first and last cannot be undone here: the caller owns them.
   */
  remove (value: number): void {
    const n = --this.count
    if (n <= 0) {
      this.count = 0
      this.sum = 0
      this.mean = 0
      this.m2 = 0
    } else {
      this.sum -= value
      const oldMean = this.mean
      this.mean -= (value - oldMean) / n
      // One value left has no deviation; rounding would otherwise leave a visible sqrt(ε).
      this.m2 = n === 1 ? 0 : Math.max(0, this.m2 - (value - oldMean) * (value - this.mean))
    }
    this.sketch?.remove(value)
  }

  /** Adds `other` into this one, as if its readings had been added after this one's. */
  merge (other: Aggregate): this {
    if (other.count === 0) return this
    const n = this.count + other.count
    const d = other.mean - this.mean
    this.mean += d * other.count / n
    this.m2 += other.m2 + d * d * this.count * other.count / n
    this.count = n
    this.sum += other.sum
    if (other.min < this.min) this.min = other.min
    if (other.max > this.max) this.max = other.max
    if (other.firstTime < this.firstTime) {
      this.firstTime = other.firstTime
      this.first = other.first
    }
    if (other.lastTime >= this.lastTime) {
      this.lastTime = other.lastTime
      this.last = other.last
    }
    if (this.sketch !== null && other.sketch !== null) this.sketch.merge(other.sketch)
    return this
  }

  /** One number per name; null where it is undefined (anything but count when empty, stddev of one value). */
  result (names: readonly string[]): Record<string, number | null> {
    const out: Record<string, number | null> = {}
    for (const name of names) out[name] = reader(name)(this)
    return out
  }

  value (name: string): number | null {
    return reader(name)(this)
  }

  toJSON (): AggregateJSON {
    const empty = this.count === 0
    const json: AggregateJSON = {
      count: this.count,
      sum: this.sum,
      min: empty ? null : this.min,
      max: empty ? null : this.max,
      mean: this.mean,
      m2: this.m2,
      firstTime: empty ? null : this.firstTime,
      first: empty ? null : this.first,
      lastTime: empty ? null : this.lastTime,
      last: empty ? null : this.last
    }
    if (this.sketch !== null) json.sketch = this.sketch.toJSON()
    return json
  }
}

type Reader = (a: Aggregate) => number | null

function percentile (q: number): Reader {
  return (a) => {
    const v = a.count === 0 ? null : a.sketch?.quantile(q) ?? null
    // The exact percentile lies in [min, max], so clamping can only bring the estimate closer.
    return v === null ? null : Math.min(a.max, Math.max(a.min, v))
  }
}

const READERS: Readonly<Record<AggregateName, Reader>> = {
  count: (a) => a.count,
  sum: (a) => a.count === 0 ? null : a.sum,
  min: (a) => a.count === 0 ? null : a.min,
  max: (a) => a.count === 0 ? null : a.max,
  avg: (a) => a.count === 0 ? null : a.sum / a.count,
  first: (a) => a.count === 0 ? null : a.first,
  last: (a) => a.count === 0 ? null : a.last,
  stddev: (a) => a.count < 2 ? null : Math.sqrt(a.m2 / (a.count - 1)),
  stddevp: (a) => a.count === 0 ? null : Math.sqrt(a.m2 / a.count),
  p50: percentile(0.5),
  p95: percentile(0.95),
  p99: percentile(0.99)
}

function reader (name: string): Reader {
  if (!isAggregateName(name)) throw unknownAggregate(name)
  return READERS[name]
}

/** Aggregate.result for a fixed list of names, checked once here: for paths that read often. */
export function resultReader (names: readonly string[]): (agg: Aggregate) => Record<string, number | null> {
  const keys = [...names]
  const readers = keys.map(reader)
  return (agg) => {
    const out: Record<string, number | null> = {}
    for (let i = 0; i < keys.length; i++) out[keys[i] as string] = (readers[i] as Reader)(agg)
    return out
  }
}

export function createAggregate (opts: AggregateOptions = {}): Aggregate {
  return new Aggregate(opts)
}

/** A new aggregate holding both; neither input changes. */
export function mergeAggregates (a: Aggregate, b: Aggregate): Aggregate {
  return createAggregate({ percentiles: a.sketch !== null && b.sketch !== null }).merge(a).merge(b)
}

/** Rebuilds an aggregate from toJSON() output (e.g. a stored sub-aggregate). */
export function aggregateFromJSON (json: unknown, opts: { percentiles?: boolean } = {}): Aggregate {
  if (!isAggregateJSON(json)) throw new GridgateError('INTERNAL', 'A stored aggregate is malformed')
  // A reader that needs no percentiles skips rebuilding the sketch (most of the cost).
  const agg = new Aggregate({ percentiles: json.sketch !== undefined && opts.percentiles !== false })
  if (json.count === 0) return agg
  agg.count = json.count
  agg.sum = json.sum
  agg.min = json.min ?? Infinity
  agg.max = json.max ?? -Infinity
  agg.mean = json.mean
  agg.m2 = json.m2
  agg.firstTime = json.firstTime ?? Infinity
  agg.first = json.first ?? NaN
  agg.lastTime = json.lastTime ?? -Infinity
  agg.last = json.last ?? NaN
  if (json.sketch !== undefined && agg.sketch !== null) agg.sketch.merge(QuantileSketch.fromJSON(json.sketch))
  return agg
}

/**
 * An AggregateJSON as stores keep it: a positional array, [count, sum, min, max, mean, m2,
 * firstTime, first, lastTime, last] and, with a sketch, [zeros, positive, negative] after
 * them. Half the bytes of the object (104 against 203 for a second of 5 readings) and a
 * third less to stringify; a snapshot writes one per (device, metric) and second.
 */
export type AggregateRecord = [count: number, sum: number, min: number | null, max: number | null, mean: number, m2: number,
  firstTime: number | null, first: number | null, lastTime: number | null, last: number | null,
  zeros?: number, positive?: number[], negative?: number[]]

export function aggregateRecord (json: AggregateJSON): AggregateRecord {
  const r: AggregateRecord = [json.count, json.sum, json.min, json.max, json.mean, json.m2, json.firstTime, json.first, json.lastTime, json.last]
  if (json.sketch !== undefined) r.push(json.sketch.z, json.sketch.p, json.sketch.n)
  return r
}

/**
 * The AggregateJSON of a stored value: a record, or an object as releases before 0.11.0 wrote
 * (returned as it is). aggregateFromJSON checks what comes out.
 */
export function aggregateFromRecord (stored: unknown): AggregateJSON {
  if (!Array.isArray(stored)) return stored as AggregateJSON
  const r = stored as AggregateRecord
  const json: AggregateJSON = { count: r[0], sum: r[1], min: r[2], max: r[3], mean: r[4], m2: r[5], firstTime: r[6], first: r[7], lastTime: r[8], last: r[9] }
  if (r.length > 10) json.sketch = { z: r[10] as number, p: r[11] as number[], n: r[12] as number[] }
  return json
}

export function isAggregateName (name: string): name is AggregateName {
  return NAMES.has(name)
}

/** For config validation: throws CONFIG_INVALID naming the first unknown aggregate. */
export function assertAggregateNames (names: readonly string[]): asserts names is readonly AggregateName[] {
  for (const name of names) if (!isAggregateName(name)) throw unknownAggregate(name)
}

/** Whether any of `names` needs the quantile sketch. */
export function needsPercentiles (names: readonly string[]): boolean {
  return names.some((n) => PERCENTILE_NAMES.has(n))
}

function unknownAggregate (name: string): GridgateError {
  return new GridgateError('CONFIG_INVALID', `Unknown aggregate "${name}"`, { details: { aggregate: name, known: AGGREGATE_NAMES } })
}

function isAggregateJSON (x: unknown): x is AggregateJSON {
  if (typeof x !== 'object' || x === null) return false
  const o = x as Record<string, unknown>
  const num = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v)
  const numOrNull = (v: unknown): boolean => v === null || num(v)
  return num(o.count) && num(o.sum) && num(o.mean) && num(o.m2) &&
    numOrNull(o.min) && numOrNull(o.max) && numOrNull(o.firstTime) && numOrNull(o.first) &&
    numOrNull(o.lastTime) && numOrNull(o.last) && (o.sketch === undefined || isSketchJSON(o.sketch))
}
