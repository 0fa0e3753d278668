import { GridgateError } from './errors.js'

// CloudEvents 1.0 (JSON event format). Pure: no I/O, no clock.

export type ExtensionValue = string | number | boolean

export interface CloudEvent {
  specversion: '1.0'
  id: string
  source: string
  type: string
  subject?: string
  time?: string
  datacontenttype?: string
  dataschema?: string
  data?: unknown
  data_base64?: string
  [extension: string]: unknown
}

const REQUIRED = ['id', 'source', 'specversion', 'type'] as const
const OPTIONAL_STRINGS = ['subject', 'datacontenttype', 'dataschema'] as const
const CONTEXT_ATTRIBUTES = new Set<string>([...REQUIRED, ...OPTIONAL_STRINGS, 'time', 'data', 'data_base64'])

// CloudEvents 1.0 §Attribute Naming Convention: lower-case a-z and 0-9; Event Grid caps names at 20.
const EXTENSION_NAME = /^[a-z0-9]{1,20}$/
// RFC 3339 date-time (CloudEvents 1.0 Timestamp type).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function where (index: number | undefined): string {
  return index === undefined ? 'event' : `event ${index}`
}

function missing (attribute: string, index: number | undefined): GridgateError {
  return new GridgateError('CLOUDEVENT_MISSING_ATTRIBUTE',
    `${where(index)}: required attribute '${attribute}' is missing`,
    { details: { attribute, index } })
}

function invalid (attribute: string, problem: string, index: number | undefined): GridgateError {
  return new GridgateError('CLOUDEVENT_INVALID_ATTRIBUTE',
    `${where(index)}: attribute '${attribute}' ${problem}`,
    { details: { attribute, index } })
}

/** RFC 3339 §5.6 date-time with the §5.7 limits (days per month, leap years, hours 00-23). */
export function isRfc3339 (value: string): boolean {
  const m = RFC3339.exec(value)
  if (m === null) return false
  const [year, month, day, hour, minute, second] = [0, 5, 8, 11, 14, 17].map((i) => Number(value.slice(i, i + (i === 0 ? 4 : 2)))) as [number, number, number, number, number, number]
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
  if (days === undefined || day < 1 || day > days || hour > 23 || minute > 59 || second > 60) return false
  const zone = m[2] as string
  if (zone.length === 6 && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4, 6)) > 59)) return false
  return !Number.isNaN(Date.parse(value))
}

/**
 * Checks a parsed JSON value against CloudEvents 1.0 and returns it typed.
 * `index` is the event's position in a batch, used only for the message.
 * Throws a GridgateError naming the first attribute at fault.
 */
export function validateCloudEvent (value: unknown, index?: number): CloudEvent {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GridgateError('CLOUDEVENT_INVALID', `${where(index)}: a CloudEvent must be a JSON object`,
      { details: { index } })
  }
  const ev = value as Record<string, unknown>
  for (const name of REQUIRED) {
    const v = ev[name]
    if (v === undefined || v === null) throw missing(name, index)
    if (typeof v !== 'string') throw invalid(name, 'must be a string', index)
    if (v.length === 0) throw invalid(name, 'must not be empty', index)
  }
  if (ev.specversion !== '1.0') throw invalid('specversion', `must be '1.0', not '${String(ev.specversion)}'`, index)
  for (const name of OPTIONAL_STRINGS) {
    const v = ev[name]
    if (v !== undefined && v !== null && typeof v !== 'string') throw invalid(name, 'must be a string', index)
  }
  if (ev.time !== undefined && ev.time !== null) {
    if (typeof ev.time !== 'string' || !isRfc3339(ev.time)) {
      throw invalid('time', 'must be an RFC 3339 timestamp', index)
    }
  }
  if (ev.data_base64 !== undefined && ev.data_base64 !== null) {
    if (ev.data !== undefined) throw invalid('data_base64', "must not be present together with 'data'", index)
    if (typeof ev.data_base64 !== 'string' || !BASE64.test(ev.data_base64)) {
      throw invalid('data_base64', 'must be a base64 string', index)
    }
  }
  for (const name in ev) {
    if (CONTEXT_ATTRIBUTES.has(name)) continue
    if (!EXTENSION_NAME.test(name)) {
      throw invalid(name, 'is not a valid extension name (lower-case a-z and 0-9, at most 20 characters)', index)
    }
    const v = ev[name]
    if (v !== null && typeof v !== 'string' && typeof v !== 'boolean' &&
      !(typeof v === 'number' && Number.isFinite(v))) {
      throw invalid(name, 'must be a string, a number or a boolean', index)
    }
  }
  return ev as CloudEvent
}
