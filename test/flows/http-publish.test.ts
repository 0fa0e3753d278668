import { describe, expect, it } from 'vitest'
import { nth, type ErrorBody, type List, type LoggedEvent, type Replay, type Topic } from '../helpers/api.js'
import { startTestGateway, TEST_ENGINE } from '../helpers/gateway.js'
import { cloudEvent, type Answer } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'

const teardown = useTeardown()

async function gatewayWithTopic (topic = 'orders', overrides: Record<string, any> = {}) {
  const gw = await startTestGateway(overrides)
  teardown(gw.stop)
  expect((await gw.request('PUT', `/topics/${topic}`)).status).toBe(201)
  return gw
}

describe('publishing CloudEvents over HTTP as Event Grid namespace clients do', () => {
  it('answers 200 {} to a structured event and replays it exactly as published', async () => {
    const gw = await gatewayWithTopic()
    const ev = cloudEvent('a1', { temperature: 21.5, tags: ['x'] }, { subject: 'orders/1', myext: 'v', n2: 3, flag: true })
    const res = await gw.publish('orders', ev)
    expect(res.status).toBe(200)
    expect(res.text).toBe('{}')
    const replay = await gw.request<Replay>('GET', '/topics/orders/events?fromOffset=0')
    expect(replay.status).toBe(200)
    expect(replay.body.value).toHaveLength(1)
    expect(replay.body.value[0]?.offset).toBe(0)
    expect(replay.body.value[0]?.event).toEqual(ev)
    expect(replay.body.nextOffset).toBe(1)
  })

  it('appends a batch in order and keeps data_base64 and datacontenttype as given', async () => {
    const gw = await gatewayWithTopic()
    const batch = [
      cloudEvent(1),
      { specversion: '1.0', id: '2', source: '/s', type: 't', time: '2026-01-01T00:00:00.000Z', datacontenttype: 'application/cloudevents+json; charset=utf-8' },
      { specversion: '1.0', id: '3', source: '/s', type: 't', data_base64: Buffer.from([0, 1, 2, 255]).toString('base64'), datacontenttype: 'application/octet-stream' }
    ]
    expect((await gw.publish('orders', batch)).status).toBe(200)
    const replay = await gw.request<Replay>('GET', '/topics/orders/events')
    expect(replay.body.value.map((r) => r.event)).toEqual(batch)
    expect(replay.body.value.map((r) => r.offset)).toEqual([0, 1, 2])
  })

  it('accepts an empty batch and appends nothing', async () => {
    const gw = await gatewayWithTopic()
    expect((await gw.publish('orders', [])).status).toBe(200)
    expect((await gw.request<Topic>('GET', '/topics/orders')).body.nextOffset).toBe(0)
  })

  it('turns a binary-mode request (ce-* headers) into a structured event', async () => {
    const gw = await gatewayWithTopic()
    const res = await gw.request('POST', '/topics/orders:publish', {
      raw: JSON.stringify({ level: 3 }),
      contentType: 'application/json',
      headers: { 'ce-specversion': '1.0', 'ce-id': 'b1', 'ce-source': '/bin', 'ce-type': 'bin.event', 'ce-subject': 'a%20b', 'ce-myext': 'x' }
    })
    expect(res.status).toBe(200)
    const [rec] = (await gw.request<Replay>('GET', '/topics/orders/events')).body.value
    expect(rec?.event).toEqual({ specversion: '1.0', id: 'b1', source: '/bin', type: 'bin.event', subject: 'a b', myext: 'x', datacontenttype: 'application/json', data: { level: 3 } })
  })

  it('gives concurrent publishers gap-free, ordered offsets and loses nothing', async () => {
    const gw = await gatewayWithTopic()
    const publishers = 16
    const requests = 20
    const perBatch = 5
    await Promise.all(Array.from({ length: publishers }, async (_, p) => {
      for (let r = 0; r < requests; r++) {
        const batch = Array.from({ length: perBatch }, (_, i) => cloudEvent(`${p}-${r}-${i}`, { p, seq: r * perBatch + i }))
        const res = await gw.publish('orders', batch)
        expect(res.status).toBe(200)
      }
    }))
    const total = publishers * requests * perBatch
    const seen: Array<LoggedEvent<{ p: number, seq: number }>> = []
    let from = 0
    for (let guard = 0; guard < 100 && seen.length < total; guard++) {
      const page = await gw.request<Replay<{ p: number, seq: number }>>('GET', `/topics/orders/events?fromOffset=${from}&limit=1000`)
      seen.push(...page.body.value)
      from = page.body.nextOffset
    }
    expect(seen.map((r) => r.offset)).toEqual(Array.from({ length: total }, (_, i) => i))
    expect(new Set(seen.map((r) => r.event.id)).size).toBe(total)
    // Each publisher's events keep the order it published them in.
    for (let p = 0; p < publishers; p++) {
      const seqs = seen.filter((r) => r.event.data.p === p).map((r) => r.event.data.seq)
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    }
    // Concurrent requests shared writes: fewer group commits than requests.
    const metrics = (await gw.request('GET', '/metrics')).text
    const batches = Number(/gridgate_log_batch_items_count (\d+)/.exec(metrics)?.[1])
    expect(batches).toBeGreaterThan(0)
    expect(batches).toBeLessThan(publishers * requests)
  })

  it('replays by offset and time with limit and nextOffset paging', async () => {
    const gw = await gatewayWithTopic()
    for (let i = 0; i < 3; i++) expect((await gw.publish('orders', [cloudEvent(`a${i}`)])).status).toBe(200)
    const firstPage = await gw.request<Replay>('GET', '/topics/orders/events?fromOffset=0&limit=2')
    expect(firstPage.body.value.map((r) => r.event.id)).toEqual(['a0', 'a1'])
    expect(firstPage.body.nextOffset).toBe(2)
    const rest = await gw.request<Replay>('GET', `/topics/orders/events?fromOffset=${firstPage.body.nextOffset}`)
    expect(rest.body.value.map((r) => r.event.id)).toEqual(['a2'])
    const all = firstPage.body.value.concat(rest.body.value)
    const t1 = nth(all, 1).time
    const fromTime = await gw.request<Replay>('GET', `/topics/orders/events?fromTime=${encodeURIComponent(t1)}`)
    expect(nth(fromTime.body.value, 0).time >= t1).toBe(true)
    expect(fromTime.body.value.map((r) => r.offset)).toEqual(all.filter((r) => r.time >= t1).map((r) => r.offset))
    const future = await gw.request('GET', '/topics/orders/events?fromTime=2999-01-01T00:00:00Z')
    expect(future.body).toEqual({ value: [], nextOffset: 3 })
    const past = await gw.request<Replay>('GET', '/topics/orders/events?fromOffset=99')
    expect(past.body.value).toEqual([])
  })

  it('accepts Bearer keys and any api-version', async () => {
    const gw = await gatewayWithTopic()
    const res = await gw.request<List<Topic>>('GET', '/topics?api-version=2023-06-01-preview', { auth: `Bearer ${'test-key-0123456789abcdef'}` })
    expect(res.status).toBe(200)
    expect(res.body.value.map((t) => t.name)).toContain('orders')
  })
})

describe('bad input gets a specific error code, is counted, and appends nothing', () => {
  const big = 'x'.repeat(1_100_000)
  const cases: Array<{ name: string, status: number, code: string, send: (gw: Awaited<ReturnType<typeof gatewayWithTopic>>) => Promise<Answer<ErrorBody>> }> = [
    { name: 'malformed JSON', status: 400, code: 'MALFORMED_JSON', send: (gw) => gw.request<ErrorBody>('POST', '/topics/orders:publish', { raw: '{"id":', contentType: 'application/cloudevents+json' }) },
    { name: 'a missing attribute in event 1 of a batch', status: 400, code: 'CLOUDEVENT_MISSING_ATTRIBUTE', send: (gw) => gw.publish<ErrorBody>('orders', [cloudEvent(1), { specversion: '1.0', id: '2', type: 't' }]) },
    { name: 'a wrong specversion', status: 400, code: 'CLOUDEVENT_INVALID_ATTRIBUTE', send: (gw) => gw.publish<ErrorBody>('orders', { ...cloudEvent(1), specversion: '0.3' }) },
    { name: 'a non-object event', status: 400, code: 'CLOUDEVENT_INVALID', send: (gw) => gw.publish<ErrorBody>('orders', [42]) },
    { name: 'an event over 1 MB', status: 413, code: 'EVENT_TOO_LARGE', send: (gw) => gw.publish<ErrorBody>('orders', cloudEvent(1, big)) },
    { name: 'a batch over 1 MB', status: 413, code: 'BATCH_TOO_LARGE', send: (gw) => gw.publish<ErrorBody>('orders', [cloudEvent(1, big.slice(0, 600_000)), cloudEvent(2, big.slice(0, 600_000))]) },
    { name: 'a batch of 1,001 events', status: 413, code: 'BATCH_TOO_MANY_EVENTS', send: (gw) => gw.publish<ErrorBody>('orders', Array.from({ length: 1001 }, (_, i) => ({ specversion: '1.0', id: String(i), source: '/s', type: 't' }))) },
    { name: 'an unknown topic', status: 404, code: 'TOPIC_NOT_FOUND', send: (gw) => gw.publish<ErrorBody>('nope', cloudEvent(1)) },
    { name: 'an unsupported content type', status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', send: (gw) => gw.request<ErrorBody>('POST', '/topics/orders:publish', { raw: 'hello', contentType: 'text/plain' }) },
    { name: 'a wrong key', status: 401, code: 'UNAUTHORIZED', send: (gw) => gw.request<ErrorBody>('POST', '/topics/orders:publish', { body: cloudEvent(1), contentType: 'application/cloudevents+json', auth: 'SharedAccessKey wrong-key-0123456789' }) },
    { name: 'no key', status: 401, code: 'UNAUTHORIZED', send: (gw) => gw.request<ErrorBody>('GET', '/topics', { auth: null }) },
    { name: 'a bad fromOffset', status: 400, code: 'QUERY_PARAM_INVALID', send: (gw) => gw.request<ErrorBody>('GET', '/topics/orders/events?fromOffset=-1') },
    { name: 'a bad fromTime', status: 400, code: 'QUERY_PARAM_INVALID', send: (gw) => gw.request<ErrorBody>('GET', '/topics/orders/events?fromTime=yesterday') },
    { name: 'a limit over the maximum', status: 400, code: 'QUERY_PARAM_INVALID', send: (gw) => gw.request<ErrorBody>('GET', '/topics/orders/events?limit=100000') },
    { name: 'fromOffset and fromTime together', status: 400, code: 'QUERY_PARAM_INVALID', send: (gw) => gw.request<ErrorBody>('GET', '/topics/orders/events?fromOffset=0&fromTime=2026-01-01T00:00:00Z') },
    { name: 'an invalid topic name', status: 400, code: 'TOPIC_NAME_INVALID', send: (gw) => gw.request<ErrorBody>('PUT', '/topics/bad!name') },
    { name: 'an invalid retention', status: 400, code: 'BODY_INVALID', send: (gw) => gw.request<ErrorBody>('PUT', '/topics/orders', { body: { retention: { maxAgeSeconds: -1 } } }) },
    { name: 'an unknown action', status: 404, code: 'NOT_FOUND', send: (gw) => gw.request<ErrorBody>('POST', '/topics/orders:explode', { body: {} }) },
    { name: 'an unknown path', status: 404, code: 'NOT_FOUND', send: (gw) => gw.request<ErrorBody>('GET', '/nothing/here') }
  ]

  it.each(cases)('$name → $status $code', async ({ status, code, send }) => {
    const gw = await gatewayWithTopic()
    const res = await send(gw)
    expect(res.status).toBe(status)
    expect(res.body).toEqual({ error: { code, message: expect.any(String) } })
    expect(res.body.error.message).not.toMatch(/at .*\.(ts|js):\d+/) // never a stack trace
    expect((await gw.request<Topic>('GET', '/topics/orders')).body.nextOffset).toBe(0)
    const metrics = (await gw.request('GET', '/metrics')).text
    expect(metrics).toContain(`gridgate_rejections_total{code="${code}",source="http"} 1`)
  })

  it('names the attribute and the event index of a bad batch', async () => {
    const gw = await gatewayWithTopic()
    const res = await gw.publish<ErrorBody>('orders', [cloudEvent(0), cloudEvent(1), { specversion: '1.0', id: '2', type: 't' }])
    expect(res.body.error.message).toContain('event 2')
    expect(res.body.error.message).toContain("'source'")
  })
})

describe('topics and probes', () => {
  it('creates, updates, lists and deletes topics', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const created = await gw.request<Topic>('PUT', '/topics/t1', { body: { retention: { maxAgeSeconds: 3600 } } })
    expect(created.status).toBe(201)
    expect(created.body.retention).toEqual({ maxAgeSeconds: 3600, maxBytes: 0 })
    const updated = await gw.request<Topic>('PUT', '/topics/t1', { body: { properties: { retention: { maxBytes: 5000 } } } })
    expect(updated.status).toBe(200)
    expect(updated.body.retention.maxBytes).toBe(5000)
    expect((await gw.request('PUT', '/topics/t2')).status).toBe(201)
    // Besides the topics created at start (MQTT routes: telemetry, events, invalid, system; commands).
    expect((await gw.request<List<Topic>>('GET', '/topics')).body.value.map((t) => t.name)).toEqual(['commands', 'events', 'invalid', 'system', 't1', 't2', 'telemetry'])
    expect((await gw.publish('t1', cloudEvent(1))).status).toBe(200)
    expect((await gw.request('DELETE', '/topics/t1')).status).toBe(204)
    expect((await gw.request('GET', '/topics/t1')).status).toBe(404)
    expect((await gw.request('DELETE', '/topics/t1')).status).toBe(404)
    // A topic made again under the same name starts empty.
    expect((await gw.request('PUT', '/topics/t1')).status).toBe(201)
    expect((await gw.request('GET', '/topics/t1/events')).body).toEqual({ value: [], nextOffset: 0 })
  })

  it('answers /healthz and /readyz without a key but /metrics only with one', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    expect((await gw.request('GET', '/healthz', { auth: null })).status).toBe(200)
    expect((await gw.request('GET', '/readyz', { auth: null })).body).toEqual({ status: 'ready', engine: TEST_ENGINE })
    expect((await gw.request('GET', '/metrics', { auth: null })).status).toBe(401)
    expect((await gw.request('GET', '/metrics')).text).toContain('gridgate_log_events_appended_total')
  })

  it('serves without a key only when the config says so', async () => {
    const gw = await startTestGateway({ http: { allowUnauthenticated: true } })
    teardown(gw.stop)
    expect((await gw.request('GET', '/topics', { auth: null })).status).toBe(200)
  })

  it('creates the topics listed in the config at start', async () => {
    const gw = await startTestGateway({ topics: [{ name: 'telemetry', retention: { maxAgeSeconds: 60 } }] })
    teardown(gw.stop)
    const t = await gw.request<Topic>('GET', '/topics/telemetry')
    expect(t.status).toBe(200)
    expect(t.body.retention.maxAgeSeconds).toBe(60)
  })
})
