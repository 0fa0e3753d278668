import { readFile } from 'node:fs/promises'
import { SimError } from './errors.js'
import { compileTemplate, DEFAULT_TEMPLATE } from './payload.js'

// The files a run reads before it starts: the payload template (--payload) and the CA
// certificate (--ca). A file that cannot be read or used is a FILE_INVALID naming the option.

/** The payload template: the default, or the JSON document of `path`, checked by compiling it. */
export async function readTemplate (path: string | null): Promise<unknown> {
  if (path === null) return DEFAULT_TEMPLATE
  let text: string
  try { text = await readFile(path, 'utf8') } catch (err) { throw new SimError('FILE_INVALID', `--payload ${path}: ${(err as Error).message}`) }
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) { throw new SimError('FILE_INVALID', `--payload ${path}: not JSON (${(err as Error).message})`) }
  compileTemplate(doc, `--payload ${path}`)
  return doc
}

/** The CA certificate (PEM) to trust, or undefined when none was given. */
export async function readCa (path: string | null): Promise<string | undefined> {
  if (path === null) return undefined
  try { return await readFile(path, 'utf8') } catch (err) { throw new SimError('FILE_INVALID', `--ca ${path}: ${(err as Error).message}`) }
}
