import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseDocument } from 'yaml'
import { GridgateError } from '../core/errors.js'
import { applyEnvOverrides } from './env.js'
import type { Config } from './schema.js'
import { validateConfig } from './validate.js'

/** config/default.yaml of this package, wherever it is started from. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../../config/default.yaml', import.meta.url))

/** Parses YAML text into a plain object; a YAML error names its line. */
export function parseConfigText (text: string, file: string): Record<string, unknown> {
  const doc = parseDocument(text, { prettyErrors: true })
  if (doc.errors.length > 0) {
    const e = doc.errors[0]
    throw new GridgateError('CONFIG_INVALID', `${file}: ${e?.message ?? 'invalid YAML'}`)
  }
  const value: unknown = doc.toJS()
  if (value === null || value === undefined) return {}
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new GridgateError('CONFIG_INVALID', `${file}: the top level must be a mapping of fields`)
  }
  return value as Record<string, unknown>
}

/** YAML file -> environment overrides -> validation -> one frozen Config. */
export async function loadConfig (file: string = DEFAULT_CONFIG_PATH, env: Record<string, string | undefined> = process.env): Promise<Config> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new GridgateError('CONFIG_INVALID', `cannot read config file ${file}: ${(err as Error).message}`, { cause: err })
  }
  const raw = applyEnvOverrides(parseConfigText(text, file), env)
  try {
    return validateConfig(raw)
  } catch (err) {
    if (err instanceof GridgateError) {
      throw new GridgateError('CONFIG_INVALID', `${file}: ${err.message}`, { details: err.details, cause: err })
    }
    throw err
  }
}
