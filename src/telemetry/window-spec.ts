import { GridgateError } from '../core/errors.js'
import { compileFilters, FILTERS_CONFIGURATION_SCHEMA, type EventMatcher } from '../core/filters.js'
import { NAME, NAME_PATTERN } from '../core/names.js'
import { checkWith } from '../core/validation.js'
import { AGGREGATE_NAMES, type AggregateName } from './aggregate.js'

// A continuous window definition (PUT /windows/{name} or `telemetry.windows` in the config):
// its JSON Schema, and the spec it becomes, with durations in ms and a compiled filter. Pure.

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

/** Metric names: dot paths of JSON keys, usable in URLs and subjects as they are. */
export const METRIC_NAME_PATTERN = '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$'
export const METRIC_NAME = new RegExp(METRIC_NAME_PATTERN)

const seconds = (min: number, description: string) => ({
  type: 'number',
  minimum: min,
  maximum: MAX_WINDOW_SECONDS,
  description,
  'x-error': { problem: `must be a number of seconds from ${min} to ${MAX_WINDOW_SECONDS}` }
}) as const
const kind = (name: string) => ({ type: 'string', const: name }) as const
const topic = (def: string, description: string) => ({ type: 'string', pattern: NAME_PATTERN, default: def, description, 'x-error': { problem: 'must be a topic name' } }) as const

/** A window definition: the body of PUT /windows/{name}, and a `telemetry.windows` entry without its name. */
export const WINDOW_BODY_SCHEMA = {
  type: 'object',
  'x-error': { code: 'WINDOW_INVALID' },
  additionalProperties: false,
  required: ['window'],
  properties: {
    sourceTopic: topic('telemetry', 'The topic whose readings are aggregated (one of telemetry.sources).'),
    outputTopic: topic(DEFAULT_OUTPUT_TOPIC, 'The topic closed windows are appended to, as `telemetry.window` CloudEvents.'),
    metrics: {
      type: 'array',
      maxItems: 100,
      description: 'Metric names (dot paths); empty or absent: every metric of the source.',
      items: { type: 'string', pattern: METRIC_NAME_PATTERN, 'x-error': { problem: 'must be a metric name (a dot path of letters, digits, _ . : -)' } }
    },
    aggregates: {
      type: 'array',
      minItems: 1,
      maxItems: AGGREGATE_NAMES.length,
      description: `Default: ${DEFAULT_AGGREGATES.join(', ')}.`,
      items: { type: 'string', enum: [...AGGREGATE_NAMES], 'x-error': { problem: `unknown aggregate '{value}' (known: ${AGGREGATE_NAMES.join(', ')})` } }
    },
    window: {
      type: 'object',
      description: 'The window operator, as in Azure Stream Analytics; durations in seconds (millisecond precision), at most 7 days.',
      discriminator: { propertyName: 'kind' },
      oneOf: [
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'sizeSeconds'],
          properties: { kind: kind('tumbling'), sizeSeconds: seconds(0.001, 'The window length'), offsetSeconds: seconds(0, 'Shifts the window grid; less than sizeSeconds (default 0)') }
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'sizeSeconds', 'hopSeconds'],
          properties: { kind: kind('hopping'), sizeSeconds: seconds(0.001, 'The window length'), hopSeconds: seconds(0.001, 'How far each window starts after the previous one; at most sizeSeconds'), offsetSeconds: seconds(0, 'Shifts the window grid; less than hopSeconds (default 0)') }
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'sizeSeconds'],
          properties: { kind: kind('sliding'), sizeSeconds: seconds(0.001, 'The window length, looking back from each change') }
        },
        {
          type: 'object',
          additionalProperties: false,
          required: ['kind', 'timeoutSeconds', 'maxDurationSeconds'],
          properties: { kind: kind('session'), timeoutSeconds: seconds(0.001, 'A session ends after this long without readings'), maxDurationSeconds: seconds(0.001, 'and at most this long after it started; at least timeoutSeconds') }
        }
      ]
    },
    filtersConfiguration: FILTERS_CONFIGURATION_SCHEMA
  }
} as const

/** A body that passed WINDOW_BODY_SCHEMA (defaults filled in). */
interface WindowBody {
  sourceTopic: string
  outputTopic: string
  metrics?: string[]
  aggregates?: AggregateName[]
  window: { kind: WindowShape['kind'], [field: string]: number | string | undefined }
  filtersConfiguration?: unknown
}

/** Seconds to whole ms. */
function ms (value: number | string | undefined, field: string, def?: number): number {
  if (value === undefined) return def ?? fail(field, 'is required')
  const n = Number(value)
  const out = Math.round(n * 1000)
  if (Math.abs(out - n * 1000) > 1e-6) fail(field, 'must be a whole number of milliseconds')
  return out
}

// What one field's schema cannot say: the bounds of one field against another.
function shapeOf (w: WindowBody['window']): WindowShape {
  switch (w.kind) {
    case 'tumbling': {
      const sizeMs = ms(w.sizeSeconds, 'window.sizeSeconds')
      const offsetMs = ms(w.offsetSeconds, 'window.offsetSeconds', 0)
      if (offsetMs >= sizeMs) fail('window.offsetSeconds', 'must be less than sizeSeconds')
      return { kind: w.kind, sizeMs, offsetMs }
    }
    case 'hopping': {
      const sizeMs = ms(w.sizeSeconds, 'window.sizeSeconds')
      const hopMs = ms(w.hopSeconds, 'window.hopSeconds')
      if (hopMs > sizeMs) fail('window.hopSeconds', 'must not exceed sizeSeconds (use tumbling windows for gaps)')
      const offsetMs = ms(w.offsetSeconds, 'window.offsetSeconds', 0)
      if (offsetMs >= hopMs) fail('window.offsetSeconds', 'must be less than hopSeconds')
      return { kind: w.kind, sizeMs, hopMs, offsetMs }
    }
    case 'sliding':
      return { kind: w.kind, sizeMs: ms(w.sizeSeconds, 'window.sizeSeconds') }
    case 'session': {
      const timeoutMs = ms(w.timeoutSeconds, 'window.timeoutSeconds')
      const maxDurationMs = ms(w.maxDurationSeconds, 'window.maxDurationSeconds')
      if (maxDurationMs < timeoutMs) fail('window.maxDurationSeconds', 'must be at least timeoutSeconds')
      return { kind: w.kind, timeoutMs, maxDurationMs }
    }
  }
}

/**
 * Validates a window definition (the PUT body, a config entry without its name, or a stored
 * one) against WINDOW_BODY_SCHEMA, then what spans fields, and compiles its filter.
 */
export function parseWindow (input: unknown): ParsedWindow {
  // The schema fills defaults in: work on a copy, so the caller's value stays as given.
  const b = checkWith<WindowBody>(WINDOW_BODY_SCHEMA, input === undefined ? null : structuredClone(input))
  if (b.outputTopic === b.sourceTopic) fail('outputTopic', 'must differ from sourceTopic')
  const metrics = [...new Set(b.metrics ?? [])]
  const aggregates = b.aggregates === undefined ? [...DEFAULT_AGGREGATES] : [...new Set(b.aggregates)]
  const window = shapeOf(b.window)
  let matcher: EventMatcher | undefined
  try {
    matcher = b.filtersConfiguration === undefined || b.filtersConfiguration === null ? undefined : compileFilters(b.filtersConfiguration)
  } catch (err) {
    // The same language and messages as subscriptions, under this resource's code.
    if (err instanceof GridgateError) throw new GridgateError('WINDOW_INVALID', err.message, { details: err.details })
    throw err
  }
  const spec: WindowSpec = { sourceTopic: b.sourceTopic, outputTopic: b.outputTopic, metrics, aggregates, window }
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
