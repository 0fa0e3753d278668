import { describe, expect, it } from 'vitest'
import { checkCompatibility, describeBreakingChange, jsonEqual, type CompatibilityMode, type JsonSchemaDoc } from '../../src/schemas/compatibility.js'

// The compatibility rules (src/schemas/compatibility.ts) as a table: previous version, next
// version, and what each mode says: undefined (compatible) or the first breaking change as
// `kind path`. Confluent's meaning: backward = the new schema accepts all the old accepted.

const obj = (properties: Record<string, JsonSchemaDoc>, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'object', properties, ...extra })
const num = { type: 'number' }
const str = { type: 'string' }

interface Case {
  name: string
  previous: JsonSchemaDoc
  next: JsonSchemaDoc
  backward?: string
  forward?: string
}

const CASES: Case[] = [
  { name: 'identical schemas', previous: obj({ t: num }, { required: ['t'] }), next: obj({ t: num }, { required: ['t'] }) },
  { name: 'only annotations changed', previous: obj({ t: num }), next: { ...obj({ t: { ...num, description: 'degrees', title: 'T', examples: [1] } }), $comment: 'v2' } },
  { name: 'an optional field added to an open object', previous: obj({ t: num }), next: obj({ t: num, unit: str }), backward: 'open-property-added data.unit' },
  { name: 'an optional field added to a closed object', previous: obj({ t: num }, { additionalProperties: false }), next: obj({ t: num, unit: str }, { additionalProperties: false }), forward: 'property-allowed data.unit' },
  { name: 'an unconstrained field added to an open object', previous: obj({ t: num }), next: obj({ t: num, unit: {} }) },
  { name: 'a required field added', previous: obj({ t: num }), next: obj({ t: num, unit: str }, { required: ['unit'] }), backward: 'required-added data.unit', forward: undefined },
  { name: 'a required field made optional', previous: obj({ t: num }, { required: ['t'] }), next: obj({ t: num }), forward: 'required-removed data.t' },
  { name: 'a type narrowed', previous: obj({ t: { type: ['number', 'string'] } }), next: obj({ t: num }), backward: 'type-narrowed data.t', forward: undefined },
  { name: 'number narrowed to integer', previous: obj({ t: num }), next: obj({ t: { type: 'integer' } }), backward: 'type-narrowed data.t' },
  { name: 'integer widened to number', previous: obj({ t: { type: 'integer' } }), next: obj({ t: num }), forward: 'type-widened data.t' },
  { name: 'a type widened', previous: obj({ t: num }), next: obj({ t: { type: ['number', 'null'] } }), forward: 'type-widened data.t' },
  { name: 'an enum value removed', previous: obj({ s: { enum: ['on', 'off', 'fault'] } }), next: obj({ s: { enum: ['on', 'off'] } }), backward: 'enum-value-removed data.s', forward: undefined },
  { name: 'an enum value added', previous: obj({ s: { enum: ['on', 'off'] } }), next: obj({ s: { enum: ['on', 'off', 'fault'] } }), forward: 'enum-value-added data.s' },
  { name: 'an enum added to a free string', previous: obj({ s: str }), next: obj({ s: { type: 'string', enum: ['a'] } }), backward: 'enum-added data.s' },
  { name: 'const changed', previous: obj({ v: { const: 1 } }), next: obj({ v: { const: 2 } }), backward: 'enum-value-removed data.v', forward: 'enum-value-added data.v' },
  { name: 'const kept within a wider enum', previous: obj({ v: { const: 1 } }), next: obj({ v: { enum: [1, 2] } }), forward: 'enum-value-added data.v' },
  { name: 'an enum of numbers against a number type', previous: obj({ v: { enum: [1, 2.5] } }), next: obj({ v: num }), forward: 'enum-removed data.v' },
  { name: 'a minimum raised', previous: obj({ t: { ...num, minimum: 0 } }), next: obj({ t: { ...num, minimum: 5 } }), backward: 'minimum-raised data.t', forward: undefined },
  { name: 'a minimum added', previous: obj({ t: num }), next: obj({ t: { ...num, minimum: -40 } }), backward: 'minimum-raised data.t' },
  { name: 'minimum made exclusive at the same value', previous: obj({ t: { ...num, minimum: 0 } }), next: obj({ t: { ...num, exclusiveMinimum: 0 } }), backward: 'minimum-raised data.t' },
  { name: 'a maximum lowered', previous: obj({ t: { ...num, maximum: 100 } }), next: obj({ t: { ...num, maximum: 50 } }), backward: 'maximum-lowered data.t', forward: undefined },
  { name: 'a maximum removed', previous: obj({ t: { ...num, maximum: 100 } }), next: obj({ t: num }), forward: 'maximum-raised data.t' },
  { name: 'bounds on a field that is not a number are irrelevant', previous: obj({ s: str }), next: obj({ s: { ...str, minimum: 3 } }) },
  { name: 'multipleOf made finer', previous: obj({ t: { ...num, multipleOf: 10 } }), next: obj({ t: { ...num, multipleOf: 5 } }), forward: 'constraint-changed data.t' },
  { name: 'maxLength lowered', previous: obj({ s: { ...str, maxLength: 64 } }), next: obj({ s: { ...str, maxLength: 32 } }), backward: 'length-narrowed data.s', forward: undefined },
  { name: 'minLength lowered', previous: obj({ s: { ...str, minLength: 3 } }), next: obj({ s: { ...str, minLength: 1 } }), forward: 'length-widened data.s' },
  { name: 'a pattern added', previous: obj({ s: str }), next: obj({ s: { ...str, pattern: '^[a-z]+$' } }), backward: 'constraint-added data.s' },
  { name: 'the same pattern', previous: obj({ s: { ...str, pattern: '^x' } }), next: obj({ s: { ...str, pattern: '^x', maxLength: 10 } }), backward: 'length-narrowed data.s' },
  { name: 'a field forbidden by additionalProperties: false', previous: obj({ t: num, note: str }), next: obj({ t: num }, { additionalProperties: false }), backward: 'property-forbidden data.note', forward: undefined },
  { name: 'additionalProperties: false added', previous: obj({ t: num }), next: obj({ t: num }, { additionalProperties: false }), backward: 'property-forbidden data.*' },
  { name: 'additionalProperties narrowed to a type', previous: obj({ t: num }), next: obj({ t: num }, { additionalProperties: num }), backward: 'type-narrowed data.*' },
  { name: 'a field forbidden by name in an open object', previous: obj({ t: num }), next: obj({ t: num, x: false }), backward: 'property-forbidden data.x' },
  { name: 'a field removed from an open object', previous: obj({ t: num, note: str }), next: obj({ t: num }), forward: 'open-property-removed data.note' },
  { name: 'nested: a required field added deep down', previous: obj({ env: obj({ h: num }) }), next: obj({ env: obj({ h: num }, { required: ['h'] }) }), backward: 'required-added data.env.h' },
  { name: 'array items narrowed', previous: obj({ r: { type: 'array', items: num } }), next: obj({ r: { type: 'array', items: { type: 'integer' } } }), backward: 'type-narrowed data.r[]' },
  { name: 'maxItems lowered', previous: obj({ r: { type: 'array', maxItems: 10 } }), next: obj({ r: { type: 'array', maxItems: 5 } }), backward: 'items-narrowed data.r' },
  { name: 'uniqueItems added', previous: obj({ r: { type: 'array' } }), next: obj({ r: { type: 'array', uniqueItems: true } }), backward: 'constraint-added data.r' },
  { name: 'minProperties raised', previous: { type: 'object' }, next: { type: 'object', minProperties: 1 }, backward: 'properties-count-narrowed data' },
  { name: 'the root type changed', previous: num, next: str, backward: 'type-narrowed data', forward: 'type-widened data' },
  { name: 'a true schema to an object schema', previous: true, next: obj({ t: num }), backward: 'type-narrowed data' },
  { name: 'anything to false', previous: num, next: false, backward: 'property-forbidden data' },
  { name: 'an identical $ref', previous: { $defs: { t: num }, properties: { t: { $ref: '#/$defs/t' } } }, next: { $defs: { t: num }, properties: { t: { $ref: '#/$defs/t' } } } },
  { name: 'a changed $ref target cannot be proved', previous: { $defs: { t: num }, properties: { t: { $ref: '#/$defs/t' } } }, next: { $defs: { t: { type: 'integer' } }, properties: { t: { $ref: '#/$defs/t' } } }, backward: 'unprovable data', forward: 'unprovable data' },
  { name: 'oneOf added cannot be proved', previous: obj({ v: num }), next: obj({ v: { oneOf: [num, str] } }), backward: 'unprovable data.v', forward: 'type-widened data.v' },
  { name: 'oneOf removed in the writer only narrows it', previous: obj({ v: { oneOf: [{ type: 'integer' }, { type: 'string' }] } }), next: obj({ v: {} }), forward: 'unprovable data.v' },
  { name: 'items beside prefixItems in the writer are not taken for all elements', previous: obj({ r: { type: 'array', prefixItems: [str], items: num } }), next: obj({ r: { type: 'array', items: num } }), backward: 'type-narrowed data.r[]', forward: 'unprovable data.r' }
]

const MODES: CompatibilityMode[] = ['backward', 'forward', 'full', 'none']

describe('schema compatibility rules', () => {
  it.each(CASES)('$name', (c) => {
    const summary = (mode: CompatibilityMode): string | undefined => {
      const broken = checkCompatibility(c.previous, c.next, mode)
      return broken === undefined ? undefined : `${broken.kind} ${broken.path}`
    }
    expect({ backward: summary('backward'), forward: summary('forward') }).toEqual({ backward: c.backward, forward: c.forward })
    // full is both, backward reported first; none never breaks.
    expect(summary('full')).toBe(c.backward ?? c.forward)
    expect(summary('none')).toBeUndefined()
  })

  it('says what changed, old → new, in the direction that broke', () => {
    const previous = obj({ t: { ...num, minimum: 0, maximum: 100 }, s: { enum: ['on', 'off'] } })
    const lines = (next: JsonSchemaDoc, mode: CompatibilityMode): string | undefined => {
      const c = checkCompatibility(previous, next, mode)
      return c === undefined ? undefined : `${c.direction} ${describeBreakingChange(c)}`
    }
    expect(lines(obj({ t: { ...num, minimum: 10, maximum: 100 }, s: { enum: ['on', 'off'] } }), 'backward')).toBe('backward data.t: lower bound >= 0 → >= 10')
    expect(lines(obj({ t: { ...num, minimum: 0 }, s: { enum: ['on', 'off'] } }), 'full')).toBe('forward data.t: upper bound <= 100 → none')
    expect(lines(obj({ t: { ...num, minimum: 0, maximum: 100 }, s: { enum: ['on'] } }), 'backward')).toBe('backward data.s: enum value "off" removed')
    expect(lines(obj({ t: { ...num, minimum: 0, maximum: 100 }, s: { enum: ['on', 'off'] } }, { required: ['s'] }), 'backward')).toBe("backward data.s: required field 's' added")
    expect(lines(obj({ t: { type: 'string' }, s: { enum: ['on', 'off'] } }), 'backward')).toBe("backward data.t: type narrowed: 'number' no longer accepted")
  })

  it('every mode is listed and each is decided for every case', () => {
    for (const c of CASES) for (const m of MODES) expect(() => checkCompatibility(c.previous, c.next, m)).not.toThrow()
  })

  it('compares JSON values whatever the key order', () => {
    expect(jsonEqual({ a: 1, b: [1, { c: null }] }, { b: [1, { c: null }], a: 1 })).toBe(true)
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false)
    expect(jsonEqual([1, 2], [2, 1])).toBe(false)
    expect(jsonEqual(null, {})).toBe(false)
  })
})
