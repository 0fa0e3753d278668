import { Pool } from 'undici'
import { describeNetworkError, SimError } from './errors.js'

// The gateway's HTTP API as the simulator uses it: JSON in and out with the access key,
// over a keep-alive pool sized for the long polls, acknowledgements and commands in flight.
// A connection failure is a SimError (HTTP_UNREACHABLE), 401 is UNAUTHORIZED; other
// statuses are returned for the caller to judge.

export interface Answer {
  status: number
  body: any
}

export class GatewayHttp {
  private readonly pool: Pool

  constructor (readonly base: string, private readonly key: string, opts: { connections: number, ca?: string }) {
    this.pool = new Pool(base, {
      connections: opts.connections,
      // Long polls hold a request for up to maxWaitTime (10 s here); commands up to their wait.
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      connectTimeout: 10_000,
      ...(opts.ca === undefined ? {} : { connect: { ca: opts.ca } })
    })
  }

  async call (method: string, path: string, opts: { body?: unknown, signal?: AbortSignal } = {}): Promise<Answer> {
    let res
    try {
      res = await this.pool.request({
        method: method as 'GET',
        path: new URL(this.base).pathname.replace(/\/$/, '') + path,
        headers: {
          authorization: `SharedAccessKey ${this.key}`,
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' })
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: opts.signal
      })
    } catch (err) {
      if (opts.signal?.aborted === true) throw err
      throw new SimError('HTTP_UNREACHABLE', `cannot reach the gateway's HTTP API at ${this.base}: ${describeNetworkError(err)}`, { cause: err })
    }
    const text = await res.body.text()
    let body: unknown
    try { body = text === '' ? undefined : JSON.parse(text) } catch { body = text }
    if (res.statusCode === 401) {
      throw new SimError('UNAUTHORIZED', `the gateway at ${this.base} refused the access key (401${errorText(body) === '' ? '' : ` ${errorText(body)}`})`)
    }
    return { status: res.statusCode, body }
  }

  async close (): Promise<void> {
    await this.pool.destroy()
  }
}

/** `CODE: message` from a gridgate error body, or the raw text. */
export function errorText (body: unknown): string {
  const e = (body as { error?: { code?: string, message?: string } } | undefined)?.error
  if (e !== undefined) return [e.code, e.message].filter((x) => x !== undefined).join(': ')
  if (typeof body === 'string') return body.slice(0, 200)
  return body === undefined ? '' : JSON.stringify(body).slice(0, 200)
}

export function describeAnswer (a: Answer): string {
  const text = errorText(a.body)
  return `${a.status}${text === '' ? '' : ` ${text}`}`
}
