import { once } from 'node:events'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { within } from './wait.js'

export interface Received {
  method: string
  headers: IncomingHttpHeaders
  body: string
}

export type Answer = { status: number, headers?: Record<string, string> } | 'hang'

/**
 * A real webhook receiver on 127.0.0.1. It consents to the validation handshake unless told
 * otherwise, records every POST, and answers with the statuses queued by `answer()` (200 when
 * none is queued). `received(n)` resolves once n POSTs have arrived (WaitTimeout after 30 s).
 */
export async function startWebhook (opts: { consent?: boolean } = {}) {
  const posts: Received[] = []
  const answers: Answer[] = []
  const waiters: Array<{ count: number, resolve: () => void }> = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method === 'OPTIONS') {
        const origin = req.headers['webhook-request-origin']
        if (opts.consent !== false && typeof origin === 'string') res.setHeader('WebHook-Allowed-Origin', origin)
        res.writeHead(200).end()
        return
      }
      const r: Received = { method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      posts.push(r)
      const answer = answers.shift() ?? { status: 200 }
      if (answer !== 'hang') res.writeHead(answer.status, answer.headers).end()
      for (const w of waiters.filter((w) => posts.length >= w.count)) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve()
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/hook`,
    posts,
    answer: (...a: Answer[]) => { answers.push(...a) },
    /** Resolves once `count` POSTs have arrived in all; WaitTimeout when they have not within `timeoutMs`. */
    received: async (count: number, timeoutMs = 30_000): Promise<void> => {
      if (posts.length >= count) return
      const arrived = new Promise<void>((resolve) => { waiters.push({ count, resolve }) })
      await within(arrived, { timeoutMs, what: `${count} POSTs at the webhook (${posts.length} so far)` })
    },
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    }
  }
}
