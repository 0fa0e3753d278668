import { createHash } from 'node:crypto'
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import { checkCompatibility, describeBreakingChange, type BreakingChange, type CompatibilityMode, type JsonSchemaDoc } from './compatibility.js'
import type { SchemaBinding, SchemaStore, StoredSubject, TopicSchemas } from './store.js'

// The schema registry: subjects of immutable, numbered JSON Schema (2020-12) versions, each
// subject with a compatibility mode that every new version must keep (compatibility.ts), and
// per topic the subject each event type is checked against. Versions are compiled once
// (ajv 2020) and cached; the version in force for "latest" is re-read from the store at most
// every `refreshMs` (another node may have registered one), and at once after a registration
// through this gateway.

export interface CompiledSchema {
  subject: string
  version: number
  id: string
  /** The CloudEvent `dataschema` of data checked against this version. */
  uri: string
  validate: ValidateFunction
}

export interface SchemaVersionView {
  subject: string
  version: number
  id: string
  schema: JsonSchemaDoc
  dataschema: string
  createdAt: string
}

export interface CheckResult {
  compatible: boolean
  compatibility: CompatibilityMode
  /** The version the draft was compared with (the latest), null for a new subject. */
  version: number | null
  breakingChange?: BreakingChange & { message: string }
  history?: HistoryCheck
}

export interface HistoryCheck {
  topic: string
  /** Events read (the last N of the topic, of the bound types). */
  checked: number
  failed: number
  /** The first failures (at most 10): offset, event type, why. */
  failures: Array<{ offset: number, type: string, error: string }>
}

/** A route's or a binding's schema, looked up synchronously on the ingest path. */
export interface SchemaHandle {
  /** The version in force now; undefined while the subject (or the version) does not exist. */
  current: () => CompiledSchema | undefined
}

export interface SchemaRegistry {
  register: (subject: string, schema: unknown, compatibility?: CompatibilityMode) => Promise<{ created: boolean, subject: string, version: number, id: string }>
  check: (subject: string, schema: unknown, opts?: { compatibility?: CompatibilityMode, history?: { topic: string, events: number, type?: string } }) => Promise<CheckResult>
  subjects: () => Promise<StoredSubject[]>
  /** SCHEMA_NOT_FOUND when it does not exist. */
  subject: (subject: string) => Promise<StoredSubject>
  version: (subject: string, version: number | 'latest') => Promise<SchemaVersionView>
  /** The compiled version a binding refers to now (the latest, or its fixed version). */
  resolve: (binding: SchemaBinding) => Promise<CompiledSchema>
  /** A handle for the ingest path; `preload` before the first message. */
  handle: (binding: SchemaBinding) => SchemaHandle
  preload: (binding: SchemaBinding) => Promise<void>
  topicSchemas: (topic: string) => Promise<TopicSchemas | undefined>
  /** Checks that every subject (and version) exists, then stores the topic's bindings. */
  setTopicSchemas: (topic: string, schemas: TopicSchemas) => Promise<void>
  /** Checks each event's data against the subject bound to its type; throws SCHEMA_VIOLATION. */
  validateEvents: (topic: string, events: ReadonlyArray<{ type: string, data?: unknown, data_base64?: unknown }>) => Promise<void>
}

export interface SchemaRegistryOptions {
  store: SchemaStore
  log: TopicLog
  clock: Clock
  /** How stale the latest version of a subject (and a topic's bindings) may be; 1 s. */
  refreshMs?: number
}

/** `urn:gridgate:schema:{subject}:{version}`: the same on every node, whatever its address. */
export const schemaUri = (subject: string, version: number): string => `urn:gridgate:schema:${subject}:${version}`

const MAX_RETRIES = 50
const MAX_FAILURES = 10

/** JSON with sorted keys: the text the content id is the hash of. */
function canonical (value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  const o = value as Record<string, unknown>
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
}

export const contentId = (schema: unknown): string => createHash('sha256').update(canonical(schema)).digest('hex').slice(0, 32)

/** Compiles a JSON Schema 2020-12 document; SCHEMA_INVALID with ajv's reason when it is not one. */
export function compileSchema (schema: unknown, field = 'schema'): ValidateFunction {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    throw new GridgateError('SCHEMA_INVALID', `${field}: must be a JSON Schema (an object or a boolean)`, { details: { field } })
  }
  // A fresh instance per compile: schemas with the same $id never collide. Unknown keywords
  // are refused (a typo would silently accept everything); formats are annotations only.
  const ajv = new Ajv2020({ strict: false, strictSchema: true, strictNumbers: true, validateFormats: false, allErrors: false })
  try {
    return ajv.compile(schema as object)
  } catch (err) {
    throw new GridgateError('SCHEMA_INVALID', `${field}: not a usable JSON Schema 2020-12: ${(err as Error).message}`, { details: { field }, cause: err })
  }
}

/** The first error of a failed validation, as `data.temperature must be number`. */
export function describeValidationError (validate: ValidateFunction): string {
  const e = validate.errors?.[0]
  if (e === undefined) return 'data does not match the schema'
  return `data${e.instancePath.replace(/\//g, '.')} ${e.message ?? 'is invalid'}`
}

const notFound = (subject: string, version?: number | 'latest'): GridgateError => new GridgateError('SCHEMA_NOT_FOUND',
  version === undefined || version === 'latest' ? `schema subject '${subject}' does not exist` : `schema subject '${subject}' has no version ${version}`,
  { details: { subject, version } })

export function createSchemaRegistry (opts: SchemaRegistryOptions): SchemaRegistry {
  const { store, log, clock } = opts
  const refreshMs = opts.refreshMs ?? 1000
  const compiled = new Map<string, CompiledSchema>()
  const latest = new Map<string, { schema: CompiledSchema | undefined, at: number, refreshing?: Promise<void> }>()
  const bindings = new Map<string, { schemas: TopicSchemas | undefined, at: number }>()

  async function compiledVersion (subject: string, version: number): Promise<CompiledSchema> {
    const key = `${subject}:${version}`
    const hit = compiled.get(key)
    if (hit !== undefined) return hit
    const stored = await store.version(subject, version)
    if (stored === undefined) throw notFound(subject, version)
    const c: CompiledSchema = { subject, version, id: stored.id, uri: schemaUri(subject, version), validate: compileSchema(stored.schema) }
    compiled.set(key, c)
    return c
  }

  async function refreshLatest (subject: string): Promise<CompiledSchema | undefined> {
    const s = await store.subject(subject)
    let schema = s === undefined ? undefined : await compiledVersion(subject, s.latest)
    // A registration through this gateway while the read was on its way is newer: keep it.
    const held = latest.get(subject)?.schema
    if (held !== undefined && (schema === undefined || held.version > schema.version)) schema = held
    latest.set(subject, { schema, at: clock.now() })
    return schema
  }

  async function resolve (binding: SchemaBinding): Promise<CompiledSchema> {
    if (binding.version !== undefined) return await compiledVersion(binding.subject, binding.version)
    const cached = latest.get(binding.subject)
    const schema = cached !== undefined && clock.now() - cached.at < refreshMs ? cached.schema : await refreshLatest(binding.subject)
    if (schema === undefined) throw notFound(binding.subject)
    return schema
  }

  async function topicSchemas (topic: string): Promise<TopicSchemas | undefined> {
    const cached = bindings.get(topic)
    if (cached !== undefined && clock.now() - cached.at < refreshMs) return cached.schemas
    const schemas = await store.topicSchemas(topic)
    bindings.set(topic, { schemas, at: clock.now() })
    return schemas
  }

  async function compare (subject: string, schema: unknown, mode?: CompatibilityMode): Promise<{ s: StoredSubject | undefined, mode: CompatibilityMode, broken?: BreakingChange }> {
    const s = await store.subject(subject)
    const m = mode ?? s?.compatibility ?? 'backward'
    if (s === undefined || m === 'none') return { s, mode: m }
    const previous = await store.version(subject, s.latest)
    if (previous === undefined) throw notFound(subject, s.latest)
    return { s, mode: m, broken: checkCompatibility(previous.schema, schema as JsonSchemaDoc, m) }
  }

  async function checkHistory (subject: string, validate: ValidateFunction, h: { topic: string, events: number, type?: string }): Promise<HistoryCheck> {
    const topic = await log.getTopic(h.topic)
    if (topic === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${h.topic}' does not exist`, { details: { topic: h.topic } })
    // Which events: the given type, else the types the topic binds to this subject, else all.
    const bound = Object.entries(await topicSchemas(h.topic) ?? {}).filter(([, b]) => b.subject === subject).map(([t]) => t)
    const types = h.type !== undefined ? new Set([h.type]) : bound.length > 0 ? new Set(bound) : undefined
    const out: HistoryCheck = { topic: h.topic, checked: 0, failed: 0, failures: [] }
    let offset = Math.max(topic.firstOffset, topic.nextOffset - h.events)
    while (offset < topic.nextOffset) {
      const { records, nextOffset } = await log.read(h.topic, { offset }, Math.min(1000, topic.nextOffset - offset))
      if (records.length === 0) break
      for (const r of records) {
        const event = JSON.parse(r.bytes.toString('utf8')) as { type: string, data?: unknown }
        if (types !== undefined && !types.has(event.type)) continue
        out.checked++
        const error = dataError(validate, event)
        if (error !== undefined) {
          out.failed++
          if (out.failures.length < MAX_FAILURES) out.failures.push({ offset: r.offset, type: event.type, error })
        }
      }
      offset = nextOffset
    }
    return out
  }

  const registry: SchemaRegistry = {
    async register (subject, schema, compatibility) {
      const validate = compileSchema(schema)
      const id = contentId(schema)
      for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
        const { s, mode, broken } = await compare(subject, schema, compatibility)
        if (broken !== undefined) {
          // Content registered before is its version again (as Confluent), compatible or not.
          const registered = s?.latest ?? 0
          for (let v = 1; v <= registered; v++) {
            const old = await store.version(subject, v)
            if (old?.id === id) return { created: false, subject, version: v, id }
          }
          throw new GridgateError('SCHEMA_INCOMPATIBLE',
            `the schema is not ${mode} compatible with version ${s?.latest ?? 0} of '${subject}': ${describeBreakingChange(broken)}`,
            { details: { subject, version: s?.latest, compatibility: mode, ...broken } })
        }
        const outcome = await store.append(subject, s?.latest ?? 0, { id, schema: schema as JsonSchemaDoc, createdAt: new Date(clock.now()).toISOString() }, compatibility)
        if (outcome.outcome === 'conflict') continue
        if (outcome.outcome === 'created') {
          const c: CompiledSchema = { subject, version: outcome.version, id, uri: schemaUri(subject, outcome.version), validate }
          compiled.set(`${subject}:${outcome.version}`, c)
          latest.set(subject, { schema: c, at: clock.now() })
        }
        return { created: outcome.outcome === 'created', subject, version: outcome.version, id }
      }
      throw new GridgateError('STORAGE_WRITE_FAILED', `schema subject '${subject}': too many concurrent registrations; retry`)
    },

    async check (subject, schema, o = {}) {
      const validate = compileSchema(schema)
      const { s, mode, broken } = await compare(subject, schema, o.compatibility)
      const result: CheckResult = { compatible: broken === undefined, compatibility: mode, version: s?.latest ?? null }
      if (broken !== undefined) result.breakingChange = { ...broken, message: describeBreakingChange(broken) }
      if (o.history !== undefined) {
        result.history = await checkHistory(subject, validate, o.history)
        if (result.history.failed > 0) result.compatible = false
      }
      return result
    },

    subjects: () => store.listSubjects(),

    async subject (subject) {
      const s = await store.subject(subject)
      if (s === undefined) throw notFound(subject)
      return s
    },

    async version (subject, version) {
      const s = await store.subject(subject)
      if (s === undefined) throw notFound(subject)
      const n = version === 'latest' ? s.latest : version
      const stored = await store.version(subject, n)
      if (stored === undefined) throw notFound(subject, n)
      return { subject, version: n, id: stored.id, schema: stored.schema, dataschema: schemaUri(subject, n), createdAt: stored.createdAt }
    },

    resolve,

    handle (binding) {
      if (binding.version !== undefined) {
        const key = `${binding.subject}:${binding.version}`
        // A version that does not exist yet is looked for again at most every refreshMs.
        let tried = Number.NEGATIVE_INFINITY
        let loading = false
        return {
          current: () => {
            const c = compiled.get(key)
            if (c === undefined && !loading && clock.now() - tried >= refreshMs) {
              loading = true
              tried = clock.now()
              compiledVersion(binding.subject, binding.version as number).catch(() => {}).finally(() => { loading = false })
            }
            return c
          }
        }
      }
      return {
        current: () => {
          const entry = latest.get(binding.subject)
          if ((entry === undefined || clock.now() - entry.at >= refreshMs) && entry?.refreshing === undefined) {
            // A failed read (the store unreachable) keeps what is held and is tried again after refreshMs.
            const refreshing = refreshLatest(binding.subject).then(() => {}, () => {
              latest.set(binding.subject, { schema: latest.get(binding.subject)?.schema, at: clock.now() })
            })
            latest.set(binding.subject, { schema: entry?.schema, at: entry?.at ?? 0, refreshing })
          }
          return entry?.schema
        }
      }
    },

    async preload (binding) {
      try { await resolve(binding) } catch (err) {
        if (!(err instanceof GridgateError && err.code === 'SCHEMA_NOT_FOUND')) throw err
      }
    },

    topicSchemas,

    async setTopicSchemas (topic, schemas) {
      for (const [type, b] of Object.entries(schemas)) {
        try {
          await resolve(b)
        } catch (err) {
          if (err instanceof GridgateError && err.code === 'SCHEMA_NOT_FOUND') {
            throw new GridgateError('SCHEMA_NOT_FOUND', `schemas['${type}']: ${err.message}`, { details: { ...err.details, type } })
          }
          throw err
        }
      }
      await store.putTopicSchemas(topic, schemas)
      bindings.set(topic, { schemas: Object.keys(schemas).length === 0 ? undefined : schemas, at: clock.now() })
    },

    async validateEvents (topic, events) {
      const schemas = await topicSchemas(topic)
      if (schemas === undefined) return
      for (const [i, event] of events.entries()) {
        const binding = Object.hasOwn(schemas, event.type) ? schemas[event.type] : undefined
        if (binding === undefined) continue
        const c = await resolve(binding).catch((err: unknown) => {
          if (err instanceof GridgateError && err.code === 'SCHEMA_NOT_FOUND') return undefined
          throw err
        })
        const error = c === undefined ? `schema subject '${binding.subject}' has no version to check against` : dataError(c.validate, event)
        if (error !== undefined) {
          throw new GridgateError('SCHEMA_VIOLATION', `event ${i} (type '${event.type}'): ${error}${c === undefined ? '' : ` (schema ${c.uri})`}`,
            { details: { index: i, type: event.type, subject: binding.subject, version: c?.version } })
        }
      }
    }
  }
  return registry
}

/** Why an event's data fails the schema, or undefined when it passes. */
function dataError (validate: ValidateFunction, event: { data?: unknown, data_base64?: unknown }): string | undefined {
  if (event.data === undefined) return event.data_base64 === undefined ? 'the event has no data' : 'data is not JSON (data_base64)'
  return validate(event.data) ? undefined : describeValidationError(validate)
}
