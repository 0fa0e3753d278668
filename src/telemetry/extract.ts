// Numeric readings and event time out of an event's JSON data. Pure.

export interface Reading {
  /** The field's dot path in the data, e.g. "env.temperature". */
  metric: string
  value: number
}

export interface ExtractOptions {
  /**
   * Dot paths of the fields to read. A path that ends at an object takes every numeric field
   * under it. Absent: every numeric field of the data, nested ones by dot path (data that is
   * itself a number gives one reading named BARE_METRIC). A path missing from the data is not
   * counted as skipped (devices often send partial payloads).
   */
  fields?: readonly string[]
}

export interface Extracted {
  readings: Reading[]
  /** Fields present but not finite numbers: booleans, strings, null, arrays (never descended), NaN. */
  skipped: number
}

/** The metric name of data that is itself a number (a bare `23.5` payload). */
export const BARE_METRIC = 'value'

/** Nesting deeper than this is counted as skipped rather than walked. */
export const MAX_DEPTH = 32

export function extractReadings (data: unknown, opts: ExtractOptions = {}): Extracted {
  const out: Extracted = { readings: [], skipped: 0 }
  if (opts.fields === undefined) {
    if (isPlainObject(data)) walk(data, '', 0, out)
    else if (data !== undefined) take(BARE_METRIC, data, 0, out)
    return out
  }
  for (const path of opts.fields) {
    const found = lookup(data, path)
    if (found !== MISSING) take(path, found, 0, out)
  }
  return out
}

/**
 * The event time in ms since the epoch from `timeField` (a dot path) of the data: an epoch-ms
 * number or an RFC 3339 date-time string. No field configured, or the field absent: the
 * arrival time. The field present but not a valid time: undefined (the caller drops or counts).
 */
export function eventTime (data: unknown, timeField: string | undefined, receivedAt: number): number | undefined {
  if (timeField === undefined) return receivedAt
  const v = lookup(data, timeField)
  if (v === MISSING) return receivedAt
  if (typeof v === 'number') return Number.isFinite(v) && Math.abs(v) <= MAX_TIME ? v : undefined
  if (typeof v === 'string') return parseRfc3339(v)
  return undefined
}

/** ECMAScript's time range: ±1e8 days around the epoch. */
const MAX_TIME = 8.64e15

// RFC 3339 §5.6 date-time; its note lets "t" and a space stand for "T". Fractions beyond
// milliseconds are truncated.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/

export function parseRfc3339 (s: string): number | undefined {
  const m = RFC3339.exec(s)
  if (m === null) return undefined
  const part = (i: number): number => Number(m[i])
  const [year, month, day, hour, minute, second] = [part(1), part(2), part(3), part(4), part(5), part(6)]
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'))
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month)) return undefined
  // Second 60 is a leap second (RFC 3339 §5.7); Date folds it into the next minute.
  if (hour > 23 || minute > 59 || second > 60) return undefined
  let offset = 0
  if (m[8] === undefined) {
    const oh = part(10)
    const om = part(11)
    if (oh > 23 || om > 59) return undefined
    offset = (m[9] === '-' ? -1 : 1) * (oh * 60 + om) * 60_000
  }
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999.
  const d = new Date(0)
  d.setUTCFullYear(year, month - 1, day)
  d.setUTCHours(hour, minute, second, ms)
  return d.getTime() - offset
}

function daysIn (year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

const MISSING = Symbol('missing')

/** Follows a dot path through plain objects only (arrays are not descended); own keys only. */
function lookup (data: unknown, path: string): unknown {
  let cur = data
  for (const key of path.split('.')) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, key)) return MISSING
    cur = cur[key]
  }
  return cur
}

function take (metric: string, v: unknown, depth: number, out: Extracted): void {
  if (typeof v === 'number') {
    if (Number.isFinite(v)) out.readings.push({ metric, value: v })
    else out.skipped++
  } else if (isPlainObject(v)) {
    if (depth >= MAX_DEPTH) out.skipped++
    else walk(v, metric === '' ? '' : metric + '.', depth + 1, out)
  } else {
    out.skipped++
  }
}

function walk (obj: Record<string, unknown>, prefix: string, depth: number, out: Extracted): void {
  for (const key of Object.keys(obj)) take(prefix + key, obj[key], depth, out)
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
