import { describe, it, expect } from 'vitest'
import { compileSchema } from '../../src/core/validation.js'
import { intQuery, query } from '../../src/http/schemas.js'

// Query parameters as the routes declare them (http/schemas.ts), checked the way fastify
// checks them: the same compiled schema and error formatter (http/validation.ts).

const LIMIT = query({ limit: intQuery(1, 1000, 'events') })
const FROM = query({ from: { type: 'string', format: 'date-time' } })
const OFFSET = query({ offset: intQuery(0, Number.MAX_SAFE_INTEGER, 'offset') })

/** The query as the handler sees it, or the error answered. */
function check (schema: Record<string, unknown>, q: Record<string, unknown>) {
  const data = { ...q }
  const error = compileSchema(schema, 'querystring')(data)
  return { data, error }
}

describe('integer query parameters', () => {
  it.each([
    { query: {}, expected: undefined },
    { query: { other: '5' }, expected: undefined },
    { query: { limit: '1' }, expected: 1 },
    { query: { limit: '42' }, expected: 42 },
    { query: { limit: '1000' }, expected: 1000 }
  ])('reads $query as $expected', ({ query, expected }) => {
    const { data, error } = check(LIMIT, query)
    expect(error).toBeUndefined()
    expect(data.limit).toBe(expected)
  })

  it('fills in the default', () => {
    expect(check(query({ limit: intQuery(1, 10, 'x', 7) }), {}).data.limit).toBe(7)
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
  ])('refuses $name, naming the parameter and quoting the value', ({ value }) => {
    const { error } = check(LIMIT, { limit: value })
    expect(error?.code).toBe('QUERY_PARAM_INVALID')
    expect(error?.status).toBe(400)
    expect(error?.details).toEqual({ param: 'limit' })
    expect(error?.message).toBe(`query parameter 'limit' must be an integer from 1 to 1000, not '${value}'`)
  })

  it('accepts the whole safe-integer range when asked to', () => {
    expect(check(OFFSET, { offset: String(Number.MAX_SAFE_INTEGER) }).data.offset).toBe(Number.MAX_SAFE_INTEGER)
    expect(check(OFFSET, { offset: '0' }).data.offset).toBe(0)
  })

  it('refuses a repeated parameter, naming it', () => {
    const { error } = check(LIMIT, { limit: ['1', '2'] })
    expect(error?.code).toBe('QUERY_PARAM_INVALID')
    expect(error?.details).toEqual({ param: 'limit' })
    expect(error?.message).toBe("query parameter 'limit' is given more than once")
  })

  it('quotes at most 40 characters of a bad value', () => {
    const { error } = check(LIMIT, { limit: 'a'.repeat(40) + 'TAIL' })
    expect(error?.message).toContain(`not '${'a'.repeat(40)}'`)
    expect(error?.message).not.toContain('TAIL')
  })
})

describe('time query parameters', () => {
  it.each([
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00.250Z',
    '2026-01-01T01:00:00+01:00',
    '2025-12-31T19:00:00-05:00'
  ])('accepts %s', (value) => {
    expect(check(FROM, { from: value }).error).toBeUndefined()
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
    const { error } = check(FROM, { from: value })
    expect(error?.code).toBe('QUERY_PARAM_INVALID')
    expect(error?.details).toEqual({ param: 'from' })
    expect(error?.message).toContain("query parameter 'from' must be an RFC 3339 time")
  })

  it('refuses a repeated parameter, naming it', () => {
    const { error } = check(FROM, { from: ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'] })
    expect(error?.details).toEqual({ param: 'from' })
    expect(error?.message).toContain("'from' is given more than once")
  })
})

describe('enumerated query parameters', () => {
  const STATUS = query({ status: { type: 'string', enum: ['pending', 'sent'] } })
  it('names the allowed values', () => {
    expect(check(STATUS, { status: 'done' }).error?.message).toBe("query parameter 'status' must be one of 'pending', 'sent', not 'done'")
  })
})
