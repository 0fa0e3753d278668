import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildConsole } from '../../src/console/build.js'
import type { ErrorBody } from '../helpers/api.js'
import { cloudEvent } from '../helpers/http.js'
import { startTestGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { useTeardown } from '../helpers/teardown.js'
import { within } from '../helpers/wait.js'

// GET /stream, the web console's live data, read as any client would (fetch and a stream
// reader), and the console's page and assets as the gateway serves them.

interface Message { event: string, data: any }

/** An open GET /stream: its messages in order, and a bounded wait for the next of a kind. */
async function openStream (gw: TestGateway, query = ''): Promise<{ next: (event: string, what?: string) => Promise<Message>, close: () => void, ended: Promise<void> }> {
  const abort = new AbortController()
  const res = await fetch(`${gw.url}/stream${query}`, { headers: { authorization: `SharedAccessKey ${TEST_KEY}` }, signal: abort.signal })
  expect(res.status).toBe(200)
  expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
  const queue: Message[] = []
  let wake: (() => void) | undefined
  const reader = (res.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream()).getReader()
  const ended = (async () => {
    let buffer = ''
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }))
      if (done) break
      buffer += value
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const [head, body] = buffer.slice(0, end).split('\n') as [string, string]
        buffer = buffer.slice(end + 2)
        queue.push({ event: head.slice('event: '.length), data: JSON.parse(body.slice('data: '.length)) })
      }
      wake?.()
    }
    wake?.()
  })()
  const next = async (event: string, what = `a '${event}' message`): Promise<Message> => await within((async () => {
    for (;;) {
      const i = queue.findIndex((m) => m.event === event)
      if (i >= 0) return queue.splice(0, i + 1).pop() as Message
      await new Promise<void>((resolve) => { wake = resolve })
    }
  })(), { timeoutMs: 10_000, what })
  return { next, close: () => abort.abort(), ended }
}

describe('GET /stream', () => {
  const teardown = useTeardown()
  let gw: TestGateway
  beforeAll(async () => { gw = await startTestGateway() })
  afterAll(async () => { await gw.stop() })

  it('needs the access key, names an unknown topic, and follows at most 8 topics', async () => {
    expect((await gw.request<ErrorBody>('GET', '/stream', { auth: null })).body.error.code).toBe('UNAUTHORIZED')
    const unknown = await gw.request<ErrorBody>('GET', '/stream?topics=telemetry,nope')
    expect([unknown.status, unknown.body.error.code, unknown.body.error.message]).toEqual([404, 'TOPIC_NOT_FOUND', "topic 'nope' does not exist"])
    const many = await gw.request<ErrorBody>('GET', `/stream?topics=${Array.from({ length: 9 }, (_, i) => `t${i}`).join(',')}`)
    expect([many.status, many.body.error.code]).toEqual([400, 'QUERY_PARAM_INVALID'])
  })

  it('pushes the overview every second: rates, devices, loop delay, storage, topics and subscription backlogs', async () => {
    await gw.request('PUT', '/topics/rates')
    await gw.request('PUT', '/topics/rates/eventsubscriptions/q', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue' } } } })
    const s = await openStream(gw)
    teardown(s.close)
    expect((await s.next('ready')).data).toEqual({ topics: {} })
    await s.next('overview', 'the first sample')
    await gw.publish('rates', [cloudEvent(1), cloudEvent(2), cloudEvent(3)])
    const { data } = await s.next('overview', 'the sample after the publish')
    expect(data).toMatchObject({
      intervalSeconds: 1,
      devices: { connected: 0, registered: 0 },
      storage: { topics: expect.any(Number) as number, events: 3 },
      topics: expect.arrayContaining([expect.objectContaining({ name: 'rates', events: 3, nextOffset: 3 })]) as unknown,
      subscriptions: [{ topic: 'rates', name: 'q', deliveryMode: 'Queue', backlog: 3, inFlight: 0, delivered: 0, failed: 0, deadLettered: 0, lastError: null }]
    })
    expect(data.ingest.eventsPerSecond).toBeGreaterThan(0)
    expect(Object.keys(data.eventLoopDelayMs)).toEqual(['p50', 'p99', 'max'])
  })

  it('pushes the new events of each followed topic, from its end when the stream opened', async () => {
    await gw.request('PUT', '/topics/a')
    await gw.request('PUT', '/topics/b')
    await gw.publish('a', cloudEvent('before'))
    const s = await openStream(gw, '?topics=a,b')
    teardown(s.close)
    expect((await s.next('ready')).data).toEqual({ topics: { a: 1, b: 0 } })
    await gw.publish('b', cloudEvent('b-0', { n: 1 }))
    await gw.publish('a', [cloudEvent('a-1'), cloudEvent('a-2')])
    const got: Record<string, unknown[]> = { a: [], b: [] }
    while ((got.a?.length ?? 0) < 2 || (got.b?.length ?? 0) < 1) {
      const { data } = await s.next('events', 'the events of a and b')
      expect(data.skipped).toBe(0)
      got[data.topic as string]?.push(...(data.value as Array<{ offset: number, event: { id: string } }>).map((r) => [r.offset, r.event.id]))
    }
    expect(got).toEqual({ a: [[1, 'a-1'], [2, 'a-2']], b: [[0, 'b-0']] })
  })

  it('skips a follower more than 2,000 events behind to the newest 200 and says how many it passed over', async () => {
    await gw.request('PUT', '/topics/flood')
    const s = await openStream(gw, '?topics=flood')
    teardown(s.close)
    await s.next('ready')
    await gw.gateway.log.append('flood', Array.from({ length: 2500 }, (_, i) => Buffer.from(JSON.stringify(cloudEvent(i)))))
    const { data } = await s.next('events')
    expect([data.skipped, data.value.length, data.value[0].offset, data.nextOffset]).toEqual([2300, 200, 2300, 2500])
  })
})

describe('stopping the gateway', () => {
  it('ends the open streams instead of waiting for them', async () => {
    const gw = await startTestGateway()
    const s = await openStream(gw, '?topics=telemetry')
    await s.next('ready')
    await within(gw.stop(), { timeoutMs: 10_000, what: 'the gateway to stop with a stream open' })
    await within(s.ended, { timeoutMs: 5000, what: 'the stream to end' })
  })
})

describe('the console page and its assets', () => {
  let gw: TestGateway
  beforeAll(async () => {
    await buildConsole()
    gw = await startTestGateway()
  })
  afterAll(async () => { await gw.stop() })

  it('are served without a key, with a content security policy, and revalidated by their ETag', async () => {
    const page = await gw.request('GET', '/', { auth: null })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self'")
    expect(page.text).toContain('<script type="module" src="/console/console.js">')
    expect(page.text).not.toMatch(/(src|href)="(https?:)?\/\//) // no CDN
    for (const [file, type] of [['console.js', 'text/javascript; charset=utf-8'], ['console.css', 'text/css; charset=utf-8']]) {
      const asset = await gw.request('GET', `/console/${file}`, { auth: null })
      expect([asset.status, asset.headers.get('content-type')]).toEqual([200, type])
      const again = await gw.request('GET', `/console/${file}`, { auth: null, headers: { 'if-none-match': asset.headers.get('etag') as string } })
      expect(again.status).toBe(304)
    }
  })

  it('serves nothing else from its folder', async () => {
    for (const path of ['/console/build.js', '/console/assets.js', '/console/..%2Fcli.js', '/console/index.html.map']) {
      const res = await gw.request<ErrorBody>('GET', path, { auth: null })
      expect([path, res.status, res.body.error.code]).toEqual([path, 404, 'NOT_FOUND'])
    }
  })
})
