import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv'
import { isRfc3339 } from './cloudevent.js'
import { GridgateError, type ErrorCode } from './errors.js'

// The one validation system for what arrives from outside: JSON Schemas compiled by ajv, and
// one formatter that turns ajv's first error into a GridgateError with the resource's code and
// a message naming the field, as the README's error table documents. Fastify runs these on
// every route (http/server.ts); modules that also take definitions from elsewhere (config
// windows, stored subscriptions) run the same compiled schemas through `checkWith`.
//
// Schemas carry their error wording in the `x-error` annotation (ErrorAnnotation below); the
// OpenAPI document leaves it out.

/** The parts of a request fastify validates, plus `value` for anything checked outside HTTP. */
export type SchemaPart = 'body' | 'querystring' | 'params' | 'headers' | 'value'

export type JsonSchema = Record<string, unknown>

/** The `x-error` annotation: how failures at or under a schema are reported. */
export interface ErrorAnnotation {
  /** The code of failures at or under this schema (the nearest wins). */
  code?: ErrorCode
  /** The whole message of failures at or under this schema (the nearest wins); `{field}` and `{value}` are filled in. */
  message?: string
  /** What is wrong when this schema's own keywords fail; `{value}` is filled in. */
  problem?: string
  /** What is wrong when this (required) field is missing; default: the problem, else 'is required'. */
  missing?: string
  /** The name of this field in messages, when it differs from its key (a header's canonical case). */
  name?: string
  /** Prefixed to the names of the fields under this schema (Event Grid's optional `properties` wrapper). */
  prefix?: string
  /**
   * On the root only: `field` says `field: problem`, `quoted` says `'field' problem` (management
   * bodies), `query` says `query parameter 'field' problem`.
   */
  style?: 'field' | 'quoted' | 'query'
}

export const ERROR_ANNOTATION = 'x-error'

const DEFAULT_CODES: Record<SchemaPart, ErrorCode> = {
  body: 'BODY_INVALID',
  querystring: 'QUERY_PARAM_INVALID',
  params: 'NOT_FOUND',
  headers: 'BODY_INVALID',
  value: 'BODY_INVALID'
}

/** ajv options for bodies: JSON types as sent (no coercion), defaults filled in, unknown fields refused by the schemas. */
export const BODY_AJV_OPTIONS: Options = {
  coerceTypes: false,
  useDefaults: true,
  removeAdditional: false,
  allErrors: false,
  verbose: true,
  discriminator: true,
  strict: true,
  allowUnionTypes: true
}

/** Query strings, path parameters and headers arrive as strings: integers and booleans are read from them. */
export const STRING_AJV_OPTIONS: Options = { ...BODY_AJV_OPTIONS, coerceTypes: true }

function createAjv (options: Options): Ajv {
  const ajv = new Ajv(options)
  ajv.addKeyword({ keyword: ERROR_ANNOTATION, schemaType: 'object' })
  // The one RFC 3339 rule of gridgate (CloudEvent `time`, query times, subscription start times).
  ajv.addFormat('date-time', { type: 'string', validate: isRfc3339 })
  return ajv
}

/** Checks a value against one schema: undefined when it passes, else the error to answer with. */
export type SchemaCheck = (data: unknown) => GridgateError | undefined

const ajvs = { body: createAjv(BODY_AJV_OPTIONS), strings: createAjv(STRING_AJV_OPTIONS) }
const cache = new WeakMap<object, Map<SchemaPart, SchemaCheck>>()

/**
 * Compiles a schema for one part of a request (cached per schema object). Values are changed
 * in place as ajv does: defaults filled in, and for string parts, numbers and booleans read.
 */
export function compileSchema (schema: JsonSchema, part: SchemaPart): SchemaCheck {
  let byPart = cache.get(schema)
  const hit = byPart?.get(part)
  if (hit !== undefined) return hit
  const strings = part === 'querystring' || part === 'params' || part === 'headers'
  const validate = (strings ? ajvs.strings : ajvs.body).compile(schema)
  const check = strings ? stringsCheck(schema, part, validate) : (data: unknown) => validate(data) ? undefined : formatSchemaError(validate.errors ?? [], { schema, part, data })
  if (byPart === undefined) cache.set(schema, byPart = new Map())
  byPart.set(part, check)
  return check
}

/** Validates `data` (changed in place: defaults) and throws the formatted error. */
export function checkWith<T> (schema: JsonSchema, data: unknown, part: SchemaPart = 'value'): T {
  const err = compileSchema(schema, part)(data)
  if (err !== undefined) throw err
  return data as T
}

function typesOf (schema: unknown): string[] {
  const t = (schema as JsonSchema | undefined)?.type
  return Array.isArray(t) ? t as string[] : typeof t === 'string' ? [t] : []
}

/**
 * ajv reads `1e2`, `0x10` or ` 5 ` as integers; gridgate's query integers are plain decimal
 * digits, so anything else fails before ajv sees it. The values quoted in messages are the
 * ones sent, not ajv's readings of them.
 */
function stringsCheck (schema: JsonSchema, part: SchemaPart, validate: ValidateFunction): SchemaCheck {
  const props = (schema.properties ?? {}) as Record<string, JsonSchema>
  const integers = Object.keys(props).filter((name) => typesOf(props[name]).includes('integer'))
  return (data) => {
    const raw = data !== null && typeof data === 'object' ? { ...data as Record<string, unknown> } : data
    for (const name of integers) {
      const v = (raw as Record<string, unknown> | null)?.[name]
      if (typeof v === 'string' && !/^-?\d+$/.test(v)) {
        const e = { keyword: 'type', instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, params: { type: 'integer' }, message: 'must be integer' }
        return formatSchemaError([e], { schema, part, data: raw, raw })
      }
    }
    return validate(data) ? undefined : formatSchemaError(validate.errors ?? [], { schema, part, data, raw })
  }
}

export interface FormatContext {
  /** The root schema the errors come from. */
  schema: JsonSchema
  part: SchemaPart
  /** The value validated. */
  data: unknown
  /** The value as sent, when validation changed it (query strings read as numbers). */
  raw?: unknown
}

type Segment = string | number

function pointer (path: string): string[] {
  return path === '' ? [] : path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

function childOf (value: unknown, key: string): unknown {
  if (Array.isArray(value)) return value[Number(key)]
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined
}

/** The instance path as segments: numbers where the data is an array. */
function segments (path: string, data: unknown): { path: Segment[], value: unknown } {
  const out: Segment[] = []
  let node = data
  for (const key of pointer(path)) {
    out.push(Array.isArray(node) ? Number(key) : key)
    node = childOf(node, key)
  }
  return { path: out, value: node }
}

// Keywords whose value maps names to schemas, and those holding arrays of schemas.
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'])

/** The schemas from the root to the one holding the failed keyword, in order. */
function schemasAlong (root: JsonSchema, schemaPath: string): JsonSchema[] {
  const keys = pointer(schemaPath.replace(/^#/, ''))
  const chain: JsonSchema[] = [root]
  let node: unknown = root
  let inMap = false
  // The last key is the keyword itself.
  for (const key of keys.slice(0, -1)) {
    node = childOf(node, key)
    if (node === undefined) break
    const isSchema = !Array.isArray(node) && typeof node === 'object' && node !== null && (inMap || !SCHEMA_MAPS.has(key))
    if (isSchema) chain.push(node as JsonSchema)
    inMap = SCHEMA_MAPS.has(key)
  }
  return chain
}

function annotation (schema: JsonSchema | undefined): ErrorAnnotation {
  return (schema?.[ERROR_ANNOTATION] ?? {}) as ErrorAnnotation
}

function quote (v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v)
}

function oneOfList (values: readonly unknown[]): string {
  const q = values.map(quote)
  return q.length <= 1 ? q.join('') : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1] as string}`
}

function show (value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)
  return s.slice(0, 40)
}

function range (what: string, s: JsonSchema): string {
  const min = s.minimum ?? s.exclusiveMinimum
  const max = s.maximum
  if (min !== undefined && max !== undefined) return `must be ${what} from ${String(min)} to ${String(max)}`
  if (min !== undefined) return `must be ${what} of at least ${String(min)}`
  if (max !== undefined) return `must be ${what} of at most ${String(max)}`
  return `must be ${what}`
}

/** What is wrong, in words, when `keyword` of schema `s` fails. */
function defaultProblem (e: ErrorObject, s: JsonSchema): string {
  switch (e.keyword) {
    case 'required': return 'is required'
    case 'enum': return `must be one of ${(s.enum as unknown[]).map(quote).join(', ')}`
    case 'const': return `must be ${quote(s.const)}`
    case 'format': return s.format === 'date-time' ? 'must be an RFC 3339 time such as 2026-01-01T00:00:00Z' : `must be a ${String(s.format)}`
    case 'minLength':
    case 'maxLength': return `must be ${String(s.minLength ?? 0)} to ${String(s.maxLength ?? '∞')} characters`
    case 'minItems':
    case 'maxItems': return s.maxItems === undefined ? `must have at least ${String(s.minItems)} entries` : `must have ${String(s.minItems ?? 0)} to ${String(s.maxItems)} entries`
    case 'maxProperties': return `may have at most ${String(s.maxProperties)} entries`
    case 'pattern': return 'is invalid'
  }
  const types = typesOf(s).filter((t) => t !== 'null')
  if (types.includes('integer')) return range('an integer', s)
  if (types.includes('number')) return range('a number', s)
  if (types.includes('object')) return 'must be an object'
  if (types.includes('array')) return typesOf(s.items).includes('string') ? 'must be an array of strings' : 'must be an array'
  if (types.includes('string')) return 'must be a string'
  if (types.includes('boolean')) return 'must be true or false'
  return e.message ?? 'is invalid'
}

/** `Queue` for `queue`: the enum value that differs only in case. */
function nearValue (e: ErrorObject, s: JsonSchema, value: unknown): string | undefined {
  if (e.keyword !== 'enum' || typeof value !== 'string') return undefined
  return (s.enum as unknown[]).find((v): v is string => typeof v === 'string' && v.toLowerCase() === value.toLowerCase())
}

function renderField (path: readonly Segment[]): string {
  let out = ''
  for (const s of path) out += typeof s === 'number' ? `[${s}]` : out === '' ? s : `.${s}`
  return out
}

function fill (template: string, field: string, value: unknown): string {
  return template.replace(/\{field\}/g, field).replace(/\{value\}/g, show(value))
}

/** The GridgateError for the first of ajv's errors: the resource's code, the field named. */
export function formatSchemaError (errors: readonly ErrorObject[], ctx: FormatContext): GridgateError {
  const e = errors[0]
  if (e === undefined) return new GridgateError(DEFAULT_CODES[ctx.part])
  const root = ctx.schema
  const chain = schemasAlong(root, e.schemaPath)
  const at = segments(e.instancePath, ctx.raw ?? ctx.data)
  const path = at.path
  let value = at.value
  let target = chain[chain.length - 1] as JsonSchema
  if (e.keyword === 'required' || e.keyword === 'additionalProperties' || e.keyword === 'discriminator') {
    const key = String(e.params.missingProperty ?? e.params.additionalProperty ?? e.params.tag)
    path.push(key)
    value = childOf(value, key)
    const child = (target.properties as Record<string, JsonSchema> | undefined)?.[key]
    if (e.keyword === 'required' && child !== undefined) chain.push(target = child)
  }
  const notes = chain.map(annotation)
  const nearest = <K extends keyof ErrorAnnotation>(k: K): ErrorAnnotation[K] => notes.findLast((n) => n[k] !== undefined)?.[k]
  const own = notes[notes.length - 1] as ErrorAnnotation
  const code = nearest('code') ?? DEFAULT_CODES[ctx.part]
  const style = annotation(root).style ?? (ctx.part === 'querystring' ? 'query' : 'field')
  const prefixes = notes.flatMap((n) => n.prefix === undefined ? [] : [n.prefix])
  const named = own.name !== undefined && e.keyword !== 'additionalProperties' ? [...path.slice(0, -1), own.name] : path
  const field = renderField([...prefixes, ...named])
  const detailKey = ctx.part === 'querystring' ? 'param' : 'field'
  const where = field === '' ? (ctx.part === 'value' ? 'body' : ctx.part) : field
  const details = { [detailKey]: where }

  // A parameter given twice arrives as an array.
  if (ctx.part === 'querystring' && Array.isArray(value) && !typesOf(target).includes('array')) {
    return new GridgateError(code, `query parameter '${field}' is given more than once`, { details })
  }
  const message = nearest('message')
  if (message !== undefined) return new GridgateError(code, fill(message, field, value), { details })

  let problem: string
  if (e.keyword === 'additionalProperties') {
    if (style === 'quoted') return new GridgateError(code, `unknown field '${field}'`, { details })
    if (style === 'query') return new GridgateError(code, `query parameter '${field}' is not known here`, { details })
    problem = `unknown ${ctx.part === 'querystring' ? 'parameter' : 'field'} (allowed: ${Object.keys((target.properties ?? {}) as object).join(', ')})`
  } else if (e.keyword === 'discriminator') {
    const tags = ((target.oneOf ?? []) as JsonSchema[]).map((b) => ((b.properties as Record<string, JsonSchema>)[String(e.params.tag)] as JsonSchema).const)
    problem = value === undefined ? `is required: ${oneOfList(tags)}` : `must be ${oneOfList(tags)}`
  } else {
    const given = e.keyword === 'required' ? own.missing ?? own.problem : own.problem
    const near = nearValue(e, target, value)
    problem = given !== undefined
      ? fill(given, field, value)
      : near !== undefined ? `must be '${near}' (names are case-sensitive)` : defaultProblem(e, target)
  }
  switch (style) {
    case 'quoted':
      return new GridgateError(code, path.length === 0 ? `the body ${problem}` : `'${field}' ${problem}`, { details })
    case 'query': {
      const sent = value === undefined || e.keyword === 'required' ? '' : `, not '${show(value)}'`
      return new GridgateError(code, `query parameter '${field}' ${problem}${sent}`, { details })
    }
    default:
      return new GridgateError(code, `${where}: ${problem}`, { details })
  }
}
