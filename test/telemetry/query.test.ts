import { describe, expect, it } from 'vitest'
import { GridgateError } from '../../src/core/errors.js'
import { createAggregate } from '../../src/telemetry/aggregate.js'
import { bucketRange, computeSeries, parseTelemetryQuery, ROLLUP_MS, type HoppingQuery, type QueryBucket, type QueryLimits, type SessionQuery, type SlidingQuery, type TelemetryQuery, type TumblingQuery } from '../../src/telemetry/query.js'
import { createSessionWindow } from '../../src/telemetry/session-window.js'
import { normal, seeded } from '../helpers/seeded.js'

const S = 1000
const MIN = 60 * S
const HOUR = 60 * MIN
const DAY = 24 * HOUR
/** Midnight UTC: on the grid of every duration that divides a day (the brute force computes the others' grids too). */
const T0 = Date.UTC(2021, 9, 26)
const at = (s: number): number => T0 + s * S
const LIMITS: QueryLimits = { maxBuckets: 2_678_400, maxWindows: 100_000 }

type Params = Record<string, string | undefined>
type Reading = [time: number, value: number]

function parse (params: Params, limits: QueryLimits = LIMITS, now = at(3600)): TelemetryQuery {
  return parseTelemetryQuery(params, now, limits)
}

function errorOf (fn: () => unknown): GridgateError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(GridgateError)
    return err as GridgateError
  }
  throw new Error('expected an error')
}

/** Per-second rollups of time-ordered readings, as the rollup store builds them. */
function rollup (readings: readonly Reading[]): QueryBucket[] {
  const out: QueryBucket[] = []
  for (const [time, value] of readings) {
    const end = Math.ceil(time / ROLLUP_MS) * ROLLUP_MS
    let last = out[out.length - 1]
    if (last === undefined || last.end !== end) {
      last = { end, agg: createAggregate() }
      out.push(last)
    }
    last.agg.add(time, value)
  }
  return out
}

/** What the store's load(fromEnd, toEnd) would return. */
function load (q: TelemetryQuery, buckets: readonly QueryBucket[]): QueryBucket[] {
  const { fromEnd, toEnd } = bucketRange(q)
  return buckets.filter((b) => b.end >= fromEnd && b.end <= toEnd)
}

const series = (q: TelemetryQuery, readings: readonly Reading[]): Array<Record<string, number | null>> => computeSeries(q, load(q, rollup(readings)))

/** Windows as [start, end, count] in seconds since T0. */
const rows = (out: ReadonlyArray<Record<string, number | null>>): number[][] =>
  out.map((w) => [((w.start as number) - T0) / S, ((w.end as number) - T0) / S, w.count as number])

const ALL = 'count,sum,min,max,avg,first,last,stddev,stddevp,p50,p95,p99'

/** The aggregates of time-ordered readings computed directly (percentiles from one sketch fed them all). */
function brute (readings: readonly Reading[]): Record<string, number | null> {
  const n = readings.length
  let sum = 0
  let min = Infinity
  let max = -Infinity
  for (const [, v] of readings) {
    sum += v
    min = Math.min(min, v)
    max = Math.max(max, v)
  }
  const mean = sum / n
  let ss = 0
  for (const [, v] of readings) ss += (v - mean) ** 2
  const sketch = createAggregate()
  for (const [t, v] of readings) sketch.add(t, v)
  return {
    count: n,
    sum,
    min,
    max,
    avg: mean,
    first: (readings[0] as Reading)[1],
    last: (readings[n - 1] as Reading)[1],
    stddev: n < 2 ? null : Math.sqrt(ss / (n - 1)),
    stddevp: Math.sqrt(ss / n),
    p50: sketch.value('p50'),
    p95: sketch.value('p95'),
    p99: sketch.value('p99')
  }
}

const ROUNDED = new Set(['sum', 'avg', 'stddev', 'stddevp'])

function expectSeries (got: ReadonlyArray<Record<string, number | null>>, want: ReadonlyArray<Record<string, number | null>>): void {
  expect(got.map((w) => [w.start, w.end, w.count])).toEqual(want.map((w) => [w.start, w.end, w.count]))
  got.forEach((g, i) => {
    const w = want[i] as Record<string, number | null>
    expect(Object.keys(g).sort()).toEqual(Object.keys(w).sort())
    for (const [k, v] of Object.entries(w)) {
      const gv = g[k] as number | null
      if (ROUNDED.has(k) && v !== null && gv !== null) expect(Math.abs(gv - v)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(v)))
      else expect([k, gv]).toEqual([k, v])
    }
  })
}

/** First index with time > t in time-ordered readings. */
function after (readings: readonly Reading[], t: number, key = (r: Reading): number => r[0]): number {
  let lo = 0
  let hi = readings.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (key(readings[mid] as Reading) <= t) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Time-ordered readings over [start, end): mostly < 1.5 s apart, some on whole seconds, some ties, some long gaps. */
function generate (seed: number, start: number, end: number): Reading[] {
  const rand = seeded(seed)
  const gauss = normal(rand)
  const out: Reading[] = []
  let t = start
  for (;;) {
    const r = rand()
    if (r < 0.01) t += Math.floor(rand() * 5 * MIN)
    else if (r < 0.05) t += 0
    else t += 1 + Math.floor(rand() * 1500)
    if (rand() < 0.1) t = Math.ceil(t / S) * S
    if (t >= end) return out
    out.push([t, Math.round((20 + 5 * gauss()) * 100) / 100])
  }
}

const READINGS = generate(7, at(-2 * 3600), at(2 * 3600))
const BUCKETS = rollup(READINGS)

describe('parseTelemetryQuery', () => {
  it('defaults to tumbling 60 s windows over the last hour with count, min, max, avg', () => {
    expect(parse({})).toEqual({ window: 'tumbling', from: at(0), to: at(3600), size: MIN, offset: 0, aggs: ['count', 'min', 'max', 'avg'] })
  })

  it.each<[string, Params, Partial<TelemetryQuery>]>([
    ['RFC 3339 from and to', { from: '2021-10-26T00:00:00Z', to: '2021-10-26T02:00:00.500+01:00' }, { from: T0, to: T0 + HOUR + 500 }],
    ['epoch ms from and to', { from: String(T0), to: String(T0 + 5000) }, { from: T0, to: T0 + 5000 }],
    ['from alone: to is now', { from: String(at(10)) }, { from: at(10), to: at(3600) }],
    ['to alone: from is an hour before', { to: String(at(100)) }, { from: at(100) - HOUR, to: at(100) }],
    ['bare seconds', { size: '90' }, { size: 90 * S }],
    ['seconds', { size: '90s' }, { size: 90 * S }],
    ['minutes', { size: '5m' }, { size: 5 * MIN }],
    ['hours', { size: '1h', offset: '30m' }, { size: HOUR, offset: 30 * MIN }],
    ['days', { size: '1d', offset: '0' }, { size: DAY, offset: 0 }],
    ['hopping', { window: 'hopping', size: '1h', hop: '15m', offset: '1m' }, { window: 'hopping', size: HOUR, hop: 15 * MIN, offset: MIN }],
    ['hopping with hop = size', { window: 'hopping', size: '10', hop: '10s' }, { window: 'hopping', size: 10 * S, hop: 10 * S, offset: 0 }],
    ['sliding', { window: 'sliding', size: '30s' }, { window: 'sliding', size: 30 * S }],
    ['session without maxDuration', { window: 'session', gap: '5s' }, { window: 'session', gap: 5 * S, maxDuration: Infinity }],
    ['session with maxDuration', { window: 'session', gap: '1', maxDuration: '10m' }, { window: 'session', gap: S, maxDuration: 10 * MIN }],
    ['aggregates: count first, duplicates removed', { agg: 'max,min,max' }, { aggs: ['count', 'max', 'min'] }],
    ['aggregates: count once, spaces trimmed', { agg: 'p95 , count,avg' }, { aggs: ['count', 'p95', 'avg'] }],
    ['every aggregate', { agg: ALL }, { aggs: ALL.split(',') as TelemetryQuery['aggs'] }],
    ['an undefined parameter is absent', { size: undefined, hop: undefined }, { window: 'tumbling', size: MIN }]
  ])('%s', (_, params, expected) => {
    expect(parse(params)).toMatchObject(expected)
  })

  it.each<[string, Params, string]>([
    ['an unknown parameter', { limit: '10' }, 'limit'],
    ['an unknown window', { window: 'weekly' }, 'window'],
    ['from not a time', { from: 'yesterday' }, 'from'],
    ['from a date without a time', { from: '2021-10-26' }, 'from'],
    ['from a fractional epoch', { from: '1635206400000.5' }, 'from'],
    ['to an impossible date', { to: '2021-02-30T00:00:00Z' }, 'to'],
    ['to a negative epoch', { to: '-5' }, 'to'],
    ['from after to', { from: String(at(10)), to: String(at(5)) }, 'from'],
    ['from equal to to', { from: String(at(10)), to: String(at(10)) }, 'from'],
    ['from after now with to defaulted', { from: String(at(7200)) }, 'from'],
    ['size fractional (1.5s)', { size: '1.5s' }, 'size'],
    ['size in milliseconds', { size: '1500ms' }, 'size'],
    ['size with an unknown unit', { size: '2w' }, 'size'],
    ['size negative', { size: '-5' }, 'size'],
    ['size zero', { size: '0s' }, 'size'],
    ['size empty', { size: '' }, 'size'],
    ['size too large', { size: '9999999999999999d' }, 'size'],
    ['tumbling offset equal to size', { size: '10s', offset: '10' }, 'offset'],
    ['tumbling offset malformed', { offset: '1.5' }, 'offset'],
    ['hopping without hop', { window: 'hopping', size: '1m' }, 'hop'],
    ['hopping without size', { window: 'hopping', hop: '1m' }, 'size'],
    ['hopping with hop > size', { window: 'hopping', size: '1m', hop: '61s' }, 'hop'],
    ['hopping offset equal to hop', { window: 'hopping', size: '1m', hop: '15s', offset: '15s' }, 'offset'],
    ['sliding without size', { window: 'sliding' }, 'size'],
    ['session without gap', { window: 'session' }, 'gap'],
    ['session gap zero', { window: 'session', gap: '0' }, 'gap'],
    ['session gap below a second', { window: 'session', gap: '0.5s' }, 'gap'],
    ['session maxDuration zero', { window: 'session', gap: '5', maxDuration: '0m' }, 'maxDuration'],
    ['session maxDuration fractional', { window: 'session', gap: '5', maxDuration: '2.5s' }, 'maxDuration'],
    ['hop with tumbling', { hop: '10s' }, 'hop'],
    ['gap with tumbling', { gap: '10s' }, 'gap'],
    ['offset with sliding', { window: 'sliding', size: '10s', offset: '1s' }, 'offset'],
    ['size with session', { window: 'session', gap: '10s', size: '10s' }, 'size'],
    ['maxDuration with hopping', { window: 'hopping', size: '1m', hop: '1m', maxDuration: '1m' }, 'maxDuration'],
    ['an unknown aggregate', { agg: 'count,median' }, 'agg'],
    ['an empty aggregate list', { agg: '' }, 'agg'],
    ['an empty aggregate name', { agg: 'min,,max' }, 'agg']
  ])('refuses %s with QUERY_PARAM_INVALID naming the parameter', (_, params, param) => {
    const err = errorOf(() => parse(params))
    expect(err.code).toBe('QUERY_PARAM_INVALID')
    expect(err.status).toBe(400)
    expect(err.details).toEqual({ param })
    expect(err.message.startsWith(`${param}: `)).toBe(true)
  })

  it.each<[string, Params, QueryLimits, Record<string, number>]>([
    ['a day of buckets over a limit of an hour', { from: String(at(0)), to: String(at(86_400)) }, { maxBuckets: 3600, maxWindows: 10_000 }, { buckets: 86_400, maxBuckets: 3600 }],
    ['hopping windows reaching back before from', { window: 'hopping', size: '1h', hop: '1m' }, { maxBuckets: 3600, maxWindows: 10_000 }, { buckets: 3600 + 3540, maxBuckets: 3600 }],
    ['sliding windows reaching back before from', { window: 'sliding', size: '1s' }, { maxBuckets: 3600, maxWindows: 10_000 }, { buckets: 3601, maxBuckets: 3600 }],
    ['tumbling windows over the window limit', { size: '1s' }, { maxBuckets: 3600, maxWindows: 1000 }, { windows: 3600, maxWindows: 1000 }],
    ['sliding outputs bounded by the seconds in range', { window: 'sliding', size: '1m', from: String(at(0)), to: String(at(1001)) }, { maxBuckets: 10_000, maxWindows: 1000 }, { windows: 1001, maxWindows: 1000 }],
    ['sessions bounded by the gap', { window: 'session', gap: '3', from: String(at(0)), to: String(at(3003)) }, { maxBuckets: 10_000, maxWindows: 1000 }, { windows: 1001, maxWindows: 1000 }],
    ['sessions bounded by max-duration check points', { window: 'session', gap: '1h', maxDuration: '3s', from: String(at(0)), to: String(at(2997)) }, { maxBuckets: 10_000, maxWindows: 1000 }, { windows: 1 + 999 + 1, maxWindows: 1000 }]
  ])('refuses %s with QUERY_TOO_LARGE', (_, params, limits, details) => {
    const err = errorOf(() => parse(params, limits))
    expect(err.code).toBe('QUERY_TOO_LARGE')
    expect(err.status).toBe(400)
    expect(err.details).toEqual(details)
    expect(err.message).toMatch(details.buckets !== undefined ? /maxQueryBuckets.*narrow from\/to/ : /maxQueryWindows.*narrow from\/to/)
  })

  it.each<[string, Params]>([
    ['the default hour of 60 s windows', {}],
    ['an unaligned hour', { from: String(at(0) + 500), to: String(at(3600) + 500) }],
    ['sessions with a gap of 4 s (at most 900 sessions)', { window: 'session', gap: '4s' }],
    ['hopping windows that end within the limit', { window: 'hopping', size: '30m', hop: '1m', from: String(at(1800)) }]
  ])('accepts a query at the limits: %s', (_, params) => {
    expect(() => parse(params, { maxBuckets: 3600, maxWindows: 900 })).not.toThrow()
  })
})

describe('bucketRange', () => {
  it.each<[string, Params, [number, number]]>([
    ['tumbling, aligned', { size: '10s', from: String(at(0)), to: String(at(30)) }, [1, 30]],
    ['tumbling, unaligned range: windows ending in it, whole', { size: '10s', from: String(at(5)), to: String(at(35)) }, [1, 30]],
    ['tumbling with an offset', { size: '10s', offset: '3s', from: String(at(0)), to: String(at(30)) }, [-6, 23]],
    ['hopping: back to the first window\'s start', { window: 'hopping', size: '60s', hop: '15s', from: String(at(0)), to: String(at(60)) }, [-44, 60]],
    ['sliding: size before the first point, its exit included', { window: 'sliding', size: '10s', from: String(at(0)), to: String(at(30)) }, [-9, 30]],
    ['sliding, unaligned', { window: 'sliding', size: '10s', from: String(at(0) + 500), to: String(at(30) + 500) }, [-9, 30]],
    ['session: the buckets ending in the range only', { window: 'session', gap: '5s', from: String(at(0) + 500), to: String(at(30) + 500) }, [1, 30]],
    ['no window ends in the range: nothing to load', { size: '1h', from: String(at(1)), to: String(at(3599)) }, [1, 0]]
  ])('%s', (_, params, [fromEnd, toEnd]) => {
    expect(bucketRange(parse(params))).toEqual({ fromEnd: at(fromEnd), toEnd: at(toEnd) })
  })
})

describe('computeSeries: known answers', () => {
  const ramp: Reading[] = Array.from({ length: 30 }, (_, i) => [at(i + 1), i + 1])

  it('tumbling: three 10 s windows of a one-per-second ramp', () => {
    const q = parse({ size: '10s', from: String(at(0)), to: String(at(30)), agg: 'avg,max,first,last' })
    expect(series(q, ramp)).toEqual([
      { start: at(0), end: at(10), count: 10, avg: 5.5, max: 10, first: 1, last: 10 },
      { start: at(10), end: at(20), count: 10, avg: 15.5, max: 20, first: 11, last: 20 },
      { start: at(20), end: at(30), count: 10, avg: 25.5, max: 30, first: 21, last: 30 }
    ])
  })

  it('a reading exactly on a window end belongs to the window ending there, 1 ms later to the next', () => {
    const readings: Reading[] = [[at(10), 1], [at(10) + 1, 2]]
    const q = parse({ size: '10s', from: String(at(0)), to: String(at(30)), agg: 'sum' })
    expect(series(q, readings)).toEqual([{ start: at(0), end: at(10), count: 1, sum: 1 }, { start: at(10), end: at(20), count: 1, sum: 2 }])
    const hop = parse({ window: 'hopping', size: '10s', hop: '5s', from: String(at(0)), to: String(at(30)), agg: 'sum' })
    expect(rows(series(hop, readings))).toEqual([[0, 10, 1], [5, 15, 2], [10, 20, 1]])
  })

  it('reports only the windows ending in (from, to], each over all its data', () => {
    // from = 12 s: the window (10, 20] ends in range and includes the readings at 11 and 12.
    const q = parse({ size: '10s', from: String(at(12)), to: String(at(25)) })
    expect(rows(series(q, ramp))).toEqual([[10, 20, 10]])
    // to = 30 s exactly: the window ending at 30 is in; from = 10 s: the one ending at 10 is out.
    expect(rows(series(parse({ size: '10s', from: String(at(10)), to: String(at(30)) }), ramp))).toEqual([[10, 20, 10], [20, 30, 10]])
  })

  it('an empty range and a range without readings give no windows', () => {
    for (const params of [{ size: '10s' }, { window: 'hopping', size: '10s', hop: '5s' }, { window: 'sliding', size: '10s' }, { window: 'session', gap: '5s' }]) {
      const q = parse({ ...params, from: String(at(100)), to: String(at(200)) })
      expect(computeSeries(q, [])).toEqual([])
      expect(series(q, ramp)).toEqual([])
    }
    const none = parse({ size: '1h', from: String(at(1)), to: String(at(3599)) })
    expect(series(none, ramp)).toEqual([])
  })

  it('skips windows without readings in a range with gaps', () => {
    const readings: Reading[] = [[at(1), 1], [at(2), 2], [at(45), 3], [at(101), 4]]
    expect(rows(series(parse({ size: '10s', from: String(at(0)), to: String(at(120)) }), readings))).toEqual([[0, 10, 2], [40, 50, 1], [100, 110, 1]])
    expect(rows(series(parse({ window: 'hopping', size: '20s', hop: '10s', from: String(at(0)), to: String(at(120)) }), readings)))
      .toEqual([[-10, 10, 2], [0, 20, 2], [30, 50, 1], [40, 60, 1], [90, 110, 1], [100, 120, 1]])
    expect(rows(series(parse({ window: 'sliding', size: '5s', from: String(at(0)), to: String(at(120)) }), readings)))
      .toEqual([[-4, 1, 1], [-3, 2, 2], [1, 6, 1], [40, 45, 1], [96, 101, 1]])
    expect(rows(series(parse({ window: 'session', gap: '10s', from: String(at(0)), to: String(at(120)) }), readings)))
      .toEqual([[1, 12, 2], [45, 55, 1], [101, 111, 1]])
  })

  it('sliding: the docs\' size 5 with events at 34, 38, 42 outputs at 34, 38, 39, 42 and 43, not 47', () => {
    const q = parse({ window: 'sliding', size: '5s', from: String(at(0)), to: String(at(60)), agg: 'sum' })
    expect(series(q, [[at(34), 1], [at(38), 2], [at(42), 3]])).toEqual([
      { start: at(29), end: at(34), count: 1, sum: 1 },
      { start: at(33), end: at(38), count: 2, sum: 3 },
      { start: at(34), end: at(39), count: 1, sum: 2 },
      { start: at(37), end: at(42), count: 2, sum: 5 },
      { start: at(38), end: at(43), count: 1, sum: 3 }
    ])
  })

  it('sliding: readings count at their bucket end, and an exit exactly at the range start is an output', () => {
    // 0.2 s and 0.7 s both land in the bucket ending at 1 s; the one at 0 s leaves at 5 s.
    const readings: Reading[] = [[at(0), 1], [at(0) + 200, 2], [at(0) + 700, 3]]
    expect(rows(series(parse({ window: 'sliding', size: '5s', from: String(at(4) + 500), to: String(at(20)) }), readings))).toEqual([[0, 5, 2]])
    expect(rows(series(parse({ window: 'sliding', size: '5s', from: String(at(-1)), to: String(at(20)) }), readings))).toEqual([[-5, 0, 1], [-4, 1, 3], [0, 5, 2]])
  })

  it('session: the docs\' SessionWindow(second, 5, 10) ends at :09, :24, :31, :39 with counts 2, 4, 2, 1', () => {
    const readings: Reading[] = [1, 4, 13, 15, 17, 19, 25, 26, 34].map((s) => [at(s), s])
    const q = parse({ window: 'session', gap: '5s', maxDuration: '10s', from: String(at(0)), to: String(at(60)), agg: 'first,last' })
    expect(series(q, readings)).toEqual([
      { start: at(1), end: at(9), count: 2, first: 1, last: 4 },
      { start: at(13), end: at(24), count: 4, first: 13, last: 19 },
      { start: at(25), end: at(31), count: 2, first: 25, last: 26 },
      { start: at(34), end: at(39), count: 1, first: 34, last: 34 }
    ])
  })

  it('session: cut at the range start, split at max-duration check points that fall on bucket bounds', () => {
    const readings: Reading[] = [-3, -1, 1, 2.5, 3].map((s) => [at(s), s])
    expect(rows(series(parse({ window: 'session', gap: '5s', from: String(at(0)), to: String(at(60)) }), readings))).toEqual([[1, 8, 3]])
    // Check points at multiples of 2 s: the session from 1 s closes at 4 s (the first check
    // point at least 2 s after its start), the one continued at 4 s at 6 s.
    const cont: Reading[] = [1, 1.5, 2, 2.5, 3, 3.8, 4.5, 5.2].map((s) => [at(s), s])
    expect(rows(series(parse({ window: 'session', gap: '1s', maxDuration: '2s', from: String(at(0)), to: String(at(60)) }), cont)))
      .toEqual([[1, 4, 6], [4, 6, 2]])
  })

  it('session: a gap of exactly the timeout joins, a millisecond more splits', () => {
    const readings: Reading[] = [[at(1) + 100, 1], [at(2) + 100, 2], [at(3) + 101, 3]]
    expect(series(parse({ window: 'session', gap: '1s', from: String(at(0)), to: String(at(60)) }), readings).map((w) => [(w.start as number) - T0, (w.end as number) - T0, w.count]))
      .toEqual([[1100, 3100, 2], [3101, 4101, 1]])
  })

  it('does not change the buckets it is given', () => {
    const buckets = rollup(READINGS)
    const before = JSON.stringify(buckets.map((b) => b.agg.toJSON()))
    for (const params of [{ window: 'hopping', size: '10m', hop: '1m' }, { window: 'sliding', size: '30s' }, { window: 'session', gap: '5s' }, { size: '1m' }]) {
      const q = parse({ ...params, from: String(at(-3600)), to: String(at(3600)), agg: ALL })
      computeSeries(q, load(q, buckets))
    }
    expect(JSON.stringify(buckets.map((b) => b.agg.toJSON()))).toBe(before)
  })
})

/** Tumbling and hopping windows ending in (from, to], straight from the readings. */
function bruteFixed (q: TumblingQuery | HoppingQuery, readings: readonly Reading[]): Array<Record<string, number | null>> {
  const step = q.window === 'hopping' ? q.hop : q.size
  const want: Array<Record<string, number | null>> = []
  for (let end = Math.floor((q.from - q.offset) / step) * step + q.offset + step; end <= q.to; end += step) {
    const slice = readings.slice(after(readings, end - q.size), after(readings, end))
    if (slice.length > 0) want.push({ start: end - q.size, end, ...brute(slice) })
  }
  return want
}

/** Stream Analytics' sliding windows over the readings moved to their bucket ends. */
function bruteSliding (q: SlidingQuery, readings: readonly Reading[]): Array<Record<string, number | null>> {
  const snap = (r: Reading): number => Math.ceil(r[0] / ROLLUP_MS) * ROLLUP_MS
  const points = [...new Set(readings.flatMap((r) => [snap(r), snap(r) + q.size]))].filter((t) => t > q.from && t <= q.to).sort((a, b) => a - b)
  const want: Array<Record<string, number | null>> = []
  for (const t of points) {
    const slice = readings.slice(after(readings, t - q.size, snap), after(readings, t, snap))
    if (slice.length > 0) want.push({ start: t - q.size, end: t, ...brute(slice) })
  }
  return want
}

/** The session operator itself fed the raw readings of the buckets ending in (from, to]. */
function bruteSessions (q: SessionQuery, readings: readonly Reading[]): Array<Record<string, number | null>> {
  const { fromEnd, toEnd } = bucketRange(q)
  const op = createSessionWindow(q.gap, q.maxDuration)
  for (const [t, v] of readings) if (t > fromEnd - ROLLUP_MS && t <= toEnd) op.add(t, v)
  return op.advance(Infinity).map((s) => ({ start: s.start, end: s.end, ...s.aggregate.result(ALL.split(',')) }))
}

function bruteForce (q: TelemetryQuery, readings: readonly Reading[]): Array<Record<string, number | null>> {
  switch (q.window) {
    case 'tumbling':
    case 'hopping': return bruteFixed(q, readings)
    case 'sliding': return bruteSliding(q, readings)
    case 'session': return bruteSessions(q, readings)
  }
}

describe('computeSeries against brute force over the raw readings', () => {
  const range = { from: String(at(-3600) + 500), to: String(at(3600) - 300) }

  // Tumbling and hopping: exact. Sliding: exact on readings snapped to their bucket end.
  // Sessions: exact (gap ≥ 1 s), against the session operator over the raw readings.
  it.each<[string, Params, number]>([
    ['tumbling 60 s', { size: '60s' }, 60],
    ['tumbling 7 s offset 3 s', { size: '7s', offset: '3s' }, 300],
    ['tumbling 1 h, aligned range', { size: '1h', from: String(at(-3600)), to: String(at(3600)) }, 2],
    ['tumbling 1 s', { size: '1s', from: String(at(0)), to: String(at(600)) }, 170],
    ['hopping 60 s / 15 s', { window: 'hopping', size: '60s', hop: '15s' }, 240],
    ['hopping 10 s / 3 s offset 2 s', { window: 'hopping', size: '10s', hop: '3s', offset: '2s' }, 700],
    ['hopping 1 h / 10 m', { window: 'hopping', size: '1h', hop: '10m' }, 11],
    ['hopping 5 m / 1 s', { window: 'hopping', size: '5m', hop: '1s', from: String(at(0)), to: String(at(900)) }, 900],
    ['hopping 10 s / 10 s', { window: 'hopping', size: '10s', hop: '10s' }, 220],
    ['sliding 10 s', { window: 'sliding', size: '10s' }, 2000],
    ['sliding 60 s', { window: 'sliding', size: '60s' }, 2700],
    ['sliding 1 s', { window: 'sliding', size: '1s' }, 1600],
    ['sliding 7 m', { window: 'sliding', size: '7m' }, 2900],
    ['session gap 1 s', { window: 'session', gap: '1s' }, 850],
    ['session gap 2 s, maxDuration 10 s', { window: 'session', gap: '2s', maxDuration: '10s' }, 190],
    ['session gap 5 s, maxDuration 1 m', { window: 'session', gap: '5s', maxDuration: '1m' }, 40],
    ['session gap 30 s', { window: 'session', gap: '30s' }, 30],
    ['session gap 2 m, maxDuration 1 m (gap above maxDuration)', { window: 'session', gap: '2m', maxDuration: '1m' }, 40],
    ['session gap 10 s, maxDuration 1 s', { window: 'session', gap: '10s', maxDuration: '1s', from: String(at(0)), to: String(at(600)) }, 170]
  ])('%s', (_, params, atLeast) => {
    const q = parse({ ...range, ...params, agg: ALL })
    const want = bruteForce(q, READINGS)
    expect(want.length).toBeGreaterThanOrEqual(atLeast)
    expectSeries(computeSeries(q, load(q, BUCKETS)), want)
  })

  // Values of both signs and zeros exercise every part of the sketch (percentiles exact too).
  const signed = generate(11, at(-2 * 3600), at(2 * 3600)).map(([t, v]): Reading => [t, Math.round((v - 20) / 2) + 0])
  const signedBuckets = rollup(signed)

  it.each<[string, Params]>([
    ['tumbling 10 s', { size: '10s' }],
    ['hopping 2 m / 20 s', { window: 'hopping', size: '2m', hop: '20s' }],
    ['sliding 30 s', { window: 'sliding', size: '30s' }],
    ['session gap 3 s, maxDuration 30 s', { window: 'session', gap: '3s', maxDuration: '30s' }]
  ])('%s over values of both signs and zeros', (_, params) => {
    const q = parse({ ...range, ...params, agg: ALL })
    const want = bruteForce(q, signed)
    expect(want.some((w) => (w.min as number) < 0 && (w.max as number) > 0 && w.p50 === 0)).toBe(true)
    expectSeries(computeSeries(q, load(q, signedBuckets)), want)
  })
})

describe('a day of one-second buckets', () => {
  const day: QueryBucket[] = Array.from({ length: 86_400 }, (_, i) => {
    const agg = createAggregate()
    agg.add(at(i) + 500, i % 100)
    return { end: at(i + 1), agg }
  })
  const whole = { from: String(at(0)), to: String(at(86_400)) }
  const limits: QueryLimits = { maxBuckets: 100_000, maxWindows: 100_000 }
  const run = (params: Params): Array<Record<string, number | null>> => {
    const q = parse({ ...whole, ...params }, limits)
    return computeSeries(q, load(q, day))
  }
  const counts = (out: ReadonlyArray<Record<string, number | null>>): number[] => out.map((w) => w.count as number)

  it('tumbling 1 h: 24 windows of 3600', () => {
    const out = run({ size: '1h', agg: 'avg,p95' })
    expect(counts(out)).toEqual(Array(24).fill(3600))
    expect(out[0]).toMatchObject({ start: at(0), end: at(3600), avg: 49.5 })
  })

  it('hopping 1 h / 15 min: 96 windows, the first three partial', () => {
    const out = run({ window: 'hopping', size: '1h', hop: '15m' })
    expect(out).toHaveLength(96)
    expect(counts(out).slice(0, 5)).toEqual([900, 1800, 2700, 3600, 3600])
    expect(out[95]).toMatchObject({ start: at(82_800), end: at(86_400), count: 3600, min: 0, max: 99 })
  })

  it('sliding 60 s: one output per second', () => {
    const out = run({ window: 'sliding', size: '60s' })
    expect(out).toHaveLength(86_400)
    expect(counts(out).slice(0, 3)).toEqual([1, 2, 3])
    expect(out[86_399]).toMatchObject({ start: at(86_340), end: at(86_400), count: 60, min: 40, max: 99 })
  })

  it('session: one session without maxDuration, 23 with 1 h', () => {
    expect(run({ window: 'session', gap: '5s' }).map((w) => [w.start, w.end, w.count])).toEqual([[at(0) + 500, at(86_399) + 5500, 86_400]])
    const hourly = run({ window: 'session', gap: '5s', maxDuration: '1h' })
    expect(hourly).toHaveLength(23)
    expect(hourly[0]).toMatchObject({ start: at(0) + 500, end: at(7200), count: 7200 })
    expect(counts(hourly).slice(1)).toEqual(Array(22).fill(3600))
  })
})
