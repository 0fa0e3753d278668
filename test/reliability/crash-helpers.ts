import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { spawnGateway, type ChildGateway, type SpawnOptions } from '../helpers/child.js'
import type { LoggedEvent, Replay } from '../helpers/api.js'
import type { Client } from '../helpers/http.js'
import { until } from '../helpers/wait.js'

// Shared by the crash cases (test/reliability/cases-crash.ts): a cleanup scope, a seeded
// random source, replay, and a webhook receiver that answers after a delay. (Waits: test/helpers/wait.ts.)

/** Everything a case starts registers its stop here; `close()` stops them in reverse, whatever failed. */
export class Scope {
  private readonly fns: Array<() => Promise<unknown> | unknown> = []
  defer (fn: () => Promise<unknown> | unknown): void { this.fns.push(fn) }
  async close (): Promise<void> {
    while (this.fns.length > 0) {
      try { await this.fns.pop()?.() } catch { /* keep closing */ }
    }
  }
}

/** mulberry32: the same sequence for the same seed. */
export { seeded as seededRandom } from '../helpers/seeded.js'

/** The seed from GRIDGATE_SEED when set (to replay a failure), else a fresh one. */
export function pickSeed (): number {
  const env = process.env.GRIDGATE_SEED
  return env !== undefined && /^\d+$/.test(env) ? Number(env) : Math.floor(Math.random() * 2 ** 31)
}

/** Starts a child gateway, registered with the scope (killed with SIGKILL at close). */
export async function startChild (scope: Scope, opts: SpawnOptions): Promise<ChildGateway> {
  const gw = await spawnGateway(opts)
  scope.defer(() => gw.kill('SIGKILL'))
  return gw
}

/** Spawns a gateway and measures from the spawn to the first `GET /readyz` 200 (ms). */
export async function startAndTimeReady (scope: Scope, opts: SpawnOptions, deadlineMs = 30_000): Promise<{ gw: ChildGateway, readyMs: number }> {
  const t0 = performance.now()
  const gw = await startChild(scope, { ...opts, timeoutMs: deadlineMs })
  await until(async () => (await gw.request('GET', '/readyz', { auth: null })).status === 200, {
    timeoutMs: deadlineMs - (performance.now() - t0),
    everyMs: 20,
    what: `GET /readyz 200 (within ${deadlineMs} ms of the spawn)`
  })
  return { gw, readyMs: performance.now() - t0 }
}

export type Logged = LoggedEvent

/** Reads a topic from `fromOffset` to its end, a page at a time (bounded). */
export async function replay (gw: Client, topic: string, fromOffset = 0): Promise<{ events: Logged[], nextOffset: number }> {
  const events: Logged[] = []
  let from = fromOffset
  for (let guard = 0; guard < 10_000; guard++) {
    const page = await gw.request<Replay>('GET', `/topics/${topic}/events?fromOffset=${from}&limit=1000`)
    if (page.status !== 200) throw new Error(`replay of ${topic}: ${page.status} ${page.text}`)
    const value = page.body.value
    if (value.length === 0) break
    events.push(...value)
    from = page.body.nextOffset
  }
  return { events, nextOffset: from }
}

/** The value of one Prometheus sample (0 when absent). */
export async function metric (gw: Client, line: RegExp): Promise<number> {
  const text = (await gw.request('GET', '/metrics')).text
  const m = line.exec(text)
  return m?.[1] === undefined ? 0 : Number(m[1])
}

/**
 * A real webhook receiver on 127.0.0.1 that consents to the validation handshake and answers
 * every POST with `status` after `delayMs` (so requests are in flight when the gateway dies).
 * It records the CloudEvent ids it answered with a 2xx (single or batch bodies).
 */
export async function startSlowWebhook (opts: { status: number, delayMs: number }) {
  const delivered = new Set<string>()
  let posts = 0
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method === 'OPTIONS') {
        const origin = req.headers['webhook-request-origin']
        if (typeof origin === 'string') res.setHeader('WebHook-Allowed-Origin', origin)
        res.writeHead(200).end()
        return
      }
      posts++
      setTimeout(() => {
        if (res.destroyed) return
        if (opts.status >= 200 && opts.status < 300) {
          try {
            const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
            for (const e of Array.isArray(body) ? body : [body]) delivered.add(String((e as { id?: unknown }).id))
          } catch { /* not JSON: not a delivery */ }
        }
        res.writeHead(opts.status).end()
      }, opts.delayMs)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    delivered,
    posts: () => posts,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}
