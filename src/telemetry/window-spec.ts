import { GridgateError } from '../core/errors.js'
import { compileFilters, type EventMatcher } from '../core/filters.js'
import { NAME } from '../core/names.js'
import { AGGREGATE_NAMES, isAggregateName, type AggregateName } from './aggregate.js'

// A continuous window definition (PUT /windows/{name} or `telemetry.windows` in the config):
// validated once into a spec with durations in ms and a compiled filter. Pure.

/** Window names follow the one name rule (core/names.ts). */
export const WINDOW_NAME = NAME
export const DEFAULT_AGGREGATES: readonly AggregateName[] = ['count', 'min', 'max', 'avg']
export const DEFAULT_OUTPUT_TOPIC = 'telemetry-windows'
/** Longest window or session: state for longer ones would outgrow memory and retention. */
export const MAX_WINDOW_SECONDS = 7 * 86_400

export type WindowShape =
  | { kind: 'tumbling', sizeMs: number, offsetMs: number }
  | { kind: 'hopping', sizeMs: number, hopMs: number, offsetMs: number }
  | { kind: 'sliding', sizeMs: number }
  | { kind: 'session', timeoutMs: number, maxDurationMs: number }

export interface WindowSpec {
  sourceTopic: string
  outputTopic: string
  /** Metric names (dot paths) to aggregate; empty: every metric of the source. */
  metrics: string[]
  aggregates: AggregateName[]
  window: WindowShape
  /** As given, for GET and for storing the definition. */
  filtersConfiguration?: unknown
}

export interface ParsedWindow {
  spec: WindowSpec
  matcher: EventMatcher | undefined
}

function fail (field: string, problem: string): never {
  throw new GridgateError('WINDOW_INVALID', `${field}: ${problem}`, { details: { field } })
}

function object (value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(field, 'must be an object')
  return value as Record<string, unknown>
}

function onlyKeys (obj: Record<string, unknown>, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(field === '' ? key : `${field}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`)
  }
}

/** Seconds (a number, ms precision) to whole ms. */
function seconds (value: unknown, field: string, opts: { min: number, optional?: number }): number {
  if (value === undefined && opts.optional !== undefined) return opts.optional
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, 'must be a number of seconds')
  const ms = Math.round(value * 1000)
  if (Math.abs(ms - value * 1000) > 1e-6) fail(field, 'must be a whole number of milliseconds')
  if (ms < opts.min * 1000 || value > MAX_WINDOW_SECONDS) fail(field, `must be from ${opts.min} to ${MAX_WINDOW_SECONDS} seconds`)
  return ms
}

function parseShape (value: unknown): WindowShape {
  const w = object(value, 'window')
  const kind = w.kind
  switch (kind) {
    case 'tumbling': {
      onlyKeys(w, 'window', ['kind', 'sizeSeconds', 'offsetSeconds'])
      const sizeMs = seconds(w.sizeSeconds, 'window.sizeSeconds', { min: 0.001 })
      const offsetMs = seconds(w.offsetSeconds, 'window.offsetSeconds', { min: 0, optional: 0 })
      if (offsetMs >= sizeMs) fail('window.offsetSeconds', 'must be less than sizeSeconds')
      return { kind, sizeMs, offsetMs }
    }
    case 'hopping': {
      onlyKeys(w, 'window', ['kind', 'sizeSeconds', 'hopSeconds', 'offsetSeconds'])
      const sizeMs = seconds(w.sizeSeconds, 'window.sizeSeconds', { min: 0.001 })
      const hopMs = seconds(w.hopSeconds, 'window.hopSeconds', { min: 0.001 })
      if (hopMs > sizeMs) fail('window.hopSeconds', 'must not exceed sizeSeconds (use tumbling windows for gaps)')
      const offsetMs = seconds(w.offsetSeconds, 'window.offsetSeconds', { min: 0, optional: 0 })
      if (offsetMs >= hopMs) fail('window.offsetSeconds', 'must be less than hopSeconds')
      return { kind, sizeMs, hopMs, offsetMs }
    }
    case 'sliding':
      onlyKeys(w, 'window', ['kind', 'sizeSeconds'])
      return { kind, sizeMs: seconds(w.sizeSeconds, 'window.sizeSeconds', { min: 0.001 }) }
    case 'session': {
      onlyKeys(w, 'window', ['kind', 'timeoutSeconds', 'maxDurationSeconds'])
      const timeoutMs = seconds(w.timeoutSeconds, 'window.timeoutSeconds', { min: 0.001 })
      const maxDurationMs = seconds(w.maxDurationSeconds, 'window.maxDurationSeconds', { min: 0.001 })
      if (maxDurationMs < timeoutMs) fail('window.maxDurationSeconds', 'must be at least timeoutSeconds')
      return { kind, timeoutMs, maxDurationMs }
    }
    default:
      fail('window.kind', "must be 'tumbling', 'hopping', 'sliding' or 'session'")
  }
}

/** Metric names: dot paths of JSON keys, usable in URLs and subjects as they are. */
export const METRIC_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/

function stringList (value: unknown, field: string, max: number): string[] {
  if (!Array.isArray(value)) fail(field, 'must be an array of strings')
  if (value.length > max) fail(field, `must have at most ${max} entries`)
  const out: string[] = []
  value.forEach((v, i) => {
    if (typeof v !== 'string') fail(`${field}[${i}]`, 'must be a string')
    if (!out.includes(v)) out.push(v)
  })
  return out
}

/** Validates a window definition (the PUT body or a config entry without its name). */
export function parseWindow (body: unknown): ParsedWindow {
  const b = object(body ?? {}, 'body')
  onlyKeys(b, '', ['sourceTopic', 'outputTopic', 'metrics', 'aggregates', 'window', 'filtersConfiguration'])
  const sourceTopic = b.sourceTopic ?? 'telemetry'
  if (typeof sourceTopic !== 'string' || !NAME.test(sourceTopic)) fail('sourceTopic', 'must be a topic name')
  const outputTopic = b.outputTopic ?? DEFAULT_OUTPUT_TOPIC
  if (typeof outputTopic !== 'string' || !NAME.test(outputTopic)) fail('outputTopic', 'must be a topic name')
  if (outputTopic === sourceTopic) fail('outputTopic', 'must differ from sourceTopic')
  const metrics = b.metrics === undefined ? [] : stringList(b.metrics, 'metrics', 100)
  metrics.forEach((m, i) => { if (!METRIC_NAME.test(m)) fail(`metrics[${i}]`, 'must be a metric name (a dot path of letters, digits, _ . : -)') })
  const aggregates = b.aggregates === undefined ? [...DEFAULT_AGGREGATES] : stringList(b.aggregates, 'aggregates', AGGREGATE_NAMES.length)
  if (aggregates.length === 0) fail('aggregates', 'must name at least one aggregate')
  aggregates.forEach((a, i) => { if (!isAggregateName(a)) fail(`aggregates[${i}]`, `unknown aggregate '${a}' (known: ${AGGREGATE_NAMES.join(', ')})`) })
  if (b.window === undefined) fail('window', 'is required')
  const window = parseShape(b.window)
  let matcher: EventMatcher | undefined
  try {
    matcher = b.filtersConfiguration === undefined || b.filtersConfiguration === null ? undefined : compileFilters(b.filtersConfiguration)
  } catch (err) {
    // The same language and messages as subscriptions, under this resource's code.
    if (err instanceof GridgateError) throw new GridgateError('WINDOW_INVALID', err.message, { details: err.details })
    throw err
  }
  const spec: WindowSpec = { sourceTopic, outputTopic, metrics, aggregates: aggregates as AggregateName[], window }
  if (matcher !== undefined) spec.filtersConfiguration = b.filtersConfiguration
  return { spec, matcher }
}

/** The definition in the shape it was given (seconds), for GET and for storing. */
export function renderWindow (name: string, spec: WindowSpec): Record<string, unknown> {
  const w = spec.window
  const s = (ms: number): number => ms / 1000
  const window = w.kind === 'tumbling'
    ? { kind: w.kind, sizeSeconds: s(w.sizeMs), offsetSeconds: s(w.offsetMs) }
    : w.kind === 'hopping'
      ? { kind: w.kind, sizeSeconds: s(w.sizeMs), hopSeconds: s(w.hopMs), offsetSeconds: s(w.offsetMs) }
      : w.kind === 'sliding'
        ? { kind: w.kind, sizeSeconds: s(w.sizeMs) }
        : { kind: w.kind, timeoutSeconds: s(w.timeoutMs), maxDurationSeconds: s(w.maxDurationMs) }
  const out: Record<string, unknown> = { name, sourceTopic: spec.sourceTopic, outputTopic: spec.outputTopic, metrics: spec.metrics, aggregates: spec.aggregates, window }
  if (spec.filtersConfiguration !== undefined) out.filtersConfiguration = spec.filtersConfiguration
  return out
}

/** Whether two specs describe the same window (a changed one starts over with empty state). */
export function sameWindow (a: WindowSpec, b: WindowSpec): boolean {
  return JSON.stringify(renderWindow('', a)) === JSON.stringify(renderWindow('', b))
}
