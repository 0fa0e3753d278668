import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { isGridgateError } from '../../../src/core/errors.js'
import { createGuardedAgent } from '../../../src/delivery/push/endpoint-guard.js'
import { verifyWebhook } from '../../../src/delivery/push/sign.js'
import { deliver, validateEndpoint, type WebhookClientOptions } from '../../../src/delivery/push/webhook-client.js'
import { useTeardown } from '../../helpers/teardown.js'

interface Received {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
  /** The client's port: the same port means the same (kept-alive) connection. */
  remotePort: number | undefined
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

const teardown = useTeardown()

/** A webhook receiver on 127.0.0.1, port 0, that records every request it gets. */
async function receiver (handler: Handler): Promise<{ url: string, requests: Received[] }> {
  const requests: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, remotePort: req.socket.remotePort })
      handler(req, res, body)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

/** A URL on a port that was just listening and is now closed: connecting is refused. */
async function closedUrl (): Promise<string> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}/hook`
}

function client (opts: { allowLoopback?: boolean, timeoutMs?: number } = {}): WebhookClientOptions {
  const agent = createGuardedAgent({ allowLoopback: opts.allowLoopback ?? true, connectTimeoutMs: 2_000 })
  teardown(() => agent.destroy())
  return { agent, timeoutMs: opts.timeoutMs ?? 2_000, origin: 'gridgate' }
}

const consent = (value: string, status = 200): Handler => (_req, res) => {
  res.writeHead(status, { 'WebHook-Allowed-Origin': value, Allow: 'POST' }).end()
}

async function validationError (promise: Promise<void>): Promise<Error & { code?: string }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected validation to fail')
}

describe('validateEndpoint (CloudEvents webhook abuse protection, §4)', () => {
  it('accepts an endpoint that allows our exact origin; sends OPTIONS to the exact URL with WebHook-Request-Origin', async () => {
    const hook = await receiver(consent('gridgate'))
    await validateEndpoint(`${hook.url}/hooks/a?code=x%20y`, client())
    expect(hook.requests).toHaveLength(1)
    expect(hook.requests[0]).toMatchObject({ method: 'OPTIONS', url: '/hooks/a?code=x%20y' })
    expect(hook.requests[0]?.headers['webhook-request-origin']).toBe('gridgate')
  })

  it('accepts * from any 2xx answer', async () => {
    const hook = await receiver(consent('*', 204))
    await expect(validateEndpoint(`${hook.url}/hook`, client())).resolves.toBeUndefined()
  })

  it('reads the header name in any case', async () => {
    const hook = await receiver((_req, res) => {
      res.setHeader('WEBHOOK-ALLOWED-ORIGIN', 'gridgate')
      res.end()
    })
    await expect(validateEndpoint(`${hook.url}/hook`, client())).resolves.toBeUndefined()
  })

  it.each([
    ['a 200 without the header', ((_req, res) => { res.end('fine') }) satisfies Handler, /OPTIONS answered 200 without a WebHook-Allowed-Origin header/],
    ['another origin', consent('someone-else'), /WebHook-Allowed-Origin is "someone-else", expected "gridgate" or "\*"/],
    ['the origin in other case', consent('GridGate'), /WebHook-Allowed-Origin is "GridGate"/],
    ['a 404 (even with the header)', consent('gridgate', 404), /OPTIONS answered 404$/],
    ['a 405', consent('*', 405), /OPTIONS answered 405$/],
    ['a 500', consent('*', 500), /OPTIONS answered 500$/]
  ])('refuses %s', async (_name, handler, message) => {
    const hook = await receiver(handler)
    const err = await validationError(validateEndpoint(`${hook.url}/hook`, client()))
    expect(isGridgateError(err) && err.code).toBe('WEBHOOK_VALIDATION_FAILED')
    expect(err.message).toMatch(/^Webhook validation failed: /)
    expect(err.message).toMatch(message)
  })

  it('does not follow a redirect, even to a URL that would consent', async () => {
    const hook = await receiver((req, res) => {
      if (req.url === '/elsewhere') consent('gridgate')(req, res, Buffer.alloc(0))
      else res.writeHead(307, { Location: '/elsewhere', 'WebHook-Allowed-Origin': 'gridgate' }).end()
    })
    const err = await validationError(validateEndpoint(`${hook.url}/hook`, client()))
    expect(err.code).toBe('WEBHOOK_VALIDATION_FAILED')
    expect(err.message).toMatch(/OPTIONS answered 307, a redirect; redirects are not followed/)
    expect(hook.requests.map((r) => r.url)).toEqual(['/hook'])
  })

  it('refuses when the connection is refused', async () => {
    const err = await validationError(validateEndpoint(await closedUrl(), client()))
    expect(err.code).toBe('WEBHOOK_VALIDATION_FAILED')
    expect(err.message).toMatch(/OPTIONS could not reach the endpoint: .*ECONNREFUSED/)
  })

  it('refuses when the endpoint does not answer in time', async () => {
    const hook = await receiver(() => { /* never answers */ })
    const err = await validationError(validateEndpoint(`${hook.url}/hook`, client({ timeoutMs: 300 })))
    expect(err.code).toBe('WEBHOOK_VALIDATION_FAILED')
    expect(err.message).toMatch(/no answer to OPTIONS within 300 ms/)
  })

  it('passes on the guard\'s WEBHOOK_TARGET_FORBIDDEN without sending anything', async () => {
    const hook = await receiver(consent('*'))
    const err = await validationError(validateEndpoint(`${hook.url}/hook`, client({ allowLoopback: false })))
    expect(err.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    expect(err.message).toMatch(/127\.0\.0\.1 is a loopback address/)
    expect(hook.requests).toHaveLength(0)
  })
})

// Bytes as stored: odd spacing and key order prove the body is sent as is, not re-serialised.
const EVENTS = [
  Buffer.from('{"specversion":"1.0","id":"e1","source":"/dev/1","type":"t","data":{"b":2,  "a":1}}'),
  Buffer.from('{ "id" : "e2", "specversion":"1.0","source":"/dev/2","type":"t","data":"ü"}'),
  Buffer.from('{"specversion":"1.0","id":"e3","source":"/dev/3","type":"t"}')
]

const ok = (status = 200): Handler => (_req, res) => { res.writeHead(status).end() }

function deliveryOpts (c: WebhookClientOptions, extra: { batch?: boolean, secret?: string } = {}): Parameters<typeof deliver>[2] {
  return { ...c, batch: extra.batch ?? false, deliveryId: 'e1', nowSeconds: 1_767_225_600, ...(extra.secret === undefined ? {} : { secret: extra.secret }) }
}

describe('deliver', () => {
  it('POSTs one event as application/cloudevents+json with its exact bytes', async () => {
    const hook = await receiver(ok())
    const res = await deliver(`${hook.url}/hook?x=1`, [EVENTS[0] as Buffer], deliveryOpts(client()))
    expect(res).toMatchObject({ status: 200 })
    expect(res.ms).toBeGreaterThanOrEqual(0)
    const [req] = hook.requests
    expect(req?.method).toBe('POST')
    expect(req?.url).toBe('/hook?x=1')
    expect(req?.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8')
    expect(req?.headers['webhook-request-origin']).toBe('gridgate')
    expect(req?.headers['webhook-signature']).toBeUndefined()
    expect(req?.body.equals(EVENTS[0] as Buffer)).toBe(true)
  })

  it('POSTs a batch as application/cloudevents-batch+json: a JSON array of the raw bytes', async () => {
    const hook = await receiver(ok(202))
    const res = await deliver(`${hook.url}/hook`, EVENTS, deliveryOpts(client(), { batch: true }))
    expect(res).toMatchObject({ status: 202 })
    const [req] = hook.requests
    expect(req?.headers['content-type']).toBe('application/cloudevents-batch+json; charset=utf-8')
    expect(req?.body.toString()).toBe(`[${EVENTS.map((e) => e.toString()).join(',')}]`)
    expect(JSON.parse(req?.body.toString() ?? '')).toEqual(EVENTS.map((e) => JSON.parse(e.toString())))
  })

  it('a batch of one is still an array', async () => {
    const hook = await receiver(ok())
    await deliver(`${hook.url}/hook`, [EVENTS[2] as Buffer], deliveryOpts(client(), { batch: true }))
    expect(JSON.parse(hook.requests[0]?.body.toString() ?? '')).toEqual([JSON.parse((EVENTS[2] as Buffer).toString())])
  })

  it('signs with Standard Webhooks headers that verify against the received bytes', async () => {
    const secret = 'whsec_' + Buffer.from('a 32-byte secret for this test!!').toString('base64')
    const hook = await receiver(ok(204))
    const res = await deliver(`${hook.url}/hook`, EVENTS, { ...deliveryOpts(client(), { batch: true, secret }), deliveryId: 'delivery-42' })
    expect(res).toMatchObject({ status: 204 })
    const [req] = hook.requests
    expect(req?.headers['webhook-id']).toBe('delivery-42')
    expect(req?.headers['webhook-timestamp']).toBe('1767225600')
    const headers = req?.headers as Record<string, string | undefined>
    expect(verifyWebhook(secret, headers, req?.body ?? Buffer.alloc(0), 1_767_225_600 + 5)).toBe(true)
    expect(verifyWebhook('whsec_d3Jvbmc=', headers, req?.body ?? Buffer.alloc(0), 1_767_225_600)).toBe(false)
  })

  it.each([500, 503, 429, 400, 404])('reports a %i as its status', async (status) => {
    const hook = await receiver(ok(status))
    expect(await deliver(`${hook.url}/hook`, [EVENTS[0] as Buffer], deliveryOpts(client()))).toMatchObject({ status })
  })

  it('reports a 302 as its status and does not follow it', async () => {
    const hook = await receiver((req, res) => {
      if (req.url === '/moved') ok()(req, res, Buffer.alloc(0))
      else res.writeHead(302, { Location: '/moved' }).end()
    })
    expect(await deliver(`${hook.url}/hook`, [EVENTS[0] as Buffer], deliveryOpts(client()))).toMatchObject({ status: 302 })
    expect(hook.requests.map((r) => r.url)).toEqual(['/hook'])
  })

  it('gives up with { error: "timeout" } when the endpoint never answers', async () => {
    const hook = await receiver(() => { /* never answers */ })
    const res = await deliver(`${hook.url}/hook`, [EVENTS[0] as Buffer], deliveryOpts(client({ timeoutMs: 300 })))
    expect(res).toMatchObject({ error: 'timeout' })
    expect(res.ms).toBeGreaterThanOrEqual(250)
    expect(res.ms).toBeLessThan(2_000)
  })

  it('keeps the status when the answer\'s body never ends (read until the timeout, then dropped)', async () => {
    const hook = await receiver((_req, res) => { res.writeHead(200).write('partial') })
    const res = await deliver(`${hook.url}/hook`, [EVENTS[0] as Buffer], deliveryOpts(client({ timeoutMs: 300 })))
    expect(res).toMatchObject({ status: 200 })
    expect(res.ms).toBeLessThan(2_000)
  })

  it('reads at most a bounded part of a large answer', async () => {
    const hook = await receiver((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(Buffer.alloc(4 * 1024 * 1024, 'x'))
    })
    expect(await deliver(`${hook.url}/hook`, [EVENTS[0] as Buffer], deliveryOpts(client()))).toMatchObject({ status: 500 })
  })

  it('reports a refused connection as an error, without throwing', async () => {
    const res = await deliver(await closedUrl(), [EVENTS[0] as Buffer], deliveryOpts(client()))
    expect(res).toMatchObject({ error: expect.stringMatching(/ECONNREFUSED/) })
  })

  it('reports a forbidden target as an error, without sending anything', async () => {
    const hook = await receiver(ok())
    const res = await deliver(`${hook.url}/hook`, [EVENTS[0] as Buffer], deliveryOpts(client({ allowLoopback: false })))
    expect(res).toMatchObject({ error: expect.stringMatching(/^Webhook target forbidden: 127\.0\.0\.1 is a loopback address/) })
    expect(hook.requests).toHaveLength(0)
  })

  it('reuses the connection for consecutive deliveries', async () => {
    const hook = await receiver(ok())
    const c = client()
    for (let i = 0; i < 4; i++) {
      expect(await deliver(`${hook.url}/hook`, [EVENTS[1] as Buffer], deliveryOpts(c))).toMatchObject({ status: 200 })
      // Let undici put the socket back in the pool before the next delivery asks for one.
      await new Promise((resolve) => setImmediate(resolve))
    }
    expect(hook.requests).toHaveLength(4)
    expect(new Set(hook.requests.map((r) => r.remotePort)).size).toBe(1)
  })

  it('throws on misuse: no events, or several without batch', async () => {
    const c = client()
    await expect(deliver('http://127.0.0.1:9/hook', [], deliveryOpts(c))).rejects.toThrow(RangeError)
    await expect(deliver('http://127.0.0.1:9/hook', EVENTS, deliveryOpts(c))).rejects.toThrow(/without batch/)
  })
})
