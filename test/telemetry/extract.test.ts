import { describe, expect, it } from 'vitest'
import { MAX_DEPTH, eventTime, extractReadings, parseRfc3339, type ExtractOptions, type Reading } from '../../src/telemetry/extract.js'

const RECEIVED = Date.UTC(2026, 0, 10, 12, 0, 0)

describe('extractReadings', () => {
  it.each<{ name: string, data: unknown, opts?: ExtractOptions, readings: Reading[], skipped: number }>([
    {
      name: 'every numeric field, nested ones by dot path',
      data: { temperature: 21.5, env: { humidity: 40, pressure: { hPa: 1013 } }, id: 7 },
      readings: [{ metric: 'temperature', value: 21.5 }, { metric: 'env.humidity', value: 40 }, { metric: 'env.pressure.hPa', value: 1013 }, { metric: 'id', value: 7 }],
      skipped: 0
    },
    {
      name: 'booleans, strings and null skipped and counted',
      data: { t: 1, ok: true, name: 'pump', err: null, nested: { on: false, v: -2 } },
      readings: [{ metric: 't', value: 1 }, { metric: 'nested.v', value: -2 }],
      skipped: 4
    },
    {
      name: 'arrays not descended, each counted once',
      data: { samples: [1, 2, 3], matrix: [[1]], v: 0 },
      readings: [{ metric: 'v', value: 0 }],
      skipped: 2
    },
    {
      name: 'non-finite numbers skipped',
      data: { a: NaN, b: Infinity, c: -Infinity, d: 1e308 },
      readings: [{ metric: 'd', value: 1e308 }],
      skipped: 3
    },
    {
      name: 'empty objects give nothing and are not counted',
      data: { meta: {}, v: 3 },
      readings: [{ metric: 'v', value: 3 }],
      skipped: 0
    },
    {
      name: 'data that is itself a number gives one reading named "value"',
      data: 23.5,
      readings: [{ metric: 'value', value: 23.5 }],
      skipped: 0
    },
    { name: 'data that is a string counts as one skipped', data: 'hello', readings: [], skipped: 1 },
    { name: 'data that is an array counts as one skipped', data: [1, 2], readings: [], skipped: 1 },
    { name: 'no data at all gives nothing', data: undefined, readings: [], skipped: 0 },
    {
      name: 'only the listed fields, by dot path',
      data: { temperature: 21.5, env: { humidity: 40, co2: 600 }, battery: 88 },
      opts: { fields: ['temperature', 'env.humidity'] },
      readings: [{ metric: 'temperature', value: 21.5 }, { metric: 'env.humidity', value: 40 }],
      skipped: 0
    },
    {
      name: 'a listed field that is not a number is skipped and counted',
      data: { temperature: '21.5', status: null, level: [1, 2] },
      opts: { fields: ['temperature', 'status', 'level'] },
      readings: [],
      skipped: 3
    },
    {
      name: 'a listed field missing from the data is not counted',
      data: { temperature: 20 },
      opts: { fields: ['temperature', 'humidity', 'env.co2'] },
      readings: [{ metric: 'temperature', value: 20 }],
      skipped: 0
    },
    {
      name: 'a listed path ending at an object takes the numeric fields under it',
      data: { env: { humidity: 40, co2: 600, label: 'x' }, battery: 88 },
      opts: { fields: ['env'] },
      readings: [{ metric: 'env.humidity', value: 40 }, { metric: 'env.co2', value: 600 }],
      skipped: 1
    },
    {
      name: 'paths do not go through arrays or into inherited properties',
      data: { list: [{ v: 1 }], obj: {} },
      opts: { fields: ['list.0.v', 'obj.constructor', 'toString'] },
      readings: [],
      skipped: 0
    },
    {
      name: 'an empty field list reads nothing',
      data: { v: 1 },
      opts: { fields: [] },
      readings: [],
      skipped: 0
    }
  ])('$name', ({ data, opts, readings, skipped }) => {
    expect(extractReadings(data, opts)).toEqual({ readings, skipped })
  })

  it(`counts nesting deeper than ${MAX_DEPTH} levels as skipped instead of walking it`, () => {
    let deep: Record<string, unknown> = { v: 1 }
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep }
    deep.top = 2
    expect(extractReadings(deep)).toEqual({ readings: [{ metric: 'top', value: 2 }], skipped: 1 })
  })
})

describe('eventTime', () => {
  it.each<{ name: string, data: unknown, field: string | undefined, expected: number | undefined }>([
    { name: 'the arrival time when no time field is configured', data: { ts: 5 }, field: undefined, expected: RECEIVED },
    { name: 'the arrival time when the field is absent', data: { v: 1 }, field: 'ts', expected: RECEIVED },
    { name: 'the arrival time when the data is not an object', data: 42, field: 'ts', expected: RECEIVED },
    { name: 'an epoch-ms number', data: { ts: 1_700_000_000_123 }, field: 'ts', expected: 1_700_000_000_123 },
    { name: 'a nested field by dot path', data: { meta: { time: 1000 } }, field: 'meta.time', expected: 1000 },
    { name: 'an RFC 3339 string in UTC', data: { ts: '2021-10-26T10:15:01Z' }, field: 'ts', expected: Date.UTC(2021, 9, 26, 10, 15, 1) },
    { name: 'Stream Analytics\' 7-digit fractions, truncated to ms', data: { ts: '2017-01-26T00:00:20.1239999z' }, field: 'ts', expected: Date.UTC(2017, 0, 26, 0, 0, 20, 123) },
    { name: 'a numeric offset', data: { ts: '2021-10-26T12:15:01.5+02:00' }, field: 'ts', expected: Date.UTC(2021, 9, 26, 10, 15, 1, 500) },
    { name: 'a negative offset across midnight', data: { ts: '2021-12-31T23:30:00-01:00' }, field: 'ts', expected: Date.UTC(2022, 0, 1, 0, 30) },
    { name: 'undefined for a date-time without an offset', data: { ts: '2021-10-26T10:15:01' }, field: 'ts', expected: undefined },
    { name: 'undefined for a date only', data: { ts: '2021-10-26' }, field: 'ts', expected: undefined },
    { name: 'undefined for 30 February', data: { ts: '2021-02-30T00:00:00Z' }, field: 'ts', expected: undefined },
    { name: 'undefined for hour 24', data: { ts: '2021-10-26T24:00:00Z' }, field: 'ts', expected: undefined },
    { name: 'undefined for a numeric string', data: { ts: '1700000000000' }, field: 'ts', expected: undefined },
    { name: 'undefined for a boolean', data: { ts: true }, field: 'ts', expected: undefined },
    { name: 'undefined for null', data: { ts: null }, field: 'ts', expected: undefined },
    { name: 'undefined for NaN', data: { ts: NaN }, field: 'ts', expected: undefined },
    { name: 'undefined for a number beyond the Date range', data: { ts: 9e15 }, field: 'ts', expected: undefined }
  ])('$name', ({ data, field, expected }) => {
    expect(eventTime(data, field, RECEIVED)).toBe(expected)
  })

  it.each([
    ['29 February of a leap year', '2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['29 February of 2000 (divisible by 400)', '2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['a lowercase t and z', '2021-10-26t10:15:01z', Date.UTC(2021, 9, 26, 10, 15, 1)],
    ['a space for T (RFC 3339 note)', '2021-10-26 10:15:01Z', Date.UTC(2021, 9, 26, 10, 15, 1)],
    ['a leap second, folded into the next minute', '2016-12-31T23:59:60Z', Date.UTC(2017, 0, 1)],
    ['a year below 100, not mapped to the 1900s', '0050-01-01T00:00:00Z', -60589296000000]
  ])('parses %s', (_, text, expected) => {
    expect(parseRfc3339(text)).toBe(expected)
  })

  it.each(['1900-02-29T00:00:00Z', '2021-13-01T00:00:00Z', '2021-10-26T10:60:00Z', '2021-10-26T10:00:00+24:00', ' 2021-10-26T10:00:00Z'])('rejects %s', (text) => {
    expect(parseRfc3339(text)).toBeUndefined()
  })
})
