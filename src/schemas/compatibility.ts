// Schema compatibility, as Confluent's schema registry defines the modes, for JSON Schema
// (draft 2020-12). Pure: schemas in, the first breaking change (or none) out.
//
//   backward  the new version can read data written with the previous one: every value the
//             old schema accepts, the new one accepts (consumers upgrade first)
//   forward   the previous version can read data written with the new one (producers first)
//   full      both
//   none      no check
//
// Like Confluent's non-transitive modes, a new version is compared with the latest one only.
//
// "Reader accepts everything the writer accepts" is decided structurally, and conservatively:
// a change is called compatible only when it is proved so. What is understood:
//   type (integer within number), enum and const, properties, required, additionalProperties
//   (also as a schema), minProperties/maxProperties, items (one schema for every element),
//   minItems/maxItems, uniqueItems, minimum/maximum/exclusiveMinimum/exclusiveMaximum,
//   multipleOf, minLength/maxLength, pattern (the same pattern), boolean schemas.
// Annotations (title, description, default, examples, $comment, deprecated, readOnly,
// writeOnly, $schema, $id, $anchor, format: the gateway does not assert formats) are ignored.
// Everything else ($ref, $defs, allOf, anyOf, oneOf, not, if/then/else, prefixItems, contains,
// patternProperties, propertyNames, dependentRequired, dependentSchemas, unevaluated*, …) is
// compatible only where the reader's subschema is identical to the writer's; anywhere else it
// is reported as a change that cannot be proved compatible. In the writer, such a keyword only
// narrows what it accepts, so it is ignored (which can only make the answer more cautious),
// except where it changes what another keyword means: items beside prefixItems,
// additionalProperties beside patternProperties are then ignored too.

export type JsonSchemaDoc = boolean | Record<string, unknown>
export type CompatibilityMode = 'backward' | 'forward' | 'full' | 'none'
export const COMPATIBILITY_MODES: readonly CompatibilityMode[] = ['backward', 'forward', 'full', 'none']

export interface BreakingChange {
  /** Which direction broke: backward (new reads old) or forward (old reads new). */
  direction: 'backward' | 'forward'
  /** Where in the data, as `data`, `data.unit`, `data.readings[]`. */
  path: string
  /** A stable kind: required-added, type-narrowed, enum-value-removed, ... (see KINDS). */
  kind: Kind
  /** What changed, old → new, in words. */
  reason: string
}

type Kind =
  | 'required-added' | 'required-removed' | 'type-narrowed' | 'type-widened'
  | 'enum-value-removed' | 'enum-value-added' | 'enum-added' | 'enum-removed'
  | 'minimum-raised' | 'minimum-lowered' | 'maximum-lowered' | 'maximum-raised'
  | 'length-narrowed' | 'length-widened' | 'items-narrowed' | 'items-widened'
  | 'properties-count-narrowed' | 'properties-count-widened'
  | 'property-forbidden' | 'property-allowed' | 'open-property-added' | 'open-property-removed'
  | 'constraint-added' | 'constraint-removed' | 'constraint-changed' | 'unprovable'

const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly', '$schema', '$id', '$anchor', 'format', 'contentEncoding', 'contentMediaType', 'contentSchema'])
const UNDERSTOOD = new Set(['type', 'enum', 'const', 'properties', 'required', 'additionalProperties', 'minProperties', 'maxProperties', 'items', 'minItems', 'maxItems', 'uniqueItems', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'pattern'])
const ALL_TYPES = ['null', 'boolean', 'object', 'array', 'number', 'string'] as const

/**
 * The first change that breaks `mode` when `next` follows `previous`, or undefined when the
 * change is proved compatible (or the mode is none). Backward is checked before forward.
 */
export function checkCompatibility (previous: JsonSchemaDoc, next: JsonSchemaDoc, mode: CompatibilityMode): BreakingChange | undefined {
  if (mode === 'backward' || mode === 'full') {
    const b = readerAccepts(next, previous, 'data', 'backward')
    if (b !== undefined) return b
  }
  if (mode === 'forward' || mode === 'full') return readerAccepts(previous, next, 'data', 'forward')
  return undefined
}

/** One line: `data.unit: required field 'unit' added`. */
export function describeBreakingChange (c: BreakingChange): string {
  return `${c.path}: ${c.reason}`
}

/** Equal as JSON values (key order aside). */
export function jsonEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((v, i) => jsonEqual(v, (b as unknown[])[i]))
  const ka = Object.keys(a)
  const kb = Object.keys(b as object)
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b as object, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

const show = (v: unknown): string => JSON.stringify(v)
type Obj = Record<string, unknown>

/**
 * Whether every value `writer` accepts, `reader` accepts; else the first reason why not. The
 * direction says which of the two is the new version, for the words of the reason.
 */
function readerAccepts (reader: JsonSchemaDoc, writer: JsonSchemaDoc, path: string, dir: 'backward' | 'forward'): BreakingChange | undefined {
  const change = (kind: Kind, reason: string): BreakingChange => ({ direction: dir, path, kind, reason })
  const bw = dir === 'backward'
  if (jsonEqual(reader, writer) || reader === true || writer === false) return undefined
  if (reader === false) return change(bw ? 'property-forbidden' : 'property-allowed', bw ? 'no value is accepted any more' : 'values are accepted where none were')
  const r: Obj = reader
  const w: Obj = writer === true ? {} : writer

  for (const k of Object.keys(r)) {
    if (ANNOTATIONS.has(k) || UNDERSTOOD.has(k)) continue
    if (!jsonEqual(r[k], w[k])) return change('unprovable', `'${k}' differs between the versions, and gridgate cannot prove such a change compatible (only identical subschemas are)`)
  }

  // enum/const: the writer's values must all be among the reader's.
  const rValues = valuesOf(r)
  const wValues = valuesOf(w)
  if (rValues !== undefined) {
    if (wValues === undefined) return change(bw ? 'enum-added' : 'enum-removed', bw ? `values are restricted to ${show(rValues)}` : `the restriction to ${show(wValues ?? rValues)} was removed`)
    const missing = wValues.find((v) => !rValues.some((x) => jsonEqual(x, v)))
    if (missing !== undefined) return change(bw ? 'enum-value-removed' : 'enum-value-added', `enum value ${show(missing)} ${bw ? 'removed' : 'added'}`)
  }

  // Types: each type the writer allows must be allowed by the reader.
  const rTypes = typesOf(r)
  const wTypes = typesOf(w)
  for (const t of wTypes) {
    if (!covers(rTypes, t)) return change(bw ? 'type-narrowed' : 'type-widened', bw ? `type narrowed: '${t}' no longer accepted` : `type widened: '${t}' now accepted`)
  }
  // The writer's enum values are what it writes: checked against the reader's keywords below
  // only through their types (a value-level check would need a validator).

  const bound = checkBounds(r, w, wTypes, change, bw)
  if (bound !== undefined) return bound

  if (wTypes.has('string')) {
    if (r.pattern !== undefined && r.pattern !== w.pattern) {
      return change(w.pattern === undefined ? (bw ? 'constraint-added' : 'constraint-removed') : 'constraint-changed', `pattern ${words(w.pattern, r.pattern, bw)}`)
    }
  }
  if (wTypes.has('array')) {
    if (r.uniqueItems === true && w.uniqueItems !== true) return change(bw ? 'constraint-added' : 'constraint-removed', bw ? 'uniqueItems added' : 'uniqueItems removed')
    // Beside prefixItems, items is about the later elements only: the writer's is then unknown.
    const wItems = w.prefixItems !== undefined ? true : (w.items ?? true) as JsonSchemaDoc
    const items = readerAccepts((r.items ?? true) as JsonSchemaDoc, wItems, `${path}[]`, dir)
    if (items !== undefined) return items
  }
  if (wTypes.has('object')) return checkObject(r, w, path, dir, change, bw)
  return undefined
}

type Change = (kind: Kind, reason: string) => BreakingChange

function valuesOf (s: Obj): unknown[] | undefined {
  if (Object.hasOwn(s, 'const')) return [s.const]
  return Array.isArray(s.enum) ? s.enum : undefined
}

function typeOfValue (v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

/** The types a schema allows: `type`, narrowed by enum/const values; absent: every type. */
function typesOf (s: Obj): Set<string> {
  const declared = typeof s.type === 'string' ? [s.type] : Array.isArray(s.type) ? s.type as string[] : [...ALL_TYPES]
  const values = valuesOf(s)
  if (values === undefined) return new Set(declared)
  const set = new Set<string>()
  for (const v of values) {
    const t = typeOfValue(v)
    if (covers(new Set(declared), t)) set.add(t)
  }
  return set
}

function covers (types: Set<string>, t: string): boolean {
  return types.has(t) || (t === 'integer' && types.has('number'))
}

/** `old → new`: in backward the reader is the new version, in forward the writer is. */
const words = (writerV: unknown, readerV: unknown, bw: boolean): string =>
  bw ? `${show(writerV ?? null)} → ${show(readerV ?? null)}` : `${show(readerV ?? null)} → ${show(writerV ?? null)}`

interface Bound { value: number, exclusive: boolean }

function lower (s: Obj): Bound | undefined {
  const min = typeof s.minimum === 'number' ? s.minimum : undefined
  const ex = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : undefined
  if (min === undefined && ex === undefined) return undefined
  if (ex !== undefined && (min === undefined || ex >= min)) return { value: ex, exclusive: true }
  return { value: min as number, exclusive: false }
}

function upper (s: Obj): Bound | undefined {
  const max = typeof s.maximum === 'number' ? s.maximum : undefined
  const ex = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : undefined
  if (max === undefined && ex === undefined) return undefined
  if (ex !== undefined && (max === undefined || ex <= max)) return { value: ex, exclusive: true }
  return { value: max as number, exclusive: false }
}

const boundText = (b: Bound | undefined, side: 'min' | 'max'): string =>
  b === undefined ? 'none' : `${b.exclusive ? (side === 'min' ? '>' : '<') : (side === 'min' ? '>=' : '<=')} ${b.value}`

/** A count limit (minLength, maxItems, ...): the reader's must not be tighter than the writer's. */
function countLimit (r: Obj, w: Obj, key: string, side: 'min' | 'max'): [unknown, unknown] | undefined {
  const rv = r[key]
  if (typeof rv !== 'number') return undefined
  const wv = w[key]
  if (typeof wv === 'number' && (side === 'min' ? wv >= rv : wv <= rv)) return undefined
  return [wv, rv]
}

function checkBounds (r: Obj, w: Obj, wTypes: Set<string>, change: Change, bw: boolean): BreakingChange | undefined {
  if (wTypes.has('number') || wTypes.has('integer')) {
    const rl = lower(r)
    const wl = lower(w)
    if (rl !== undefined && !(wl !== undefined && (wl.value > rl.value || (wl.value === rl.value && (wl.exclusive || !rl.exclusive))))) {
      const [o, n] = bw ? [wl, rl] : [rl, wl]
      return change(bw ? 'minimum-raised' : 'minimum-lowered', `lower bound ${boundText(o, 'min')} → ${boundText(n, 'min')}`)
    }
    const ru = upper(r)
    const wu = upper(w)
    if (ru !== undefined && !(wu !== undefined && (wu.value < ru.value || (wu.value === ru.value && (wu.exclusive || !ru.exclusive))))) {
      const [o, n] = bw ? [wu, ru] : [ru, wu]
      return change(bw ? 'maximum-lowered' : 'maximum-raised', `upper bound ${boundText(o, 'max')} → ${boundText(n, 'max')}`)
    }
    if (typeof r.multipleOf === 'number' && !(typeof w.multipleOf === 'number' && Number.isInteger(w.multipleOf / r.multipleOf))) {
      return change('constraint-changed', `multipleOf ${words(w.multipleOf, r.multipleOf, bw)}`)
    }
  }
  const counts: Array<[string, 'min' | 'max', string, Kind, Kind]> = [
    ['minLength', 'min', 'string', 'length-narrowed', 'length-widened'],
    ['maxLength', 'max', 'string', 'length-narrowed', 'length-widened'],
    ['minItems', 'min', 'array', 'items-narrowed', 'items-widened'],
    ['maxItems', 'max', 'array', 'items-narrowed', 'items-widened'],
    ['minProperties', 'min', 'object', 'properties-count-narrowed', 'properties-count-widened'],
    ['maxProperties', 'max', 'object', 'properties-count-narrowed', 'properties-count-widened']
  ]
  for (const [key, side, type, narrowed, widened] of counts) {
    if (!wTypes.has(type)) continue
    const broken = countLimit(r, w, key, side)
    if (broken !== undefined) return change(bw ? narrowed : widened, `${key} ${words(broken[0], broken[1], bw)}`)
  }
  return undefined
}

function checkObject (r: Obj, w: Obj, path: string, dir: 'backward' | 'forward', change: Change, bw: boolean): BreakingChange | undefined {
  const rRequired = Array.isArray(r.required) ? r.required as string[] : []
  const wRequired = new Set(Array.isArray(w.required) ? w.required as string[] : [])
  for (const name of rRequired) {
    if (!wRequired.has(name)) return { ...change(bw ? 'required-added' : 'required-removed', bw ? `required field '${name}' added` : `field '${name}' no longer required`), path: `${path}.${name}` }
  }
  const rProps = (r.properties ?? {}) as Record<string, JsonSchemaDoc>
  const wProps = (w.properties ?? {}) as Record<string, JsonSchemaDoc>
  // Beside patternProperties, additionalProperties is about the other names only: unknown.
  const rAdditional = (r.additionalProperties ?? true) as JsonSchemaDoc
  const wAdditional = w.patternProperties !== undefined ? true : (w.additionalProperties ?? true) as JsonSchemaDoc
  const names = [...new Set([...Object.keys(wProps), ...Object.keys(rProps)])]
  for (const name of names) {
    const ws = Object.hasOwn(wProps, name) ? wProps[name] as JsonSchemaDoc : wAdditional
    const rs = Object.hasOwn(rProps, name) ? rProps[name] as JsonSchemaDoc : rAdditional
    const broken = readerAccepts(rs, ws, `${path}.${name}`, dir)
    if (broken !== undefined) {
      if (broken.kind === 'property-forbidden' || broken.kind === 'property-allowed') {
        return { ...broken, reason: bw ? `field '${name}' is no longer allowed` : `field '${name}' is now allowed` }
      }
      // An open object (additionalProperties absent or true) accepts any value under any other
      // name: giving a name a schema is a narrowing for the data written before (Confluent's
      // PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL). Closed objects can add optional fields.
      if (!Object.hasOwn(wProps, name) && wAdditional === true) {
        return { ...broken, path: `${path}.${name}`, kind: bw ? 'open-property-added' : 'open-property-removed', reason: bw ? `field '${name}' added to an open object, where it could hold any value (add fields to objects with additionalProperties: false)` : `field '${name}' removed from an open object, where it may now hold any value` }
      }
      return broken
    }
  }
  const additional = readerAccepts(rAdditional, wAdditional, `${path}.*`, dir)
  if (additional !== undefined && (additional.kind === 'property-forbidden' || additional.kind === 'property-allowed')) {
    return { ...additional, reason: bw ? 'additional properties are no longer allowed' : 'additional properties are now allowed' }
  }
  return additional
}
