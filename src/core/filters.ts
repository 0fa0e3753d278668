import { GridgateError } from './errors.js'

// Event Grid namespace subscription filters (`filtersConfiguration`): validated and compiled
// once, when a subscription is created, into one closure per filter. Pure: no I/O, no clock.
//
// Where Event Grid's documentation leaves room, gridgate decides (and the tests pin):
// - No type coercion. Number operators need a JSON number, string operators a string, BoolEquals
//   a boolean. A value of another type fails every operator, the negative ones included; only
//   IsNotNull holds for it. (Missing and null keys follow Event Grid's documented rule instead.)
// - Arrays are matched per element, each element like a scalar: a positive operator holds if any
//   element matches, a negative one only if every element is of the right type and none matches.
//   Elements that are objects, arrays or null are of the wrong type for every operator, so an
//   array of objects ("not supported") fails every operator except IsNotNull, like any other
//   wrong-typed value; an empty array fails positive operators and passes negative ones.
// - A `data.` path that runs into a primitive or an array before its end does not exist: the key
//   is missing. Only own properties count, so `data.constructor` never reaches Object.prototype.

export interface AdvancedFilter { operatorType: string, key: string, value?: unknown, values?: unknown[] }
export interface FiltersConfiguration { includedEventTypes?: string[] | null, filters?: AdvancedFilter[] | null }
export type EventMatcher = (event: Readonly<Record<string, unknown>>) => boolean

// Event Grid refuses a subscription beyond these at creation.
export const FILTER_LIMITS = Object.freeze({ maxFilters: 25, maxValues: 25, maxStringLength: 512 } as const)

/** What an operator takes: nothing, one `value`, or a `values` array of numbers, [lo, hi] pairs or strings. */
type Operand = 'none' | 'number' | 'boolean' | 'numbers' | 'ranges' | 'strings'

const OPERATORS = {
  NumberIn: 'numbers',
  NumberNotIn: 'numbers',
  NumberLessThan: 'number',
  NumberGreaterThan: 'number',
  NumberLessThanOrEquals: 'number',
  NumberGreaterThanOrEquals: 'number',
  NumberInRange: 'ranges',
  NumberNotInRange: 'ranges',
  BoolEquals: 'boolean',
  StringContains: 'strings',
  StringNotContains: 'strings',
  StringBeginsWith: 'strings',
  StringNotBeginsWith: 'strings',
  StringEndsWith: 'strings',
  StringNotEndsWith: 'strings',
  StringIn: 'strings',
  StringNotIn: 'strings',
  IsNullOrUndefined: 'none',
  IsNotNull: 'none'
} as const satisfies Record<string, Operand>

type Operator = keyof typeof OPERATORS

/**
 * The shape of a filtersConfiguration as JSON Schema, for request schemas and the OpenAPI
 * document. What depends on the operator (value or values, their types, the value budget)
 * is compileFilters' to check.
 */
export const FILTERS_CONFIGURATION_SCHEMA = {
  type: ['object', 'null'],
  description: "Event Grid's event filters: the event's `type` must be one of `includedEventTypes` (case-insensitive; empty or absent: any), and every advanced filter must hold.",
  additionalProperties: false,
  properties: {
    includedEventTypes: { type: ['array', 'null'], items: { type: 'string', minLength: 1, maxLength: FILTER_LIMITS.maxStringLength } },
    filters: {
      type: ['array', 'null'],
      maxItems: FILTER_LIMITS.maxFilters,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['operatorType', 'key'],
        properties: {
          operatorType: { type: 'string', enum: Object.keys(OPERATORS) },
          key: { type: 'string', minLength: 1, maxLength: FILTER_LIMITS.maxStringLength, description: '`id`, `source`, `type`, `subject`, `dataschema`, an extension attribute, or `data.<dot.path>`' },
          value: { type: ['number', 'boolean', 'null'], description: 'The operand of NumberLessThan, NumberGreaterThan, NumberLessThanOrEquals, NumberGreaterThanOrEquals (a number) and BoolEquals (a boolean)' },
          values: { type: ['array', 'null'], maxItems: FILTER_LIMITS.maxValues, description: 'The operands of the other operators: numbers, strings, or [low, high] pairs for NumberInRange and NumberNotInRange (25 values in all)' }
        }
      }
    }
  }
} as const

// Negative operators hold only when no value matches (for arrays: no element).
const NEGATIVE = new Set<Operator>([
  'NumberNotIn', 'NumberNotInRange', 'StringNotContains', 'StringNotBeginsWith', 'StringNotEndsWith', 'StringNotIn'
])
// Event Grid: a missing key fails every operator except NumberNotIn, StringNotIn and IsNullOrUndefined.
const MATCHES_MISSING = new Set<Operator>(['NumberNotIn', 'StringNotIn'])

const CONFIG_FIELDS = new Set(['includedEventTypes', 'filters'])
const FILTER_FIELDS = new Set(['operatorType', 'key', 'value', 'values'])

/** Tests one present, non-null scalar (or array element): true when it has the right type and matches. */
type Test = (value: unknown) => boolean
type Getter = (event: Readonly<Record<string, unknown>>) => unknown

const matchAll: EventMatcher = () => true

function invalid (field: string, problem: string): GridgateError {
  return new GridgateError('SUBSCRIPTION_INVALID', `${field}: ${problem}`, { details: { field } })
}

function isObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function absent (value: unknown): value is null | undefined {
  return value === undefined || value === null
}

function checkString (value: unknown, field: string, what: string): string {
  if (typeof value !== 'string') throw invalid(field, `${what} must be a string`)
  if (value.length > FILTER_LIMITS.maxStringLength) {
    throw invalid(field, `${what} must be at most ${FILTER_LIMITS.maxStringLength} characters`)
  }
  return value
}

function checkNumber (value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(field, 'must be a finite number')
  return value
}

/**
 * Validates a filtersConfiguration (undefined/null = match everything) and compiles it once into a
 * matcher. Throws GridgateError SUBSCRIPTION_INVALID naming the field. `path` prefixes field names
 * in messages (default 'filtersConfiguration').
 */
export function compileFilters (config: unknown, path = 'filtersConfiguration'): EventMatcher {
  if (absent(config)) return matchAll
  if (!isObject(config)) throw invalid(path, 'must be an object')
  for (const name of Object.keys(config)) {
    if (!CONFIG_FIELDS.has(name)) throw invalid(`${path}.${name}`, 'is not a known field')
  }
  const types = compileEventTypes(config.includedEventTypes, `${path}.includedEventTypes`)
  const filters = compileAdvanced(config.filters, `${path}.filters`)
  if (types === undefined && filters.length === 0) return matchAll
  return (event) => {
    if (types !== undefined) {
      const type = event.type
      if (typeof type !== 'string' || !types.has(type.toLowerCase())) return false
    }
    for (let i = 0; i < filters.length; i++) {
      if (!(filters[i] as EventMatcher)(event)) return false
    }
    return true
  }
}

/** Lower-cased set of types, or undefined when every type passes. */
function compileEventTypes (value: unknown, field: string): Set<string> | undefined {
  if (absent(value)) return undefined
  if (!Array.isArray(value)) throw invalid(field, 'must be an array of event types')
  if (value.length === 0) return undefined
  const types = new Set<string>()
  value.forEach((type: unknown, i) => {
    const at = `${field}[${i}]`
    const t = checkString(type, at, 'an event type')
    if (t === '') throw invalid(at, 'an event type must not be empty')
    types.add(t.toLowerCase())
  })
  return types
}

function compileAdvanced (value: unknown, field: string): EventMatcher[] {
  if (absent(value)) return []
  if (!Array.isArray(value)) throw invalid(field, 'must be an array of advanced filters')
  if (value.length > FILTER_LIMITS.maxFilters) throw invalid(field, `at most ${FILTER_LIMITS.maxFilters} advanced filters`)
  const budget = { values: 0 }
  return value.map((filter: unknown, i) => compileFilter(filter, `${field}[${i}]`, budget))
}

function compileFilter (filter: unknown, field: string, budget: { values: number }): EventMatcher {
  if (!isObject(filter)) throw invalid(field, 'must be an object')
  for (const name of Object.keys(filter)) {
    if (!FILTER_FIELDS.has(name)) throw invalid(`${field}.${name}`, 'is not a known field')
  }
  const op = filter.operatorType
  if (typeof op !== 'string' || !Object.hasOwn(OPERATORS, op)) {
    throw invalid(`${field}.operatorType`, unknownOperator(op))
  }
  const operator = op as Operator
  const operand: Operand = OPERATORS[operator]
  const get = compileKey(filter.key, `${field}.key`)

  // Each operator takes exactly one of value / values (or neither); null counts as absent.
  const takesValue = operand === 'number' || operand === 'boolean'
  const takesValues = operand === 'numbers' || operand === 'ranges' || operand === 'strings'
  if (!takesValue && !absent(filter.value)) {
    throw invalid(`${field}.value`, takesValues ? `${operator} takes 'values', not 'value'` : `${operator} takes no value`)
  }
  if (!takesValues && !absent(filter.values)) {
    throw invalid(`${field}.values`, takesValue ? `${operator} takes a single 'value', not 'values'` : `${operator} takes no values`)
  }

  if (operand === 'none') {
    return operator === 'IsNullOrUndefined' ? (event) => absent(get(event)) : (event) => !absent(get(event))
  }

  let values: unknown[]
  const at = takesValue ? `${field}.value` : `${field}.values`
  if (takesValue) {
    if (filter.value === undefined) throw invalid(at, `${operator} requires a value`)
    values = [filter.value]
  } else {
    if (!Array.isArray(filter.values) || filter.values.length === 0) {
      throw invalid(at, `${operator} requires a non-empty array`)
    }
    values = filter.values
  }
  // A range pair and a single `value` each count as one value.
  budget.values += values.length
  if (budget.values > FILTER_LIMITS.maxValues) throw invalid(at, `at most ${FILTER_LIMITS.maxValues} values in all`)

  const test = compileTest(operator, operand, values, at)
  const negative = NEGATIVE.has(operator)
  // Negative tests need the element type checked here: a wrong-typed element is not "no match".
  const elementTest: Test = negative
    ? operand === 'strings' ? (v) => typeof v === 'string' && !test(v) : (v) => typeof v === 'number' && !test(v)
    : test
  return matchValue(get, elementTest, negative, MATCHES_MISSING.has(operator))
}

function unknownOperator (op: unknown): string {
  if (typeof op !== 'string') return 'must be a string naming an operator'
  const lower = op.toLowerCase()
  const near = Object.keys(OPERATORS).find((name) => name.toLowerCase() === lower)
  return near === undefined
    ? `unknown operator '${op}'`
    : `unknown operator '${op}' (operator names are case-sensitive: '${near}')`
}

function compileKey (key: unknown, field: string): Getter {
  const k = checkString(key, field, 'a key')
  if (k === '') throw invalid(field, 'a key must not be empty')
  const lower = k.toLowerCase()
  if (lower.startsWith('data.')) {
    // data paths keep their case: JSON property names are case-sensitive.
    const segments = k.slice(5).split('.')
    if (segments.includes('')) throw invalid(field, `'${k}' has an empty segment in its data path`)
    return (event) => {
      let node: unknown = Object.hasOwn(event, 'data') ? event.data : undefined
      for (let i = 0; i < segments.length; i++) {
        if (!isObject(node)) return undefined
        const name = segments[i] as string
        node = Object.hasOwn(node, name) ? node[name] : undefined
      }
      return node
    }
  }
  // CloudEvents attribute names are lower-case; `eventtype` is Event Grid's name for `type`.
  const name = lower === 'eventtype' ? 'type' : lower
  return (event) => Object.hasOwn(event, name) ? event[name] : undefined
}

function compileTest (operator: Operator, operand: Operand, values: unknown[], field: string): Test {
  const itemField = (i: number): string => operand === 'number' || operand === 'boolean' ? field : `${field}[${i}]`
  switch (operand) {
    case 'boolean': {
      const expected = values[0]
      if (typeof expected !== 'boolean') throw invalid(field, 'must be a boolean')
      return (v) => v === expected
    }
    case 'number': {
      const n = checkNumber(values[0], field)
      switch (operator) {
        case 'NumberLessThan': return (v) => typeof v === 'number' && v < n
        case 'NumberGreaterThan': return (v) => typeof v === 'number' && v > n
        case 'NumberLessThanOrEquals': return (v) => typeof v === 'number' && v <= n
        default: return (v) => typeof v === 'number' && v >= n
      }
    }
    case 'numbers': {
      const set = new Set(values.map((v, i) => checkNumber(v, itemField(i))))
      return (v) => typeof v === 'number' && set.has(v)
    }
    case 'ranges': {
      // Flattened [lo0, hi0, lo1, hi1, ...]: one array, no per-pair objects to chase.
      const bounds: number[] = []
      values.forEach((pair, i) => {
        const at = itemField(i)
        if (!Array.isArray(pair) || pair.length !== 2) throw invalid(at, 'must be a [low, high] pair of numbers')
        const lo = checkNumber(pair[0], `${at}[0]`)
        const hi = checkNumber(pair[1], `${at}[1]`)
        if (lo > hi) throw invalid(at, `the low bound ${lo} is above the high bound ${hi}`)
        bounds.push(lo, hi)
      })
      return (v) => {
        if (typeof v !== 'number') return false
        for (let i = 0; i < bounds.length; i += 2) {
          if (v >= (bounds[i] as number) && v <= (bounds[i + 1] as number)) return true
        }
        return false
      }
    }
    default: {
      const strings = values.map((v, i) => checkString(v, itemField(i), 'a value').toLowerCase())
      return compileStringTest(operator, strings)
    }
  }
}

// String comparisons are case-insensitive: values were lower-cased once, the event's value is
// lower-cased once per test.
function compileStringTest (operator: Operator, strings: string[]): Test {
  if (operator === 'StringIn' || operator === 'StringNotIn') {
    const set = new Set(strings)
    return (v) => typeof v === 'string' && set.has(v.toLowerCase())
  }
  const method = operator === 'StringContains' || operator === 'StringNotContains'
    ? 'includes'
    : operator === 'StringBeginsWith' || operator === 'StringNotBeginsWith' ? 'startsWith' : 'endsWith'
  return (v) => {
    if (typeof v !== 'string') return false
    const lower = v.toLowerCase()
    for (let i = 0; i < strings.length; i++) {
      if (lower[method](strings[i] as string)) return true
    }
    return false
  }
}

function matchValue (get: Getter, test: Test, negative: boolean, matchesMissing: boolean): EventMatcher {
  return (event) => {
    const value = get(event)
    if (absent(value)) return matchesMissing
    if (!Array.isArray(value)) return test(value)
    // Positive: any element matches. Negative: every element passes (right type, no match).
    for (let i = 0; i < value.length; i++) {
      if (test(value[i]) !== negative) return !negative
    }
    return negative
  }
}
