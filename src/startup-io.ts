import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import type { TlsMaterial } from './broker/listeners.js'
import type { Config } from './config/schema.js'
import { GridgateError } from './core/errors.js'

// What start-up reads and prints around the modules: certificate files, listener URLs, and
// the one-time announcement of a generated access key.

export async function readTls (config: Config['mqtt']['tls'], baseDir: string): Promise<TlsMaterial | undefined> {
  if (config.cert === undefined || config.key === undefined) return undefined
  const read = async (field: string, file: string): Promise<Buffer> => {
    try {
      return await readFile(resolve(baseDir, file))
    } catch (err) {
      throw new GridgateError('CONFIG_INVALID', `/mqtt/tls/${field}: cannot read ${file}: ${(err as Error).message}`, { cause: err })
    }
  }
  return {
    cert: await read('cert', config.cert),
    key: await read('key', config.key),
    ca: config.ca === undefined ? undefined : await read('ca', config.ca)
  }
}

export function urlOf (scheme: string, address: AddressInfo | string | null, path = ''): string {
  if (address === null || typeof address === 'string') return `${scheme}://${String(address)}${path}`
  const wildcard = address.address === '0.0.0.0' || address.address === '::'
  const host = wildcard ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${scheme}://${host}:${address.port}${path}`
}

/** The text that shows a generated key once (stderr), with how to use it. */
export function keyAnnouncement (file: string, key: string, httpUrl: string): string {
  return [
    `gridgate: no HTTP access key was configured, so one was generated and stored in ${file}`,
    '(shown only this once; set http.keys or GRIDGATE_HTTP_KEYS to use your own):',
    '',
    `    ${key}`,
    '',
    `Use it as:  curl -H "Authorization: SharedAccessKey ${key}" ${httpUrl}/topics`,
    ''
  ].join('\n')
}
