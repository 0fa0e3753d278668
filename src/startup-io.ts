import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { createSecureContext } from 'node:tls'
import type { TlsMaterial } from './broker/listeners.js'
import type { Config } from './config/schema.js'
import { GridgateError } from './core/errors.js'
import { reasonOf } from './startup-errors.js'

// What start-up reads and prints around the modules: certificate files, listener URLs, and
// the one-time announcement of a generated access key.

/**
 * Reads the TLS files and checks they are what their field says (a certificate, a private
 * key, and a key that belongs to the certificate), so a wrong file is refused naming the
 * field and the file rather than by a TLS error from the listener.
 */
export async function readTls (config: Config['mqtt']['tls'], baseDir: string): Promise<TlsMaterial | undefined> {
  if (config.cert === undefined || config.key === undefined) return undefined
  const read = async (field: string, file: string, check: (pem: Buffer) => unknown, what: string): Promise<Buffer> => {
    const path = resolve(baseDir, file)
    let pem: Buffer
    try {
      pem = await readFile(path)
    } catch (err) {
      throw new GridgateError('CONFIG_INVALID', `/mqtt/tls/${field}: cannot read ${path}: ${reasonOf(err)}`, { cause: err })
    }
    try {
      check(pem)
    } catch (err) {
      throw new GridgateError('CONFIG_INVALID', `/mqtt/tls/${field}: ${path} is not ${what} (${reasonOf(err)})`, { cause: err })
    }
    return pem
  }
  const cert = await read('cert', config.cert, (pem) => new X509Certificate(pem), 'a PEM certificate')
  const key = await read('key', config.key, (pem) => createPrivateKey(pem), 'an unencrypted PEM private key')
  const ca = config.ca === undefined ? undefined : await read('ca', config.ca, (pem) => new X509Certificate(pem), 'a PEM certificate')
  try {
    createSecureContext({ cert, key })
  } catch (err) {
    throw new GridgateError('CONFIG_INVALID', `/mqtt/tls: the key in ${resolve(baseDir, config.key)} does not belong to the certificate in ${resolve(baseDir, config.cert)} (${reasonOf(err)})`, { cause: err })
  }
  return { cert, key, ca }
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
