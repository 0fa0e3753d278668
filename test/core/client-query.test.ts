import { describe, expect, it } from 'vitest'
import { compileClientGroups } from '../../src/core/client-groups.js'
import { MAX_QUERY_LENGTH, parseClientQuery, type QueryClient } from '../../src/core/client-query.js'

const MONITOR: QueryClient = { authenticationName: 'mon-1', attributes: { role: 'monitor', floor: '3', sensors: 'motion', site: 'oslo' } }
const SENSOR: QueryClient = { authenticationName: 'sensor-1', attributes: { role: 'sensor', floor: '07', sensors: 'humidity', type: 'home-sensors' } }
const BARE: QueryClient = { authenticationName: 'bare', attributes: {} }

function matches (query: string, client: QueryClient): boolean {
  const parsed = parseClientQuery(query)
  if (!parsed.ok) throw new Error(parsed.error)
  return parsed.query.matches(client)
}

describe('client group queries: what matches', () => {
  it.each([
    // Event Grid's own examples
    { query: '(attributes.sensors = "motion" or attributes.sensors = "humidity") or attributes.type = "home-sensors"', monitor: true, sensor: true, bare: false },
    { query: 'attributes.sensors IN ["motion", "humidity", "temperature"] and attributes.floor <= 5', monitor: true, sensor: false, bare: false },
    { query: "authenticationName IN ['mon-1', 'client2']", monitor: true, sensor: false, bare: false },
    { query: "attributes.b IN ['a', 'b', 'c']", monitor: false, sensor: false, bare: false },
    // equality and inequality
    { query: "attributes.role = 'monitor'", monitor: true, sensor: false, bare: false },
    { query: "attributes.role != 'monitor'", monitor: false, sensor: true, bare: true },
    { query: "attributes.role <> 'monitor'", monitor: false, sensor: true, bare: true },
    { query: "attributes.role = 'Monitor'", monitor: false, sensor: false, bare: false },
    { query: "authenticationName = 'sensor-1'", monitor: false, sensor: true, bare: false },
    // integers compare numerically with integer values only
    { query: 'attributes.floor = 7', monitor: false, sensor: true, bare: false },
    { query: "attributes.floor = '7'", monitor: false, sensor: false, bare: false },
    { query: 'attributes.floor > 3', monitor: false, sensor: true, bare: false },
    { query: 'attributes.floor >= 3', monitor: true, sensor: true, bare: false },
    { query: 'attributes.floor < 4', monitor: true, sensor: false, bare: false },
    { query: 'attributes.floor <= -1', monitor: false, sensor: false, bare: false },
    { query: 'attributes.role > 1', monitor: false, sensor: false, bare: false },
    { query: 'attributes.floor != 3', monitor: false, sensor: true, bare: true },
    { query: 'attributes.floor IN (3, 4)', monitor: true, sensor: false, bare: false },
    // precedence: AND binds tighter than OR; parentheses override
    { query: "attributes.role = 'sensor' OR attributes.role = 'monitor' AND attributes.site = 'bergen'", monitor: false, sensor: true, bare: false },
    { query: "(attributes.role = 'sensor' OR attributes.role = 'monitor') AND attributes.site = 'oslo'", monitor: true, sensor: false, bare: false },
    { query: "attributes.role = 'monitor' aNd attributes.site = 'oslo'", monitor: true, sensor: false, bare: false },
    // quoting
    { query: "attributes.role IN ['it''s', 'monitor']", monitor: true, sensor: false, bare: false },
    { query: 'attributes.type = "home-sensors"', monitor: false, sensor: true, bare: false },
    // attribute names that are not own data
    { query: "attributes.constructor = 'x'", monitor: false, sensor: false, bare: false },
    { query: "attributes.__proto__ != 'x'", monitor: true, sensor: true, bare: true }
  ])('$query', ({ query, monitor, sensor, bare }) => {
    expect([matches(query, MONITOR), matches(query, SENSOR), matches(query, BARE)]).toEqual([monitor, sensor, bare])
  })

  it('reads a quote doubled inside a string as the quote', () => {
    expect(matches("attributes.name = 'it''s'", { authenticationName: 'x', attributes: { name: "it's" } })).toBe(true)
    expect(matches('attributes.name = "say ""hi"""', { authenticationName: 'x', attributes: { name: 'say "hi"' } })).toBe(true)
  })

  it('keeps the query text', () => {
    const parsed = parseClientQuery("attributes.role = 'monitor'")
    expect(parsed.ok && parsed.query.text).toBe("attributes.role = 'monitor'")
  })
})

describe('client group queries: what is refused, and where', () => {
  it.each([
    { query: '', error: 'the query is empty' },
    { query: '   ', error: 'the query is empty' },
    { query: "role = 'monitor'", error: "at character 1: expected attributes.NAME or authenticationName but found 'role'" },
    { query: "attributes.role == 'monitor'", error: "at character 18: expected a quoted string or an integer but found '='" },
    { query: "attributes.role = 'monitor", error: 'at character 19: the string starting here has no closing \'' },
    { query: 'attributes.role = monitor', error: "at character 19: expected a quoted string or an integer but found 'monitor'" },
    { query: "attributes.role 'monitor'", error: "at character 17: expected an operator (=, !=, <>, <, >, <=, >=, IN) but found the string 'monitor'" },
    { query: "attributes.floor < '5'", error: "at character 20: '<' compares integers: the value must be an integer" },
    { query: "attributes.role = 'a' AND", error: 'at character 26: expected attributes.NAME or authenticationName but found the end of the query' },
    { query: "attributes.role = 'a' attributes.site = 'b'", error: "at character 23: expected AND, OR or the end of the query but found 'attributes.site'" },
    { query: "(attributes.role = 'a'", error: "at character 23: expected ')' but found the end of the query" },
    { query: "attributes.role IN 'a'", error: "at character 20: expected '[' after IN but found the string 'a'" },
    { query: "attributes.role IN ['a' 'b']", error: "at character 25: expected ',' or ']' but found the string 'b'" },
    { query: 'attributes.role IN []', error: "at character 21: expected a quoted string or an integer but found ']'" },
    { query: "NOT attributes.role = 'a'", error: 'at character 1: NOT is not part of the query language: use != or <>' },
    { query: "attributes. = 'a'", error: "at character 1: '' is not an attribute name (1-64 letters, digits, '_', '.', '-')" },
    { query: "attributes.role = 'a' ; drop", error: "at character 23: unexpected ';'" },
    { query: 'attributes.n = 99999999999999999999', error: 'at character 16: 99999999999999999999 is not an integer gridgate can compare' }
  ])('$query', ({ query, error }) => {
    expect(parseClientQuery(query)).toEqual({ ok: false, error })
  })

  it('refuses queries longer than the limit and nesting deeper than 32', () => {
    expect(parseClientQuery(`attributes.a = '${'x'.repeat(MAX_QUERY_LENGTH)}'`)).toEqual({ ok: false, error: `the query is longer than ${MAX_QUERY_LENGTH} characters` })
    expect(parseClientQuery(`${'('.repeat(32)}attributes.a = 1${')'.repeat(32)}`).ok).toBe(true)
    expect(parseClientQuery(`${'('.repeat(33)}attributes.a = 1${')'.repeat(33)}`)).toEqual({ ok: false, error: 'at character 33: parentheses nest deeper than 32' })
  })
})

describe('client groups', () => {
  const groups = compileClientGroups({
    monitors: "attributes.role = 'monitor'",
    'oslo-site': "attributes.site = 'oslo'",
    upstairs: 'attributes.floor > 5'
  })

  it.each([
    { name: 'a monitor in oslo', client: MONITOR, expected: ['$all', 'monitors', 'oslo-site'] },
    { name: 'a sensor upstairs', client: SENSOR, expected: ['$all', 'upstairs'] },
    { name: 'a client without attributes', client: BARE, expected: ['$all'] }
  ])('puts $name in $expected', ({ client, expected }) => {
    expect(groups.of(client)).toEqual(expected)
  })

  it('names $all first, then the configured groups in order', () => {
    expect(groups.names).toEqual(['$all', 'monitors', 'oslo-site', 'upstairs'])
    expect(compileClientGroups({}).of(BARE)).toEqual(['$all'])
  })
})
