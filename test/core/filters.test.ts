import { describe, it, expect } from 'vitest'
import { compileFilters, FILTER_LIMITS, type AdvancedFilter } from '../../src/core/filters.js'
import { caught } from '../helpers/errors.js'

// One event that every operator table reads. Mixed case throughout, so that a case-sensitive
// comparison fails a row; falsy values (0, false, '') so that a truthiness check fails one.
const EVENT: Record<string, unknown> = {
  specversion: '1.0',
  id: 'Evt-1',
  source: '/Devices/D1',
  type: 'Com.Example.Reading',
  subject: 'Devices/D1/Temp',
  time: '2026-01-01T00:00:00.000Z',
  datacontenttype: 'application/json',
  dataschema: 'https://example.com/Reading.json',
  region: 'EU-West',
  priority: 3,
  urgent: true,
  nothing: null,
  data: {
    temp: 21.5,
    count: 0,
    below: -4,
    label: 'Boiler-Room',
    blank: '',
    on: false,
    boolstr: 'true',
    numstr: '21.5',
    none: null,
    tags: ['Alpha', 'Beta'],
    readings: [5, 15, 25],
    flags: [false, true],
    mixed: ['a', 5],
    items: [{ id: 1 }, { id: 2 }],
    nested: { deep: { value: 7, name: 'Deep' } },
    empty: [],
    Case: 'upper',
    'dotted.name': 'x'
  }
}

const SINGLE_VALUE = new Set(['NumberLessThan', 'NumberGreaterThan', 'NumberLessThanOrEquals', 'NumberGreaterThanOrEquals', 'BoolEquals'])
const NO_VALUE = new Set(['IsNullOrUndefined', 'IsNotNull'])

function filter (operatorType: string, key: string, operand?: unknown): AdvancedFilter {
  if (NO_VALUE.has(operatorType)) return { operatorType, key }
  return SINGLE_VALUE.has(operatorType) ? { operatorType, key, value: operand } : { operatorType, key, values: operand as unknown[] }
}

type Case = [behaviour: string, key: string, operand: unknown, expected: boolean]

function table (operatorType: string, cases: Case[]): Array<{ behaviour: string, filter: AdvancedFilter, expected: boolean }> {
  return cases.map(([behaviour, key, operand, expected]) => ({ behaviour: `${operatorType} ${behaviour}`, filter: filter(operatorType, key, operand), expected }))
}

function matches (f: AdvancedFilter, event: Record<string, unknown> = EVENT): boolean {
  return compileFilters({ filters: [f] })(event)
}

describe('compileFilters: number operators', () => {
  it.each([
    ...table('NumberIn', [
      ['matches a listed number', 'data.temp', [1, 21.5], true],
      ['fails a number that is not listed', 'data.temp', [1, 21], false],
      ['matches zero', 'data.count', [0], true],
      ['matches an extension attribute', 'priority', [3], true],
      ['matches an array when any element is listed', 'data.readings', [99, 15], true],
      ['fails an array when no element is listed', 'data.readings', [99, 16], false],
      ['fails a numeric string (no coercion)', 'data.numstr', [21.5], false],
      ['fails a boolean', 'data.on', [0], false],
      ['fails an array of objects', 'data.items', [1], false],
      ['fails an empty array', 'data.empty', [1], false],
      ['fails a missing key', 'data.absent', [1], false],
      ['fails a null value', 'data.none', [1], false]
    ]),
    ...table('NumberNotIn', [
      ['holds for a number that is not listed', 'data.temp', [1, 2], true],
      ['fails for a listed number', 'data.temp', [1, 21.5], false],
      ['fails for a listed zero', 'data.count', [0], false],
      ['holds for an array when no element is listed', 'data.readings', [1, 2], true],
      ['fails for an array when any element is listed', 'data.readings', [1, 25], false],
      ['holds for an empty array', 'data.empty', [1], true],
      ['holds for a missing key', 'data.absent', [1], true],
      ['holds for a null value', 'data.none', [1], true],
      ['fails for a string (wrong type)', 'data.label', [1], false],
      ['fails for a numeric string (no coercion)', 'data.numstr', [1], false],
      ['fails for an array of objects', 'data.items', [1], false],
      ['fails for an array with a wrong-typed element', 'data.mixed', [1], false]
    ]),
    ...table('NumberLessThan', [
      ['matches a smaller number', 'data.temp', 22, true],
      ['fails an equal number', 'data.temp', 21.5, false],
      ['fails a larger number', 'data.temp', 21, false],
      ['matches a negative number', 'data.below', 0, true],
      ['matches an array when any element is smaller', 'data.readings', 6, true],
      ['fails an array when no element is smaller', 'data.readings', 5, false],
      ['fails a numeric string', 'data.numstr', 100, false],
      ['fails a missing key', 'data.absent', 100, false],
      ['fails a null value', 'data.none', 100, false]
    ]),
    ...table('NumberGreaterThan', [
      ['matches a larger number', 'data.temp', 21, true],
      ['fails an equal number', 'data.temp', 21.5, false],
      ['fails a smaller number', 'data.temp', 22, false],
      ['matches an array when any element is larger', 'data.readings', 24, true],
      ['fails an array when no element is larger', 'data.readings', 25, false],
      ['fails a numeric string', 'data.numstr', 0, false],
      ['fails a missing key', 'data.absent', -100, false],
      ['fails a null value', 'data.none', -100, false]
    ]),
    ...table('NumberLessThanOrEquals', [
      ['matches an equal number', 'data.temp', 21.5, true],
      ['matches a smaller number', 'data.temp', 30, true],
      ['fails a larger number', 'data.temp', 21.4, false],
      ['matches zero against zero', 'data.count', 0, true],
      ['matches an array when any element is smaller or equal', 'data.readings', 5, true],
      ['fails an array when no element is smaller or equal', 'data.readings', 4, false],
      ['fails a boolean', 'data.on', 1, false],
      ['fails a missing key', 'data.absent', 100, false]
    ]),
    ...table('NumberGreaterThanOrEquals', [
      ['matches an equal number', 'data.temp', 21.5, true],
      ['matches a larger number', 'data.temp', 0, true],
      ['fails a smaller number', 'data.temp', 21.6, false],
      ['matches an array when any element is larger or equal', 'data.readings', 25, true],
      ['fails an array when no element is larger or equal', 'data.readings', 26, false],
      ['fails an array of objects', 'data.items', 0, false],
      ['fails a missing key', 'data.absent', -100, false],
      ['fails a null value', 'data.none', -100, false]
    ]),
    ...table('NumberInRange', [
      ['matches a number inside a range', 'data.temp', [[20, 22]], true],
      ['matches the low bound (inclusive)', 'data.temp', [[21.5, 30]], true],
      ['matches the high bound (inclusive)', 'data.temp', [[0, 21.5]], true],
      ['matches a one-point range', 'data.temp', [[21.5, 21.5]], true],
      ['fails a number outside every range', 'data.temp', [[0, 21.4], [21.6, 30]], false],
      ['matches when any of several ranges holds', 'data.temp', [[0, 10], [20, 30]], true],
      ['matches negative ranges', 'data.below', [[-10, -1]], true],
      ['matches an array when any element is in range', 'data.readings', [[10, 20]], true],
      ['fails an array when no element is in range', 'data.readings', [[6, 14], [16, 24]], false],
      ['fails a string', 'data.label', [[0, 100]], false],
      ['fails a missing key', 'data.absent', [[-100, 100]], false],
      ['fails a null value', 'data.none', [[-100, 100]], false]
    ]),
    ...table('NumberNotInRange', [
      ['holds for a number outside every range', 'data.temp', [[0, 10], [22, 30]], true],
      ['fails for a number inside a range', 'data.temp', [[0, 10], [20, 30]], false],
      ['fails on the low bound (inclusive)', 'data.temp', [[21.5, 30]], false],
      ['fails on the high bound (inclusive)', 'data.temp', [[0, 21.5]], false],
      ['holds for an array when no element is in range', 'data.readings', [[6, 14], [16, 24]], true],
      ['fails for an array when any element is in range', 'data.readings', [[0, 5]], false],
      ['holds for an empty array', 'data.empty', [[0, 5]], true],
      ['fails for a missing key (only NumberNotIn and StringNotIn pass one)', 'data.absent', [[0, 5]], false],
      ['fails for a null value', 'data.none', [[0, 5]], false],
      ['fails for a string (wrong type)', 'data.label', [[0, 5]], false],
      ['fails for an array of objects', 'data.items', [[100, 200]], false]
    ])
  ])('$behaviour', ({ filter, expected }) => {
    expect(matches(filter)).toBe(expected)
  })
})

describe('compileFilters: BoolEquals', () => {
  it.each(table('BoolEquals', [
    ['matches true against true', 'urgent', true, true],
    ['fails true against false', 'urgent', false, false],
    ['matches false against false', 'data.on', false, true],
    ['fails false against true', 'data.on', true, false],
    ['matches an array when any element is equal', 'data.flags', true, true],
    ['fails a string "true" (no coercion)', 'data.boolstr', true, false],
    ['fails a number', 'data.count', false, false],
    ['fails a missing key', 'data.absent', false, false],
    ['fails a null value', 'data.none', false, false]
  ]))('$behaviour', ({ filter, expected }) => {
    expect(matches(filter)).toBe(expected)
  })

  it('fails an array when no element is equal', () => {
    expect(matches(filter('BoolEquals', 'data.flags', true), { ...EVENT, data: { flags: [false, false] } })).toBe(false)
  })
})

describe('compileFilters: string operators', () => {
  it.each([
    ...table('StringContains', [
      ['matches a substring', 'data.label', ['room'], true],
      ['matches regardless of the event value\'s case', 'data.label', ['r-ro'], true],
      ['matches regardless of the filter value\'s case', 'data.label', ['ROOM'], true],
      ['fails when no value is contained', 'data.label', ['kitchen', 'hall'], false],
      ['matches when any of several values is contained', 'data.label', ['kitchen', 'BOILER'], true],
      ['matches an array when any element contains a value', 'data.tags', ['ph'], true],
      ['fails an array when no element contains a value', 'data.tags', ['gamma'], false],
      ['fails a number (no coercion)', 'data.temp', ['21'], false],
      ['fails an object without stringifying it', 'data.nested', ['deep'], false],
      ['fails an array of objects without stringifying it', 'data.items', ['id'], false],
      ['fails a missing key', 'data.absent', ['a'], false],
      ['fails a null value', 'data.none', ['null'], false]
    ]),
    ...table('StringNotContains', [
      ['holds when no value is contained', 'data.label', ['kitchen', 'hall'], true],
      ['fails when a value is contained, whatever its case', 'data.label', ['kitchen', 'BOILER'], false],
      ['holds for an array when no element contains a value', 'data.tags', ['gamma'], true],
      ['fails for an array when any element contains a value', 'data.tags', ['bet'], false],
      ['holds for an empty array', 'data.empty', ['a'], true],
      ['fails for a missing key (only NumberNotIn and StringNotIn pass one)', 'data.absent', ['a'], false],
      ['fails for a null value', 'data.none', ['a'], false],
      ['fails for a number (wrong type)', 'data.temp', ['x'], false],
      ['fails for an array with a wrong-typed element', 'data.mixed', ['z'], false],
      ['fails for an array of objects', 'data.items', ['z'], false]
    ]),
    ...table('StringBeginsWith', [
      ['matches a prefix, whatever its case', 'data.label', ['bOILER'], true],
      ['fails a value found elsewhere than at the start', 'data.label', ['room'], false],
      ['matches when any of several values is a prefix', 'data.label', ['x', 'boil'], true],
      ['matches the subject attribute', 'subject', ['devices/d1/'], true],
      ['matches an array when any element begins with a value', 'data.tags', ['be'], true],
      ['fails an array when no element begins with a value', 'data.tags', ['et'], false],
      ['fails a number', 'data.temp', ['2'], false],
      ['fails a missing key', 'data.absent', [''], false],
      ['fails a null value', 'data.none', [''], false]
    ]),
    ...table('StringNotBeginsWith', [
      ['holds when no value is a prefix', 'data.label', ['room', 'x'], true],
      ['fails when a value is a prefix, whatever its case', 'data.label', ['room', 'BOILER'], false],
      ['holds for an array when no element begins with a value', 'data.tags', ['gam'], true],
      ['fails for an array when any element begins with a value', 'data.tags', ['al'], false],
      ['fails for a missing key', 'data.absent', ['x'], false],
      ['fails for a null value', 'data.none', ['x'], false],
      ['fails for a number (wrong type)', 'data.temp', ['x'], false]
    ]),
    ...table('StringEndsWith', [
      ['matches a suffix, whatever its case', 'data.label', ['ROOM'], true],
      ['fails a value found elsewhere than at the end', 'data.label', ['boiler'], false],
      ['matches when any of several values is a suffix', 'data.label', ['x', '-room'], true],
      ['matches an array when any element ends with a value', 'data.tags', ['TA'], true],
      ['fails an array when no element ends with a value', 'data.tags', ['x'], false],
      ['fails a boolean', 'data.on', ['false'], false],
      ['fails a missing key', 'data.absent', [''], false],
      ['fails a null value', 'data.none', [''], false]
    ]),
    ...table('StringNotEndsWith', [
      ['holds when no value is a suffix', 'data.label', ['boiler', 'x'], true],
      ['fails when a value is a suffix, whatever its case', 'data.label', ['x', 'ROOM'], false],
      ['holds for an array when no element ends with a value', 'data.tags', ['x'], true],
      ['fails for an array when any element ends with a value', 'data.tags', ['pha'], false],
      ['fails for a missing key', 'data.absent', ['x'], false],
      ['fails for a null value', 'data.none', ['x'], false],
      ['fails for a number (wrong type)', 'data.temp', ['x'], false]
    ]),
    ...table('StringIn', [
      ['matches a listed string, whatever its case', 'data.label', ['BOILER-room'], true],
      ['fails a string that only contains a listed value', 'data.label', ['boiler'], false],
      ['matches when any of several values is equal', 'data.label', ['x', 'boiler-room'], true],
      ['matches the empty string', 'data.blank', [''], true],
      ['matches an array when any element is listed', 'data.tags', ['beta'], true],
      ['fails an array when no element is listed', 'data.tags', ['gamma'], false],
      ['fails a number (no coercion)', 'data.temp', ['21.5'], false],
      ['fails a boolean (no coercion)', 'urgent', ['true'], false],
      ['fails a missing key', 'data.absent', [''], false],
      ['fails a null value', 'data.none', ['null'], false]
    ]),
    ...table('StringNotIn', [
      ['holds for a string that is not listed', 'data.label', ['kitchen'], true],
      ['fails for a listed string, whatever its case', 'data.label', ['kitchen', 'BOILER-ROOM'], false],
      ['holds for an array when no element is listed', 'data.tags', ['gamma'], true],
      ['fails for an array when any element is listed', 'data.tags', ['gamma', 'ALPHA'], false],
      ['holds for an empty array', 'data.empty', ['a'], true],
      ['holds for a missing key', 'data.absent', ['a'], true],
      ['holds for a null value', 'data.none', ['a'], true],
      ['fails for a number (wrong type)', 'data.temp', ['x'], false],
      ['fails for an array of objects', 'data.items', ['x'], false],
      ['fails for an array with a wrong-typed element', 'data.mixed', ['z'], false]
    ])
  ])('$behaviour', ({ filter, expected }) => {
    expect(matches(filter)).toBe(expected)
  })
})

describe('compileFilters: null operators', () => {
  it.each([
    ...table('IsNullOrUndefined', [
      ['holds for a missing data property', 'data.absent', undefined, true],
      ['holds for a missing attribute', 'absent', undefined, true],
      ['holds for a null data property', 'data.none', undefined, true],
      ['holds for a null extension attribute', 'nothing', undefined, true],
      ['holds for a path through a string', 'data.label.length', undefined, true],
      ['holds for a path through an array', 'data.tags.0', undefined, true],
      ['fails for a string', 'data.label', undefined, false],
      ['fails for zero', 'data.count', undefined, false],
      ['fails for false', 'data.on', undefined, false],
      ['fails for the empty string', 'data.blank', undefined, false],
      ['fails for an empty array', 'data.empty', undefined, false],
      ['fails for an object', 'data.nested', undefined, false]
    ]),
    ...table('IsNotNull', [
      ['holds for a string', 'data.label', undefined, true],
      ['holds for zero', 'data.count', undefined, true],
      ['holds for false', 'data.on', undefined, true],
      ['holds for the empty string', 'data.blank', undefined, true],
      ['holds for an empty array', 'data.empty', undefined, true],
      ['holds for an array of objects', 'data.items', undefined, true],
      ['holds for an object', 'data.nested.deep', undefined, true],
      ['fails for a missing key', 'data.absent', undefined, false],
      ['fails for a null value', 'data.none', undefined, false],
      ['fails for a null extension attribute', 'nothing', undefined, false],
      ['fails for an inherited property of the event', 'constructor', undefined, false],
      ['fails for an inherited property of the data', 'data.nested.toString', undefined, false]
    ])
  ])('$behaviour', ({ filter, expected }) => {
    expect(matches(filter)).toBe(expected)
  })
})

describe('compileFilters: keys', () => {
  it.each([
    { behaviour: 'id addresses the id attribute', filter: filter('StringIn', 'id', ['evt-1']), expected: true },
    { behaviour: 'source addresses the source attribute', filter: filter('StringIn', 'source', ['/devices/d1']), expected: true },
    { behaviour: 'type addresses the type attribute', filter: filter('StringIn', 'type', ['com.example.reading']), expected: true },
    { behaviour: 'eventtype is an alias of type', filter: filter('StringIn', 'eventtype', ['com.example.reading']), expected: true },
    { behaviour: 'EventType is an alias of type, whatever its case', filter: filter('StringIn', 'EventType', ['com.example.reading']), expected: true },
    { behaviour: 'eventtype compares the type, not a missing attribute', filter: filter('StringIn', 'eventtype', ['other']), expected: false },
    { behaviour: 'subject addresses the subject attribute', filter: filter('StringIn', 'subject', ['devices/d1/temp']), expected: true },
    { behaviour: 'dataschema addresses the dataschema attribute', filter: filter('StringEndsWith', 'dataschema', ['/reading.json']), expected: true },
    { behaviour: 'specversion addresses the specversion attribute', filter: filter('StringIn', 'specversion', ['1.0']), expected: true },
    { behaviour: 'time addresses the time attribute', filter: filter('StringBeginsWith', 'time', ['2026-01-01T']), expected: true },
    { behaviour: 'datacontenttype addresses the datacontenttype attribute', filter: filter('StringIn', 'datacontenttype', ['application/json']), expected: true },
    { behaviour: 'attribute keys are case-insensitive', filter: filter('StringIn', 'SUBJECT', ['devices/d1/temp']), expected: true },
    { behaviour: 'an extension attribute is addressed by its name', filter: filter('StringIn', 'region', ['eu-west']), expected: true },
    { behaviour: 'an extension attribute key is case-insensitive', filter: filter('StringIn', 'Region', ['eu-west']), expected: true },
    { behaviour: 'a data path addresses a nested number', filter: filter('NumberIn', 'data.nested.deep.value', [7]), expected: true },
    { behaviour: 'a data path addresses a nested string', filter: filter('StringIn', 'data.nested.deep.name', ['deep']), expected: true },
    { behaviour: 'a data path that ends below an existing object is missing', filter: filter('IsNullOrUndefined', 'data.nested.deep.absent'), expected: true },
    { behaviour: 'a data path matches property names exactly as given', filter: filter('StringIn', 'data.Case', ['upper']), expected: true },
    { behaviour: 'a data path with another case is missing', filter: filter('IsNullOrUndefined', 'data.case'), expected: true },
    { behaviour: 'the data. prefix is case-insensitive', filter: filter('NumberIn', 'Data.temp', [21.5]), expected: true },
    { behaviour: 'a property name containing a dot cannot be addressed', filter: filter('IsNullOrUndefined', 'data.dotted.name'), expected: true },
    { behaviour: 'an attribute key is not a data path', filter: filter('IsNullOrUndefined', 'label'), expected: true }
  ])('$behaviour', ({ filter, expected }) => {
    expect(matches(filter)).toBe(expected)
  })

  it('data alone addresses the whole data value', () => {
    expect(matches(filter('StringIn', 'data', ['hello']), { ...EVENT, data: 'Hello' })).toBe(true)
    expect(matches(filter('StringIn', 'data', ['hello']), { ...EVENT, data: 'Bye' })).toBe(false)
  })

  it('a data path is missing when the event carries data_base64 instead of data', () => {
    const { data: _data, ...rest } = EVENT
    const event = { ...rest, data_base64: 'AQID' }
    expect(matches(filter('IsNullOrUndefined', 'data.temp'), event)).toBe(true)
    expect(matches(filter('NumberNotIn', 'data.temp', [1]), event)).toBe(true)
    expect(matches(filter('NumberIn', 'data.temp', [21.5]), event)).toBe(false)
  })

  it('a data path reads an own property named like an Object.prototype member', () => {
    const event = JSON.parse('{"type":"t","data":{"__proto__":{"x":1},"constructor":"C"}}') as Record<string, unknown>
    expect(matches(filter('NumberIn', 'data.__proto__.x', [1]), event)).toBe(true)
    expect(matches(filter('StringIn', 'data.constructor', ['c']), event)).toBe(true)
  })
})

describe('compileFilters: includedEventTypes', () => {
  it.each([
    { behaviour: 'a listed type matches, whatever its case', types: ['com.example.READING'], expected: true },
    { behaviour: 'an unlisted type does not match', types: ['com.example.alarm'], expected: false },
    { behaviour: 'a type matches when any listed type is equal', types: ['com.example.alarm', 'Com.Example.Reading'], expected: true },
    { behaviour: 'a type prefix is not a match', types: ['com.example'], expected: false },
    { behaviour: 'an empty list matches every type', types: [], expected: true },
    { behaviour: 'null matches every type', types: null, expected: true }
  ])('$behaviour', ({ types, expected }) => {
    expect(compileFilters({ includedEventTypes: types })(EVENT)).toBe(expected)
  })

  it('an event without a string type matches no listed type', () => {
    const match = compileFilters({ includedEventTypes: ['5'] })
    expect(match({ ...EVENT, type: 5 })).toBe(false)
    expect(match({ id: 'x' })).toBe(false)
  })

  it.each([
    { behaviour: 'the type and every filter match', types: ['com.example.reading'], value: 21.5, expected: true },
    { behaviour: 'the type matches but a filter fails', types: ['com.example.reading'], value: 1, expected: false },
    { behaviour: 'a filter matches but the type fails', types: ['com.example.alarm'], value: 21.5, expected: false }
  ])('types and filters are ANDed: $behaviour', ({ types, value, expected }) => {
    const match = compileFilters({ includedEventTypes: types, filters: [filter('NumberIn', 'data.temp', [value])] })
    expect(match(EVENT)).toBe(expected)
  })
})

describe('compileFilters: several filters', () => {
  it.each([
    {
      behaviour: 'all filters match',
      filters: [filter('StringBeginsWith', 'subject', ['devices/']), filter('NumberGreaterThan', 'data.temp', 20), filter('BoolEquals', 'urgent', true)],
      expected: true
    },
    {
      behaviour: 'the last filter fails',
      filters: [filter('StringBeginsWith', 'subject', ['devices/']), filter('NumberGreaterThan', 'data.temp', 20), filter('BoolEquals', 'urgent', false)],
      expected: false
    },
    {
      behaviour: 'the first filter fails',
      filters: [filter('StringBeginsWith', 'subject', ['rooms/']), filter('NumberGreaterThan', 'data.temp', 20)],
      expected: false
    },
    {
      behaviour: 'the same key in two filters bounds a range (inside)',
      filters: [filter('NumberGreaterThan', 'data.temp', 20), filter('NumberLessThan', 'data.temp', 22)],
      expected: true
    },
    {
      behaviour: 'the same key in two filters bounds a range (outside)',
      filters: [filter('NumberGreaterThan', 'data.temp', 20), filter('NumberLessThan', 'data.temp', 21)],
      expected: false
    }
  ])('filters are ANDed: $behaviour', ({ filters, expected }) => {
    expect(compileFilters({ filters })(EVENT)).toBe(expected)
  })
})

describe('compileFilters: an empty definition', () => {
  it.each([
    { behaviour: 'undefined', config: undefined },
    { behaviour: 'null', config: null },
    { behaviour: '{}', config: {} },
    { behaviour: 'empty lists', config: { includedEventTypes: [], filters: [] } },
    { behaviour: 'null lists', config: { includedEventTypes: null, filters: null } }
  ])('$behaviour matches every event, even one with no attributes', ({ config }) => {
    const match = compileFilters(config)
    expect(match(EVENT)).toBe(true)
    expect(match({})).toBe(true)
  })
})

describe('compileFilters: compiling', () => {
  it('keeps its own copy of the definition', () => {
    const values = ['kitchen']
    const types = ['com.example.reading']
    const config = { includedEventTypes: types, filters: [{ operatorType: 'StringIn', key: 'data.label', values }] }
    const match = compileFilters(config)
    values[0] = 'boiler-room'
    types[0] = 'other'
    config.filters[0]!.key = 'subject'
    expect(match({ ...EVENT, data: { label: 'Kitchen' } })).toBe(true)
    expect(match(EVENT)).toBe(false)
  })

  it('does not change the event', () => {
    const event = structuredClone(EVENT)
    compileFilters({ includedEventTypes: ['x'], filters: [filter('StringIn', 'data.tags', ['alpha'])] })(event)
    compileFilters({ filters: [filter('NumberNotInRange', 'data.readings', [[0, 1]]), filter('IsNotNull', 'data.nested.deep')] })(event)
    expect(event).toEqual(EVENT)
  })

  it('accepts null for a field the operator does not take', () => {
    const match = compileFilters({ filters: [{ operatorType: 'IsNotNull', key: 'subject', value: null, values: null }] })
    expect(match(EVENT)).toBe(true)
    expect(match({})).toBe(false)
  })

  it.each([
    { behaviour: `${FILTER_LIMITS.maxFilters} filters`, config: { filters: Array.from({ length: 25 }, () => filter('IsNotNull', 'id')) } },
    { behaviour: `${FILTER_LIMITS.maxValues} values in one filter`, config: { filters: [filter('NumberIn', 'data.temp', Array.from({ length: 25 }, (_, i) => i + 21.5))] } },
    {
      behaviour: `${FILTER_LIMITS.maxValues} values across filters, single values counting one each`,
      config: { filters: [filter('NumberIn', 'data.temp', Array.from({ length: 23 }, (_, i) => i + 21.5)), filter('NumberGreaterThan', 'data.temp', 0), filter('BoolEquals', 'urgent', true)] }
    },
    { behaviour: `${FILTER_LIMITS.maxValues} range pairs (a pair counts one)`, config: { filters: [filter('NumberInRange', 'data.temp', Array.from({ length: 25 }, (_, i) => [i, i + 21.5]))] } },
    { behaviour: 'values beside no-value operators', config: { filters: [...Array.from({ length: 5 }, () => filter('IsNotNull', 'id')), filter('NumberIn', 'data.temp', Array.from({ length: 25 }, (_, i) => i + 21.5))] } },
    { behaviour: `a string value of ${FILTER_LIMITS.maxStringLength} characters`, config: { filters: [filter('StringNotIn', 'id', ['x'.repeat(512)])] } },
    { behaviour: `a key of ${FILTER_LIMITS.maxStringLength} characters`, config: { filters: [filter('IsNullOrUndefined', 'data.' + 'k'.repeat(507))] } },
    { behaviour: `an event type of ${FILTER_LIMITS.maxStringLength} characters`, config: { includedEventTypes: ['com.example.reading', 't'.repeat(512)] } }
  ])('accepts a definition at the limit: $behaviour', ({ config }) => {
    expect(compileFilters(config)(EVENT)).toBe(true)
  })

  it('names the operator with the right case when only the case is wrong', () => {
    const err = caught(() => compileFilters({ filters: [{ operatorType: 'stringIn', key: 'id', values: ['a'] }] }))
    expect(err.message).toBe("filtersConfiguration.filters[0].operatorType: unknown operator 'stringIn' (operator names are case-sensitive: 'StringIn')")
  })

  it('prefixes field names with the path it is given', () => {
    const err = caught(() => compileFilters({ filters: [filter('NumberIn', 'data.temp', ['1'])] }, 'properties.filtersConfiguration'))
    expect(err.message).toBe('properties.filtersConfiguration.filters[0].values[0]: must be a finite number')
    expect(err.details).toEqual({ field: 'properties.filtersConfiguration.filters[0].values[0]' })
  })
})

describe('compileFilters: invalid definitions', () => {
  const ok = filter('IsNotNull', 'id')
  const P = 'filtersConfiguration'
  const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `v${i}`)

  it.each([
    { problem: 'a definition that is not an object', config: 'StringIn', field: P },
    { problem: 'a definition that is an array', config: [ok], field: P },
    { problem: 'an unknown field in the definition', config: { subjectBeginsWith: 'a' }, field: `${P}.subjectBeginsWith` },
    { problem: 'includedEventTypes that is not an array', config: { includedEventTypes: 'a' }, field: `${P}.includedEventTypes` },
    { problem: 'an event type that is not a string', config: { includedEventTypes: ['a', 5] }, field: `${P}.includedEventTypes[1]` },
    { problem: 'an empty event type', config: { includedEventTypes: [''] }, field: `${P}.includedEventTypes[0]` },
    { problem: 'an event type over 512 characters', config: { includedEventTypes: ['t'.repeat(513)] }, field: `${P}.includedEventTypes[0]` },
    { problem: 'filters that is not an array', config: { filters: ok }, field: `${P}.filters` },
    { problem: 'more than 25 filters', config: { filters: Array.from({ length: 26 }, () => ok) }, field: `${P}.filters` },
    { problem: 'a filter that is null', config: { filters: [ok, null] }, field: `${P}.filters[1]` },
    { problem: 'a filter that is a string', config: { filters: ['StringIn'] }, field: `${P}.filters[0]` },
    { problem: 'an unknown field in a filter', config: { filters: [{ operatorType: 'StringIn', key: 'id', values: ['a'], valeus: ['b'] }] }, field: `${P}.filters[0].valeus` },
    { problem: 'a missing operatorType', config: { filters: [{ key: 'id', values: ['a'] }] }, field: `${P}.filters[0].operatorType` },
    { problem: 'an operatorType that is not a string', config: { filters: [{ operatorType: 7, key: 'id' }] }, field: `${P}.filters[0].operatorType` },
    { problem: 'an unknown operatorType', config: { filters: [ok, { operatorType: 'StringLike', key: 'id', values: ['a'] }] }, field: `${P}.filters[1].operatorType` },
    { problem: 'an operatorType in the wrong case', config: { filters: [{ operatorType: 'isnotnull', key: 'id' }] }, field: `${P}.filters[0].operatorType` },
    { problem: 'an operatorType naming an Object.prototype member', config: { filters: [{ operatorType: 'toString', key: 'id' }] }, field: `${P}.filters[0].operatorType` },
    { problem: 'a missing key', config: { filters: [{ operatorType: 'IsNotNull' }] }, field: `${P}.filters[0].key` },
    { problem: 'a key that is not a string', config: { filters: [{ operatorType: 'IsNotNull', key: 5 }] }, field: `${P}.filters[0].key` },
    { problem: 'an empty key', config: { filters: [{ operatorType: 'IsNotNull', key: '' }] }, field: `${P}.filters[0].key` },
    { problem: 'a key over 512 characters', config: { filters: [{ operatorType: 'IsNotNull', key: 'data.' + 'k'.repeat(508) }] }, field: `${P}.filters[0].key` },
    { problem: "a key 'data.' with an empty path", config: { filters: [{ operatorType: 'IsNotNull', key: 'data.' }] }, field: `${P}.filters[0].key` },
    { problem: 'a data path with an empty segment', config: { filters: [{ operatorType: 'IsNotNull', key: 'data.a..b' }] }, field: `${P}.filters[0].key` },
    { problem: 'a data path ending in a dot', config: { filters: [{ operatorType: 'IsNotNull', key: 'data.a.' }] }, field: `${P}.filters[0].key` },
    { problem: 'NumberIn without values', config: { filters: [{ operatorType: 'NumberIn', key: 'id' }] }, field: `${P}.filters[0].values` },
    { problem: 'NumberIn with empty values', config: { filters: [filter('NumberIn', 'id', [])] }, field: `${P}.filters[0].values` },
    { problem: 'NumberIn with values that are not an array', config: { filters: [filter('NumberIn', 'id', 5)] }, field: `${P}.filters[0].values` },
    { problem: 'NumberIn with a numeric string', config: { filters: [filter('NumberIn', 'id', [1, '2'])] }, field: `${P}.filters[0].values[1]` },
    { problem: 'NumberIn with NaN', config: { filters: [filter('NumberIn', 'id', [Number.NaN])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'NumberNotIn with Infinity', config: { filters: [filter('NumberNotIn', 'id', [Infinity])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'NumberIn with a single value', config: { filters: [{ operatorType: 'NumberIn', key: 'id', value: 5 }] }, field: `${P}.filters[0].value` },
    { problem: 'NumberLessThan without a value', config: { filters: [{ operatorType: 'NumberLessThan', key: 'id' }] }, field: `${P}.filters[0].value` },
    { problem: 'NumberGreaterThan with a string value', config: { filters: [filter('NumberGreaterThan', 'id', '5')] }, field: `${P}.filters[0].value` },
    { problem: 'NumberLessThanOrEquals with a null value', config: { filters: [filter('NumberLessThanOrEquals', 'id', null)] }, field: `${P}.filters[0].value` },
    { problem: 'NumberGreaterThanOrEquals with -Infinity', config: { filters: [filter('NumberGreaterThanOrEquals', 'id', -Infinity)] }, field: `${P}.filters[0].value` },
    { problem: 'NumberLessThan with values', config: { filters: [{ operatorType: 'NumberLessThan', key: 'id', value: 1, values: [1] }] }, field: `${P}.filters[0].values` },
    { problem: 'NumberInRange with a bare number', config: { filters: [filter('NumberInRange', 'id', [5])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'NumberInRange with a one-number pair', config: { filters: [filter('NumberInRange', 'id', [[0, 1], [5]])] }, field: `${P}.filters[0].values[1]` },
    { problem: 'NumberInRange with a three-number pair', config: { filters: [filter('NumberInRange', 'id', [[0, 1, 2]])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'NumberInRange with the low bound above the high', config: { filters: [filter('NumberInRange', 'id', [[10, 0]])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'NumberNotInRange with a string bound', config: { filters: [filter('NumberNotInRange', 'id', [[0, '9']])] }, field: `${P}.filters[0].values[0][1]` },
    { problem: 'NumberNotInRange with a null bound', config: { filters: [filter('NumberNotInRange', 'id', [[null, 9]])] }, field: `${P}.filters[0].values[0][0]` },
    { problem: 'NumberNotInRange without values', config: { filters: [{ operatorType: 'NumberNotInRange', key: 'id' }] }, field: `${P}.filters[0].values` },
    { problem: 'BoolEquals with a string', config: { filters: [filter('BoolEquals', 'id', 'true')] }, field: `${P}.filters[0].value` },
    { problem: 'BoolEquals without a value', config: { filters: [{ operatorType: 'BoolEquals', key: 'id' }] }, field: `${P}.filters[0].value` },
    { problem: 'BoolEquals with values', config: { filters: [{ operatorType: 'BoolEquals', key: 'id', value: true, values: [true] }] }, field: `${P}.filters[0].values` },
    { problem: 'StringIn with a number', config: { filters: [filter('StringIn', 'id', ['a', 5])] }, field: `${P}.filters[0].values[1]` },
    { problem: 'StringContains with a value over 512 characters', config: { filters: [filter('StringContains', 'id', ['a', 'x'.repeat(513)])] }, field: `${P}.filters[0].values[1]` },
    { problem: 'StringNotContains with empty values', config: { filters: [filter('StringNotContains', 'id', [])] }, field: `${P}.filters[0].values` },
    { problem: 'StringBeginsWith with a single value', config: { filters: [{ operatorType: 'StringBeginsWith', key: 'id', value: 'a' }] }, field: `${P}.filters[0].value` },
    { problem: 'StringNotBeginsWith with null in values', config: { filters: [filter('StringNotBeginsWith', 'id', [null])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'StringEndsWith without values', config: { filters: [{ operatorType: 'StringEndsWith', key: 'id' }] }, field: `${P}.filters[0].values` },
    { problem: 'StringNotEndsWith with a nested array', config: { filters: [filter('StringNotEndsWith', 'id', [['a']])] }, field: `${P}.filters[0].values[0]` },
    { problem: 'StringNotIn with values that are a string', config: { filters: [filter('StringNotIn', 'id', 'abc')] }, field: `${P}.filters[0].values` },
    { problem: 'IsNullOrUndefined with a value', config: { filters: [{ operatorType: 'IsNullOrUndefined', key: 'id', value: 1 }] }, field: `${P}.filters[0].value` },
    { problem: 'IsNotNull with values', config: { filters: [{ operatorType: 'IsNotNull', key: 'id', values: ['a'] }] }, field: `${P}.filters[0].values` },
    { problem: 'more than 25 values in one filter', config: { filters: [filter('StringIn', 'id', many(26))] }, field: `${P}.filters[0].values` },
    { problem: 'more than 25 values in all', config: { filters: [ok, filter('StringIn', 'id', many(20)), filter('NumberIn', 'id', [1, 2, 3, 4, 5, 6])] }, field: `${P}.filters[2].values` },
    { problem: 'more than 25 values in all, a single value counting one', config: { filters: [filter('StringIn', 'id', many(25)), filter('NumberLessThan', 'id', 1)] }, field: `${P}.filters[1].value` },
    { problem: 'more than 25 range pairs', config: { filters: [filter('NumberInRange', 'id', Array.from({ length: 26 }, () => [0, 1]))] }, field: `${P}.filters[0].values` }
  ])('refuses $problem, naming $field', ({ config, field }) => {
    const err = caught(() => compileFilters(config))
    expect(err.code).toBe('SUBSCRIPTION_INVALID')
    expect(err.message).toContain(`${field}: `)
    expect(err.details).toEqual({ field })
  })

  it('says what is wrong with the values budget', () => {
    const err = caught(() => compileFilters({ filters: [ok, ok, filter('StringIn', 'id', many(26))] }))
    expect(err.message).toBe('filtersConfiguration.filters[2].values: at most 25 values in all')
  })

  it('says that an unknown operator is unknown', () => {
    const err = caught(() => compileFilters({ filters: [{ operatorType: 'StringLike', key: 'id', values: ['a'] }] }))
    expect(err.message).toBe("filtersConfiguration.filters[0].operatorType: unknown operator 'StringLike'")
  })
})

describe('FILTER_LIMITS', () => {
  it('holds Event Grid\'s limits', () => {
    expect(FILTER_LIMITS).toEqual({ maxFilters: 25, maxValues: 25, maxStringLength: 512 })
    expect(Object.isFrozen(FILTER_LIMITS)).toBe(true)
  })
})
