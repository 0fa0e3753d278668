import { describe, it, expect } from 'vitest'
import { intParam, timeParam, type Query } from '../../src/http/query.js'
import { caught } from '../helpers/errors.js'

const RANGE = { min: 1, max: 1000 }

describe('intParam', () => {
  it.each([
    { query: {}, expected: undefined },
    { query: { limit: undefined }, expected: undefined },
    { query: { other: '5' }, expected: undefined },
    { query: { limit: '1' }, expected: 1 },
    { query: { limit: '42' }, expected: 42 },
    { query: { limit: '1000' }, expected: 1000 }
  ])('reads $query as $expected', ({ query, expected }) => {
    expect(intParam(query, 'limit', RANGE)).toBe(expected)
  })

  it.each([
    { name: 'an empty value', value: '' },
    { name: 'below the minimum', value: '0' },
    { name: 'above the maximum', value: '1001' },
    { name: 'a negative number', value: '-1' },
    { name: 'a fraction', value: '1.5' },
    { name: 'an exponent', value: '1e2' },
    { name: 'a hexadecimal number', value: '0x10' },
    { name: 'a plus sign', value: '+5' },
    { name: 'surrounding spaces', value: ' 5 ' },
    { name: 'a word', value: 'ten' },
    { name: 'a number with a unit', value: '5ms' },
    { name: 'beyond the safe integers', value: '9007199254740993' }
  ])('refuses $name, naming the parameter', ({ value }) => {
    const err = caught(() => intParam({ limit: value }, 'limit', RANGE))
    expect(err.code).toBe('QUERY_PARAM_INVALID')
    expect(err.status).toBe(400)
    expect(err.details).toEqual({ param: 'limit' })
    expect(err.message).toContain("query parameter 'limit' must be an integer from 1 to 1000")
  })

  it('accepts the whole safe-integer range when asked to', () => {
    const max = Number.MAX_SAFE_INTEGER
    expect(intParam({ offset: String(max) }, 'offset', { min: 0, max })).toBe(max)
    expect(intParam({ offset: '0' }, 'offset', { min: 0, max })).toBe(0)
  })

  it('refuses a repeated parameter, naming it', () => {
    const err = caught(() => intParam({ limit: ['1', '2'] }, 'limit', RANGE))
    expect(err.code).toBe('QUERY_PARAM_INVALID')
    expect(err.details).toEqual({ param: 'limit' })
    expect(err.message).toContain("'limit' is given more than once")
  })

  it('quotes at most 40 characters of a bad value', () => {
    const err = caught(() => intParam({ limit: 'a'.repeat(40) + 'TAIL' }, 'limit', RANGE))
    expect(err.message).toContain(`not '${'a'.repeat(40)}'`)
    expect(err.message).not.toContain('TAIL')
  })
})

describe('timeParam', () => {
  it.each([
    { value: '2026-01-01T00:00:00Z', expected: Date.UTC(2026, 0, 1) },
    { value: '2026-01-01T00:00:00.250Z', expected: Date.UTC(2026, 0, 1, 0, 0, 0, 250) },
    { value: '2026-01-01T01:00:00+01:00', expected: Date.UTC(2026, 0, 1) },
    { value: '2025-12-31T19:00:00-05:00', expected: Date.UTC(2026, 0, 1) }
  ])('reads $value as ms since the epoch', ({ value, expected }) => {
    expect(timeParam({ from: value }, 'from')).toBe(expected)
  })

  it.each([{}, { from: undefined }, { to: '2026-01-01T00:00:00Z' }] satisfies Query[])('returns undefined when the parameter is absent (%j)', (query) => {
    expect(timeParam(query, 'from')).toBeUndefined()
  })

  it.each([
    '',
    'now',
    '2026-01-01',
    '2026-01-01T00:00:00',
    '1767225600000',
    '2026-01-01 00:00:00Z',
    '2026-13-01T00:00:00Z'
  ])('refuses %j, naming the parameter', (value) => {
    const err = caught(() => timeParam({ from: value }, 'from'))
    expect(err.code).toBe('QUERY_PARAM_INVALID')
    expect(err.details).toEqual({ param: 'from' })
    expect(err.message).toContain("query parameter 'from' must be an RFC 3339 time")
  })

  it('refuses a repeated parameter, naming it', () => {
    const err = caught(() => timeParam({ from: ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'] }, 'from'))
    expect(err.code).toBe('QUERY_PARAM_INVALID')
    expect(err.details).toEqual({ param: 'from' })
    expect(err.message).toContain("'from' is given more than once")
  })
})
