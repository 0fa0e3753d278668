// The query engine behind GET /telemetry/{deviceId}/{metric}: windowed series computed from
// the per-second rollups (never raw events), with the window operators' Stream Analytics
// semantics at the rollup resolution. Pure; times in ms since the epoch.
//
// A rollup bucket with end e holds the readings with event time in (e − 1 s, e]. Every
// window bound used here is a whole second (durations and offsets are whole seconds), so a
// bucket lies entirely inside or outside each tumbling or hopping window and those series are
// exactly what the operators would give over the raw readings. Sliding windows treat a
// bucket's readings as happening at its end; sessions use each bucket's first and last
// reading times, which is exact since gaps inside a bucket (< 1 s) never reach the timeout.

import { GridgateError } from '../core/errors.js'
import { AGGREGATE_NAMES, createAggregate, isAggregateName, needsPercentiles, resultReader, type Aggregate, type AggregateName } from './aggregate.js'
import { parseRfc3339 } from './extract.js'
import { QuantileSketch } from './sketch.js'
import { createSessionWindow } from './session-window.js'
import { ceilTo, gcd } from './window-util.js'

/** The rollup resolution: each bucket covers (end − ROLLUP_MS, end]. */
export const ROLLUP_MS = 1000

export interface QueryLimits {
  /** Rollup buckets one query may read (telemetry.maxQueryBuckets). */
  maxBuckets: number
  /** Windows one query may answer with, as an upper bound known before reading (telemetry.maxQueryWindows). */
  maxWindows: number
}

interface QueryCommon {
  /** The range (from, to] in epoch ms; from < to. */
  from: number
  to: number
  /** The aggregates to output: `count` first, then the requested ones, no duplicates. */
  aggs: AggregateName[]
}

export interface TumblingQuery extends QueryCommon {
  window: 'tumbling'
  size: number
  offset: number
}

export interface HoppingQuery extends QueryCommon {
  window: 'hopping'
  size: number
  hop: number
  offset: number
}

export interface SlidingQuery extends QueryCommon {
  window: 'sliding'
  size: number
}

export interface SessionQuery extends QueryCommon {
  window: 'session'
  /** The session timeout. */
  gap: number
  /** Infinity: no maximum duration. */
  maxDuration: number
}

/** A validated query; every duration is a whole number of seconds, in ms. */
export type TelemetryQuery = TumblingQuery | HoppingQuery | SlidingQuery | SessionQuery

export interface QueryBucket {
  end: number
  agg: Aggregate
}

export type SeriesEntry = Record<string, number | null>

const PARAMS = ['from', 'to', 'window', 'size', 'hop', 'offset', 'gap', 'maxDuration', 'agg'] as const
const KINDS = ['tumbling', 'hopping', 'sliding', 'session'] as const
type Kind = typeof KINDS[number]
/** The parameters each kind takes besides from, to, window and agg. */
const KIND_PARAMS: Readonly<Record<Kind, readonly string[]>> = {
  tumbling: ['size', 'offset'],
  hopping: ['size', 'hop', 'offset'],
  sliding: ['size'],
  session: ['gap', 'maxDuration']
}
const DEFAULT_AGGS: readonly AggregateName[] = ['count', 'min', 'max', 'avg']
const DEFAULT_RANGE_MS = 3_600_000
const DEFAULT_TUMBLING_SIZE_MS = 60_000
/** ECMAScript's time range: ±1e8 days around the epoch. */
const MAX_TIME = 8.64e15
const UNITS: Readonly<Record<string, number>> = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const DURATION = /^(\d{1,16})([smhd]?)$/

function invalid (param: string, why: string): never {
  throw new GridgateError('QUERY_PARAM_INVALID', `${param}: ${why}`, { details: { param } })
}

function parseTime (param: string, v: string): number {
  if (/^\d{1,16}$/.test(v)) {
    const n = Number(v)
    if (n <= MAX_TIME) return n
  } else {
    const t = parseRfc3339(v)
    if (t !== undefined && Math.abs(t) <= MAX_TIME) return t
  }
  return invalid(param, `must be an RFC 3339 date-time such as 2026-01-01T00:00:00Z or epoch milliseconds, not '${v.slice(0, 40)}'`)
}

/** Whole seconds, bare or with a unit s, m, h or d; in ms. */
function parseDuration (param: string, v: string, opts: { zero?: boolean } = {}): number {
  const m = DURATION.exec(v)
  if (m === null) invalid(param, `must be a whole number of seconds, optionally with a unit s, m, h or d (60, 90s, 5m, 1h, 1d), not '${v.slice(0, 40)}'`)
  const ms = Number(m[1]) * (UNITS[m[2] ?? ''] as number)
  if (!Number.isSafeInteger(ms) || ms > MAX_TIME) invalid(param, 'is too large')
  if (ms === 0 && opts.zero !== true) invalid(param, 'must be greater than 0')
  return ms
}

function parseAggs (v: string): AggregateName[] {
  const out: AggregateName[] = ['count']
  for (const raw of v.split(',')) {
    const name = raw.trim()
    if (name === '') invalid('agg', 'has an empty name; give a comma-separated list such as count,min,max,avg')
    if (!isAggregateName(name)) invalid('agg', `unknown aggregate '${name.slice(0, 40)}' (known: ${AGGREGATE_NAMES.join(', ')})`)
    if (!out.includes(name)) out.push(name)
  }
  return out
}

/**
 * Validates and normalises the query parameters (each given once; the HTTP layer refuses
 * repeats). Throws QUERY_PARAM_INVALID naming the parameter, or QUERY_TOO_LARGE when the
 * buckets to read or the windows that may come out exceed `limits`.
 */
export function parseTelemetryQuery (params: Readonly<Record<string, string | undefined>>, now: number, limits: QueryLimits): TelemetryQuery {
  for (const [name, v] of Object.entries(params)) {
    if (v !== undefined && !(PARAMS as readonly string[]).includes(name)) {
      invalid(name.slice(0, 40), `unknown parameter (allowed: ${PARAMS.join(', ')})`)
    }
  }
  const kind = params.window ?? 'tumbling'
  if (!(KINDS as readonly string[]).includes(kind)) invalid('window', `must be one of ${KINDS.join(', ')}, not '${kind.slice(0, 40)}'`)
  const window = kind as Kind
  for (const name of ['size', 'hop', 'offset', 'gap', 'maxDuration']) {
    if (params[name] !== undefined && !KIND_PARAMS[window].includes(name)) {
      invalid(name, `does not apply to window=${window} (it takes ${KIND_PARAMS[window].join(', ')})`)
    }
  }

  const to = params.to === undefined ? now : parseTime('to', params.to)
  const from = params.from === undefined ? to - DEFAULT_RANGE_MS : parseTime('from', params.from)
  if (!(from < to)) invalid('from', `must be earlier than to${params.to === undefined ? ' (default: now)' : ''}`)
  const aggs = params.agg === undefined ? [...DEFAULT_AGGS] : parseAggs(params.agg)
  const required = (name: string): string => params[name] ?? invalid(name, `is required for window=${window}`)

  let q: TelemetryQuery
  switch (window) {
    case 'tumbling': {
      const size = params.size === undefined ? DEFAULT_TUMBLING_SIZE_MS : parseDuration('size', params.size)
      const offset = params.offset === undefined ? 0 : parseDuration('offset', params.offset, { zero: true })
      if (offset >= size) invalid('offset', 'must be less than size')
      q = { window, from, to, aggs, size, offset }
      break
    }
    case 'hopping': {
      const size = parseDuration('size', required('size'))
      const hop = parseDuration('hop', required('hop'))
      if (hop > size) invalid('hop', 'must not exceed size (use tumbling windows for gaps between windows)')
      const offset = params.offset === undefined ? 0 : parseDuration('offset', params.offset, { zero: true })
      if (offset >= hop) invalid('offset', 'must be less than hop')
      q = { window, from, to, aggs, size, hop, offset }
      break
    }
    case 'sliding':
      q = { window, from, to, aggs, size: parseDuration('size', required('size')) }
      break
    case 'session': {
      const gap = parseDuration('gap', required('gap'))
      const maxDuration = params.maxDuration === undefined ? Infinity : parseDuration('maxDuration', params.maxDuration)
      q = { window, from, to, aggs, gap, maxDuration }
      break
    }
  }
  checkLimits(q, limits)
  return q
}

function checkLimits (q: TelemetryQuery, limits: QueryLimits): void {
  const { fromEnd, toEnd } = bucketRange(q)
  const buckets = fromEnd > toEnd ? 0 : (toEnd - fromEnd) / ROLLUP_MS + 1
  if (buckets > limits.maxBuckets) {
    const narrow = q.window === 'hopping' || q.window === 'tumbling' || q.window === 'sliding'
      ? 'narrow from/to or use a smaller size'
      : 'narrow from/to'
    throw new GridgateError('QUERY_TOO_LARGE',
      `The query would read ${buckets} one-second rollups, more than the limit of ${limits.maxBuckets} (telemetry.maxQueryBuckets); ${narrow}`,
      { details: { buckets, maxBuckets: limits.maxBuckets } })
  }
  const windows = maxWindowCount(q)
  if (windows > limits.maxWindows) {
    const larger = { tumbling: 'a larger size', hopping: 'a larger hop', sliding: 'a tumbling or hopping window', session: 'a larger gap or maxDuration' }[q.window]
    throw new GridgateError('QUERY_TOO_LARGE',
      `The query may answer with up to ${windows} windows, more than the limit of ${limits.maxWindows} (telemetry.maxQueryWindows); narrow from/to or use ${larger}`,
      { details: { windows, maxWindows: limits.maxWindows } })
  }
}

/** The grid point offset + k·step at or before t. */
function floorTo (t: number, step: number, offset: number): number {
  return Math.floor((t - offset) / step) * step + offset
}

/** How many points of the grid offset + k·step lie in (from, to]. */
function gridPoints (from: number, to: number, step: number, offset: number): number {
  return Math.max(0, (floorTo(to, step, offset) - floorTo(from, step, offset)) / step)
}

/** An upper bound of the windows the query can output, known before loading anything. */
function maxWindowCount (q: TelemetryQuery): number {
  switch (q.window) {
    case 'tumbling': return gridPoints(q.from, q.to, q.size, q.offset)
    case 'hopping': return gridPoints(q.from, q.to, q.hop, q.offset)
    // At most one output per bucket end in range: entries and exits both fall on the grid.
    case 'sliding': return gridPoints(q.from, q.to, ROLLUP_MS, 0)
    case 'session': {
      // Each session holds a bucket of its own. Sessions split by the timeout start more than
      // gap apart; each max-duration check point in the range can add one more.
      const seconds = gridPoints(q.from, q.to, ROLLUP_MS, 0)
      const span = seconds * ROLLUP_MS
      const byGap = Math.ceil(span / q.gap) + (q.maxDuration === Infinity ? 0 : Math.floor(span / q.maxDuration) + 1)
      return Math.min(seconds, byGap)
    }
  }
}

/**
 * The bucket ends to load, inclusive; nothing to load when fromEnd > toEnd. Tumbling and
 * hopping windows whose end lies in (from, to] are computed over all their data, so the range
 * reaches back to the first such window's start. Sliding windows at the points in (from, to]
 * need the buckets up to size before the first point, and the one exactly size before it (its
 * exit is a change at that point). Sessions see only the buckets with end in (from, to].
 */
export function bucketRange (q: TelemetryQuery): { fromEnd: number, toEnd: number } {
  switch (q.window) {
    case 'tumbling':
    case 'hopping': {
      const step = q.window === 'tumbling' ? q.size : q.hop
      const firstEnd = floorTo(q.from, step, q.offset) + step
      return { fromEnd: firstEnd - q.size + ROLLUP_MS, toEnd: floorTo(q.to, step, q.offset) }
    }
    case 'sliding': {
      const first = floorTo(q.from, ROLLUP_MS, 0) + ROLLUP_MS
      return { fromEnd: first - q.size, toEnd: floorTo(q.to, ROLLUP_MS, 0) }
    }
    case 'session':
      return { fromEnd: floorTo(q.from, ROLLUP_MS, 0) + ROLLUP_MS, toEnd: floorTo(q.to, ROLLUP_MS, 0) }
  }
}

/**
 * The series: one entry per window holding at least one reading, oldest first, as
 * { start, end, count, ...the other aggregates }. `buckets` are sorted by end; empty ones and
 * ones outside bucketRange(q) are ignored.
 */
export function computeSeries (q: TelemetryQuery, buckets: readonly QueryBucket[]): SeriesEntry[] {
  const ctx: Context = { read: resultReader(q.aggs), percentiles: needsPercentiles(q.aggs) }
  const { fromEnd, toEnd } = bucketRange(q)
  const inRange = buckets.filter((b) => b.end >= fromEnd && b.end <= toEnd && b.agg.count > 0)
  switch (q.window) {
    case 'tumbling': return tumbling(q, inRange, ctx)
    case 'hopping': return hopping(q, inRange, ctx)
    case 'sliding': return sliding(q, inRange, ctx)
    case 'session': return sessions(q, inRange, ctx)
  }
}

interface Context {
  read: (agg: Aggregate) => SeriesEntry
  /** Whether merged aggregates need the sketch (only for p50/p95/p99). */
  percentiles: boolean
}

function entry (ctx: Context, start: number, end: number, agg: Aggregate): SeriesEntry {
  return { start, end, ...ctx.read(agg) }
}

/**
 * The buckets merged into the windows (end − step, end] of the grid offset + k·step, oldest
 * first, empty ones left out. A lone bucket is used as is (never changed), not copied.
 */
function panes (buckets: readonly QueryBucket[], step: number, offset: number, ctx: Context): QueryBucket[] {
  const out: QueryBucket[] = []
  for (let i = 0; i < buckets.length;) {
    const first = buckets[i] as QueryBucket
    const end = ceilTo(first.end, step, offset)
    let j = i + 1
    while (j < buckets.length && (buckets[j] as QueryBucket).end <= end) j++
    let agg = first.agg
    if (j - i > 1) {
      agg = createAggregate({ percentiles: ctx.percentiles })
      for (let k = i; k < j; k++) agg.merge((buckets[k] as QueryBucket).agg)
    }
    out.push({ end, agg })
    i = j
  }
  return out
}

function tumbling (q: TumblingQuery, buckets: readonly QueryBucket[], ctx: Context): SeriesEntry[] {
  return panes(buckets, q.size, q.offset, ctx).map((w) => entry(ctx, w.end - q.size, w.end, w.agg))
}

/**
 * Hopping windows over panes of gcd(size, hop): each bucket is merged into one pane, and the
 * panes go through a MergeQueue, so a window costs O(1) merges (amortised) however many panes
 * it spans, not O(size / pane).
 */
function hopping (q: HoppingQuery, buckets: readonly QueryBucket[], ctx: Context): SeriesEntry[] {
  const { size, hop, offset } = q
  const all = panes(buckets, gcd(size, hop), offset, ctx)
  const out: SeriesEntry[] = []
  const queue = new MergeQueue(ctx.percentiles)
  const lastEnd = floorTo(q.to, hop, offset)
  let next = 0
  for (let end = floorTo(q.from, hop, offset) + hop; end <= lastEnd;) {
    for (let p = all[next]; p !== undefined && p.end <= end; p = all[++next]) queue.push(p)
    while (queue.length > 0 && queue.oldestEnd <= end - size) queue.pop()
    if (queue.length > 0) out.push(entry(ctx, end - size, end, queue.aggregate()))
    let following = end + hop
    if (queue.length === 0) {
      // Nothing in the queue: jump to the first window that holds the next pane, if any.
      const p = all[next]
      if (p === undefined) break
      following = Math.max(following, ceilTo(p.end, hop, offset))
    }
    end = following
  }
  return out
}

/**
 * Stream Analytics' sliding window at the rollup resolution: a bucket's readings enter at its
 * end e and leave at e + size; at every such point in (from, to] where the window
 * (t − size, t] is not empty, one output with the content after all changes at t.
 */
function sliding (q: SlidingQuery, buckets: readonly QueryBucket[], ctx: Context): SeriesEntry[] {
  const out: SeriesEntry[] = []
  const queue = new MergeQueue(ctx.percentiles)
  const size = q.size
  let entered = 0
  let oldest = 0
  for (;;) {
    const nextEntry = buckets[entered]?.end ?? Infinity
    const nextExit = oldest < entered ? (buckets[oldest] as QueryBucket).end + size : Infinity
    const t = Math.min(nextEntry, nextExit)
    if (!(t <= q.to)) break
    for (let b = buckets[oldest]; oldest < entered && b !== undefined && b.end + size <= t; b = buckets[++oldest]) queue.pop()
    for (let b = buckets[entered]; b !== undefined && b.end <= t; b = buckets[++entered]) queue.push(b)
    if (t > q.from && queue.length > 0) out.push(entry(ctx, t - size, t, queue.aggregate()))
  }
  return out
}

/**
 * Sessions through session-window.ts's operator itself: each bucket is fed as its first and
 * last reading times with the bucket's index as the value, so the operator decides every
 * boundary exactly as over the raw readings (readings between those two are less than 1 s
 * apart and max-duration check points fall on bucket bounds), and the session's min and max
 * value name the run of buckets to merge.
 */
function sessions (q: SessionQuery, buckets: readonly QueryBucket[], ctx: Context): SeriesEntry[] {
  const op = createSessionWindow(q.gap, q.maxDuration, { percentiles: false })
  buckets.forEach((b, i) => {
    op.add(b.agg.firstTime, i)
    if (b.agg.lastTime > b.agg.firstTime) op.add(b.agg.lastTime, i)
  })
  return op.advance(Infinity).map((s) => {
    const first = s.aggregate.min
    const last = s.aggregate.max
    let agg = (buckets[first] as QueryBucket).agg
    if (last > first) {
      agg = createAggregate({ percentiles: ctx.percentiles })
      for (let i = first; i <= last; i++) agg.merge((buckets[i] as QueryBucket).agg)
    }
    return entry(ctx, s.start, s.end, agg)
  })
}

const NO_SKETCH = { percentiles: false }

/**
 * A FIFO of time-ordered aggregates whose merge is available at O(1) merges per query,
 * amortised: a two-stack sliding aggregation, since min, max, first and last cannot be
 * subtracted. `back` takes new items and keeps their running merge; `front` holds older items,
 * each with the merge of itself and every newer front item, so its top covers the whole front.
 * These merges leave the quantile sketch out: sketch counts do subtract exactly, so with
 * percentiles one running sketch takes each item's sketch in on push and out on pop.
 */
class MergeQueue {
  private front: Array<{ end: number, agg: Aggregate, item: Aggregate }> = []
  private back: QueryBucket[] = []
  private backAgg = createAggregate(NO_SKETCH)
  /** With percentiles: holds the running sketch; aggregate() copies the other fields in. */
  private readonly view: Aggregate | null

  constructor (percentiles: boolean) {
    this.view = percentiles ? createAggregate() : null
  }

  get length (): number {
    return this.front.length + this.back.length
  }

  /** The end of the oldest item; the queue must not be empty. */
  get oldestEnd (): number {
    const top = this.front[this.front.length - 1] ?? this.back[0]
    return (top as QueryBucket).end
  }

  /** Items are not changed: the queue merges copies. */
  push (item: QueryBucket): void {
    this.back.push(item)
    this.backAgg.merge(item.agg)
    if (item.agg.sketch !== null) this.view?.sketch?.merge(item.agg.sketch)
  }

  pop (): void {
    if (this.front.length === 0) this.flip()
    const gone = this.front.pop()
    const sketch = this.view?.sketch
    if (gone !== undefined && sketch != null && gone.item.sketch !== null) subtractSketch(sketch, gone.item.sketch)
  }

  /** The merge of every item, oldest first; read it before the next change, do not change it. */
  aggregate (): Aggregate {
    const top = this.front[this.front.length - 1]?.agg
    const merged = top === undefined
      ? this.backAgg
      : this.back.length === 0 ? top : createAggregate(NO_SKETCH).merge(top).merge(this.backAgg)
    if (this.view === null) return merged
    const v = this.view
    v.count = merged.count
    v.sum = merged.sum
    v.min = merged.min
    v.max = merged.max
    v.mean = merged.mean
    v.m2 = merged.m2
    v.firstTime = merged.firstTime
    v.first = merged.first
    v.lastTime = merged.lastTime
    v.last = merged.last
    return v
  }

  private flip (): void {
    let acc: Aggregate | null = null
    for (let i = this.back.length - 1; i >= 0; i--) {
      const item = this.back[i] as QueryBucket
      const agg = createAggregate(NO_SKETCH).merge(item.agg)
      if (acc !== null) agg.merge(acc)
      this.front.push({ end: item.end, agg, item: item.agg })
      acc = agg
    }
    this.back = []
    this.backAgg = createAggregate(NO_SKETCH)
  }
}

/** Takes the values counted in `part` (merged into `sketch` before) back out of `sketch`. */
function subtractSketch (sketch: QuantileSketch, part: QuantileSketch): void {
  const { z, p, n } = part.toJSON()
  for (let i = 0; i < z; i++) sketch.remove(0)
  for (const [bins, sign] of [[p, 1], [n, -1]] as const) {
    const lo = bins[0] as number
    for (let i = 1; i < bins.length; i++) {
      const count = bins[i] as number
      if (count === 0) continue
      // Any value in the bin's key stands for the values counted there.
      const v = sign * representative(lo + i - 1)
      for (let c = 0; c < count; c++) sketch.remove(v)
    }
  }
}

const REPRESENTATIVES = new Map<number, number>()

/** The value a sketch answers for its positive bin `key` (the bin's centre): its key is `key`. */
function representative (key: number): number {
  let v = REPRESENTATIVES.get(key)
  if (v === undefined) {
    v = QuantileSketch.fromJSON({ z: 0, p: [key, 1], n: [] }).quantile(0) as number
    REPRESENTATIVES.set(key, v)
  }
  return v
}
