import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { Ajv, type ValidateFunction } from 'ajv'
import { GridgateError } from '../core/errors.js'

// JSON Schemas for route data, compiled once at start. A schema that cannot be read or
// compiled stops the start (CONFIG_INVALID naming the route).

export type DataSchema = ValidateFunction

/**
 * A route's schema from the schema registry (routes[].schemaSubject): the version in force
 * now, looked up per message without waiting, and its URI for the event's `dataschema`.
 */
export interface RegistrySchema {
  /** Undefined while the subject (or the pinned version) does not exist: the message is invalid. */
  current: () => { validate: DataSchema, uri: string } | undefined
  /** The subject, for the reason of such a message. */
  subject: string
}

export async function compileSchemas (routes: ReadonlyArray<{ schema?: string }>, baseDir: string): Promise<Array<DataSchema | undefined>> {
  const ajv = new Ajv({ allErrors: false, strict: false })
  const out: Array<DataSchema | undefined> = []
  for (const [i, r] of routes.entries()) {
    if (r.schema === undefined) { out.push(undefined); continue }
    const file = resolve(baseDir, r.schema)
    try {
      out.push(ajv.compile(JSON.parse(await readFile(file, 'utf8')) as object))
    } catch (err) {
      throw new GridgateError('CONFIG_INVALID', `/routes/${i}/schema: cannot use ${file}: ${(err as Error).message}`, { cause: err })
    }
  }
  return out
}

/** A short, stable description of why data failed its schema. */
export function describeSchemaErrors (validate: DataSchema): string {
  const e = validate.errors?.[0]
  if (e === undefined) return 'data does not match the schema'
  return `data${e.instancePath.replace(/\//g, '.')} ${e.message ?? 'is invalid'}`
}
