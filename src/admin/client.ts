import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request } from 'undici'
import { UsageError } from './args.js'

// The admin CLI's one way to the gateway: its HTTP API, with the access key. It imports
// nothing of the gateway: what it knows of the server is the documented API.

/** The file a gateway keeps its generated key in, under its data directory (config/access-key.ts). */
export const ACCESS_KEY_FILE = 'http-access-key'

export const DEFAULT_PORT = 8080

export interface Target {
  /** The gateway's base URL, without a trailing slash. */
  url: string
  key?: string
  /** Where the key came from, for a 401's message: `--key`, `GRIDGATE_KEY` or the key file. */
  keySource?: string
  /** The key file looked for when there was no other key. */
  keyFile: string
}

export interface TargetInputs {
  url?: string
  key?: string
  dataDir?: string
  env: Record<string, string | undefined>
}

function nonEmpty (v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v.trim()
}

/**
 * --url, else GRIDGATE_URL, else the local gateway of this environment (GRIDGATE_HTTP_HOST
 * and GRIDGATE_HTTP_PORT as `gridgate start` reads them; 127.0.0.1:8080 by default).
 * --key, else GRIDGATE_KEY, else the key file in the data directory (--data-dir, else
 * GRIDGATE_DATA_DIR, else ./data) when it is readable; else no key.
 */
export function resolveTarget (inputs: TargetInputs): Target {
  const { env } = inputs
  let url = nonEmpty(inputs.url) ?? nonEmpty(env.GRIDGATE_URL)
  if (url === undefined) {
    const host = nonEmpty(env.GRIDGATE_HTTP_HOST)
    const port = nonEmpty(env.GRIDGATE_HTTP_PORT)
    const local = host === undefined || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
    url = `http://${local}:${port === undefined || port === '0' ? DEFAULT_PORT : port}`
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new UsageError(`'${url}' is not a URL (--url or GRIDGATE_URL, e.g. http://127.0.0.1:8080)`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`'${url}' is not an http(s) URL (--url or GRIDGATE_URL)`)
  const base = `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`
  const file = join(nonEmpty(inputs.dataDir) ?? nonEmpty(env.GRIDGATE_DATA_DIR) ?? 'data', ACCESS_KEY_FILE)
  const key = nonEmpty(inputs.key)
  if (key !== undefined) return { url: base, key, keySource: '--key', keyFile: file }
  const envKey = nonEmpty(env.GRIDGATE_KEY)
  if (envKey !== undefined) return { url: base, key: envKey, keySource: 'GRIDGATE_KEY', keyFile: file }
  try {
    const fromFile = readFileSync(file, 'utf8').trim()
    if (fromFile.length > 0) return { url: base, key: fromFile, keySource: file, keyFile: file }
  } catch { /* no local gateway's key here */ }
  return { url: base, keyFile: file }
}

/** What a 401 adds: which key was sent, or how to give one. */
function keyNote (target: Target): string {
  return target.keySource === undefined
    ? `no key was sent: pass --key, set GRIDGATE_KEY, or run where ${target.keyFile} is readable`
    : `the key from ${target.keySource} was refused`
}

/** The API answered with an error: `{"error":{"code","message"}}` and a status. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor (readonly status: number, readonly code: string, message: string) {
    super(message)
  }
}

/** No answer at all: refused, unknown host, timed out, reset. */
export class UnreachableError extends Error {
  override readonly name = 'UnreachableError'
}

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'no such host (DNS lookup failed)',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_SOCKET: 'connection closed'
}

function networkReason (err: unknown): string {
  const all = err instanceof AggregateError ? [err, ...err.errors] : [err, (err as { cause?: unknown }).cause]
  for (const e of all) {
    const code = (e as { code?: string } | undefined)?.code
    if (code !== undefined && NETWORK_REASONS[code] !== undefined) return NETWORK_REASONS[code]
  }
  return (err as Error).message.split('\n')[0] ?? String(err)
}

export interface CallOptions {
  body?: unknown
  query?: Record<string, string | number | undefined>
  /** Longer than the server may hold the answer (long waits). */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface Api {
  readonly target: Target
  /** The parsed JSON answer (undefined for 204), or ApiError / UnreachableError. */
  call: <T = unknown>(method: string, path: string, opts?: CallOptions) => Promise<T>
}

/** Path segments are percent-encoded here, so names with any characters stay one segment. */
export function pathOf (...segments: string[]): string {
  return segments.map((s) => `/${encodeURIComponent(s)}`).join('')
}

export function createApi (target: Target): Api {
  return {
    target,
    async call<T>(method: string, path: string, opts: CallOptions = {}): Promise<T> {
      const query = new URLSearchParams()
      for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) query.set(k, String(v))
      const qs = query.toString()
      const headers: Record<string, string> = { accept: 'application/json' }
      if (target.key !== undefined) headers.authorization = `SharedAccessKey ${target.key}`
      if (opts.body !== undefined) headers['content-type'] = 'application/json'
      const timeout = opts.timeoutMs ?? 60_000
      let res: Awaited<ReturnType<typeof request>>
      try {
        res = await request(`${target.url}${path}${qs === '' ? '' : `?${qs}`}`, {
          method: method as 'GET',
          headers,
          body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
          headersTimeout: timeout,
          bodyTimeout: timeout,
          signal: opts.signal
        })
      } catch (err) {
        if (opts.signal?.aborted === true) throw err
        throw new UnreachableError(`cannot reach ${target.url}: ${networkReason(err)} (set --url or GRIDGATE_URL)`)
      }
      const text = await res.body.text()
      let parsed: unknown
      try { parsed = text.length > 0 ? JSON.parse(text) : undefined } catch { parsed = undefined }
      if (res.statusCode >= 200 && res.statusCode < 300) return parsed as T
      const error = (parsed as { error?: { code?: unknown, message?: unknown } } | undefined)?.error
      const code = typeof error?.code === 'string' ? error.code : `HTTP_${res.statusCode}`
      let message = typeof error?.message === 'string' ? error.message : text.slice(0, 200).split('\n')[0] ?? ''
      if (res.statusCode === 401) message += ` (${keyNote(target)})`
      throw new ApiError(res.statusCode, code, message)
    }
  }
}
