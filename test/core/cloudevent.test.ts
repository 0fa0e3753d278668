import { describe, it, expect } from 'vitest'
import { isRfc3339, validateCloudEvent } from '../../src/core/cloudevent.js'
import { caught } from '../helpers/errors.js'

function minimal (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', id: 'e-1', source: '/gridgate/devices/d1', type: 'com.example.reading', ...extra }
}

function without (name: string): Record<string, unknown> {
  const ev = minimal()
  delete ev[name]
  return ev
}

describe('validateCloudEvent: accepted events', () => {
  it('returns the minimal event itself, unchanged', () => {
    const ev = minimal()
    const copy = structuredClone(ev)
    expect(validateCloudEvent(ev)).toBe(ev)
    expect(ev).toEqual(copy)
  })

  it.each([
    { name: 'every optional attribute', ev: minimal({ subject: 'd1/temp', time: '2026-01-01T00:00:00Z', datacontenttype: 'application/json', dataschema: 'https://example.com/s.json', data: { t: 21.5 } }) },
    { name: 'data as a string', ev: minimal({ data: 'hello' }) },
    { name: 'data as null', ev: minimal({ data: null }) },
    { name: 'data as an array', ev: minimal({ data: [1, 2, 3] }) },
    { name: 'data_base64', ev: minimal({ data_base64: 'AQID' }) },
    { name: 'data_base64 with one pad character', ev: minimal({ data_base64: 'AQI=' }) },
    { name: 'data_base64 with two pad characters', ev: minimal({ data_base64: 'AQ==' }) },
    { name: 'an empty data_base64', ev: minimal({ data_base64: '' }) },
    { name: 'data_base64 null next to data', ev: minimal({ data_base64: null, data: 'x' }) },
    { name: 'optional string attributes set to null', ev: minimal({ subject: null, datacontenttype: null, dataschema: null, time: null }) },
    { name: 'a string extension', ev: minimal({ devicekind: 'meter' }) },
    { name: 'a number extension', ev: minimal({ sequence: 42 }) },
    { name: 'a negative fractional number extension', ev: minimal({ offset: -1.5 }) },
    { name: 'a boolean extension', ev: minimal({ retained: false }) },
    { name: 'a null extension', ev: minimal({ partitionkey: null }) },
    { name: 'an extension name of digits', ev: minimal({ 123: 'x' }) },
    { name: 'an extension name of exactly 20 characters', ev: minimal({ abcdefghijklmnopqrst: 'x' }) }
  ])('accepts an event with $name', ({ ev }) => {
    expect(validateCloudEvent(ev)).toBe(ev)
  })
})

describe('validateCloudEvent: refused events', () => {
  it.each([
    { name: 'null', value: null },
    { name: 'an array', value: [minimal()] },
    { name: 'a string', value: 'event' },
    { name: 'a number', value: 1 },
    { name: 'undefined', value: undefined }
  ])('refuses $name as not a JSON object', ({ value }) => {
    const err = caught(() => validateCloudEvent(value))
    expect(err.code).toBe('CLOUDEVENT_INVALID')
    expect(err.message).toContain('must be a JSON object')
  })

  it.each(['id', 'source', 'specversion', 'type'])('refuses an event without the required attribute %s', (attribute) => {
    const err = caught(() => validateCloudEvent(without(attribute)))
    expect(err.code).toBe('CLOUDEVENT_MISSING_ATTRIBUTE')
    expect(err.details).toEqual({ attribute, index: undefined })
    expect(err.message).toContain(`'${attribute}'`)
  })

  it.each(['id', 'source', 'specversion', 'type'])('treats a null %s as missing', (attribute) => {
    const err = caught(() => validateCloudEvent(minimal({ [attribute]: null })))
    expect(err.code).toBe('CLOUDEVENT_MISSING_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute })
  })

  it.each([
    { attribute: 'id', value: 7, problem: 'must be a string' },
    { attribute: 'source', value: { path: '/x' }, problem: 'must be a string' },
    { attribute: 'type', value: true, problem: 'must be a string' },
    { attribute: 'specversion', value: 1, problem: 'must be a string' },
    { attribute: 'id', value: '', problem: 'must not be empty' },
    { attribute: 'source', value: '', problem: 'must not be empty' },
    { attribute: 'type', value: '', problem: 'must not be empty' },
    { attribute: 'specversion', value: '', problem: 'must not be empty' }
  ])('refuses a required $attribute of $value ($problem)', ({ attribute, value, problem }) => {
    const err = caught(() => validateCloudEvent(minimal({ [attribute]: value })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toEqual({ attribute, index: undefined })
    expect(err.message).toContain(`'${attribute}' ${problem}`)
  })

  it.each(['0.3', '1', '1.0.0', '2.0', ' 1.0'])('refuses specversion %j', (specversion) => {
    const err = caught(() => validateCloudEvent(minimal({ specversion })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'specversion' })
    expect(err.message).toContain(`must be '1.0', not '${specversion}'`)
  })

  it.each([
    { attribute: 'subject', value: 5 },
    { attribute: 'datacontenttype', value: ['application/json'] },
    { attribute: 'dataschema', value: false }
  ])('refuses a non-string optional attribute $attribute', ({ attribute, value }) => {
    const err = caught(() => validateCloudEvent(minimal({ [attribute]: value })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute })
    expect(err.message).toContain(`'${attribute}' must be a string`)
  })

  it.each([
    '2026-01-01',
    '2026-01-01T00:00:00',
    '2026-01-01 00:00:00Z',
    'yesterday',
    '1767225600000',
    '2026-13-01T00:00:00Z',
    '2026-01-01T25:00:00Z',
    1767225600000
  ])('refuses time %j', (time) => {
    const err = caught(() => validateCloudEvent(minimal({ time })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'time' })
    expect(err.message).toContain('RFC 3339')
  })

  it('refuses data and data_base64 together', () => {
    const err = caught(() => validateCloudEvent(minimal({ data: 'x', data_base64: 'AQID' })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'data_base64' })
    expect(err.message).toContain("together with 'data'")
  })

  it.each([
    { name: 'a length not a multiple of 4', value: 'AQI' },
    { name: 'three pad characters', value: 'A===' },
    { name: 'characters outside the alphabet', value: '!!!!' },
    { name: 'the URL-safe alphabet', value: 'AB-_' },
    { name: 'whitespace', value: 'AQID AQID' },
    { name: 'a number', value: 1234 },
    { name: 'an object', value: { b: 'AQID' } }
  ])('refuses data_base64 with $name', ({ value }) => {
    const err = caught(() => validateCloudEvent(minimal({ data_base64: value })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'data_base64' })
    expect(err.message).toContain('must be a base64 string')
  })

  it.each([
    { name: 'upper-case letters', ext: 'deviceKind' },
    { name: 'a hyphen', ext: 'device-kind' },
    { name: 'an underscore', ext: 'device_kind' },
    { name: 'a dot', ext: 'device.kind' },
    { name: 'a non-ASCII letter', ext: 'géo' },
    { name: '21 characters', ext: 'abcdefghijklmnopqrstu' },
    { name: 'no characters', ext: '' }
  ])('refuses an extension name with $name', ({ ext }) => {
    const err = caught(() => validateCloudEvent(minimal({ [ext]: 'x' })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: ext })
    expect(err.message).toContain(`'${ext}' is not a valid extension name`)
  })

  it.each([
    { name: 'an object', value: { a: 1 } },
    { name: 'an array', value: ['a'] },
    { name: 'NaN', value: Number.NaN },
    { name: 'Infinity', value: Number.POSITIVE_INFINITY }
  ])('refuses an extension value that is $name', ({ value }) => {
    const err = caught(() => validateCloudEvent(minimal({ myext: value })))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'myext' })
    expect(err.message).toContain("'myext' must be a string, a number or a boolean")
  })
})

describe('validateCloudEvent: error messages', () => {
  it.each([
    { index: undefined, prefix: "event: required attribute 'id' is missing" },
    { index: 0, prefix: "event 0: required attribute 'id' is missing" },
    { index: 3, prefix: "event 3: required attribute 'id' is missing" }
  ])('names the event as $prefix when the index is $index', ({ index, prefix }) => {
    const err = caught(() => validateCloudEvent(without('id'), index))
    expect(err.message).toBe(prefix)
    expect(err.details).toEqual({ attribute: 'id', index })
  })

  it('carries the batch index on an invalid-attribute error', () => {
    const err = caught(() => validateCloudEvent(minimal({ time: 'soon' }), 2))
    expect(err.message).toMatch(/^event 2: attribute 'time'/)
    expect(err.details).toEqual({ attribute: 'time', index: 2 })
  })

  it('carries the batch index on a not-an-object error', () => {
    const err = caught(() => validateCloudEvent(42, 5))
    expect(err.code).toBe('CLOUDEVENT_INVALID')
    expect(err.message).toMatch(/^event 5: /)
    expect(err.details).toEqual({ index: 5 })
  })

  it('reports a missing required attribute before an invalid optional one', () => {
    const err = caught(() => validateCloudEvent({ ...without('type'), time: 'soon', BadExt: 1 }))
    expect(err.code).toBe('CLOUDEVENT_MISSING_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'type' })
  })

  it('maps each code to HTTP 400', () => {
    expect(caught(() => validateCloudEvent(null)).status).toBe(400)
    expect(caught(() => validateCloudEvent(without('id'))).status).toBe(400)
    expect(caught(() => validateCloudEvent(minimal({ id: '' }))).status).toBe(400)
  })
})

describe('isRfc3339', () => {
  it.each([
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00z',
    '2026-01-01t00:00:00Z',
    '2026-06-15T12:34:56.789Z',
    '2026-06-15T12:34:56.123456789Z',
    '2026-06-15T12:34:56+05:30',
    '2026-06-15T12:34:56-08:00',
    '2024-02-29T00:00:00Z',
    '2026-12-31T23:59:59Z'
  ])('accepts %s', (value) => {
    expect(isRfc3339(value)).toBe(true)
  })

  it.each([
    '',
    '2026-01-01',
    '2026-01-01T00:00Z',
    '2026-01-01T00:00:00',
    '2026-01-01 00:00:00Z',
    '2026-01-01T00:00:00+0530',
    '2026-01-01T00:00:00+25:00',
    '2026-13-01T00:00:00Z',
    '2026-00-10T00:00:00Z',
    '2026-01-32T00:00:00Z',
    '2026-01-01T25:00:00Z',
    '2026-01-01T00:60:00Z',
    '2026-01-01T00:00:00.Z',
    ' 2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00Z\n',
    'Thu, 01 Jan 2026 00:00:00 GMT'
  ])('refuses %j', (value) => {
    expect(isRfc3339(value)).toBe(false)
  })

  // RFC 3339 §5.7: date-mday is limited by month and year, time-hour is 00-23
  // (Date.parse alone would roll 2026-02-30 over to 2026-03-02).
  it.each([
    '2026-02-30T00:00:00Z',
    '2026-04-31T12:00:00Z',
    '2025-02-29T00:00:00Z',
    '2026-01-01T24:00:00Z'
  ])('refuses the impossible date-time %s', (value) => {
    expect(isRfc3339(value)).toBe(false)
  })
})
