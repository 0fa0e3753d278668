import { describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'

// GET /metrics fits Prometheus' conventions: counters end in _total and only counters do,
// the process and Node.js metrics have their standard names, and topic sizes and
// subscription backlogs are gauges read at scrape time.

const teardown = useTeardown()

interface Scrape {
  /** Metric name → its # TYPE. */
  types: Map<string, string>
  /** Sample value by `name{labels}` exactly as written (labels in the order printed). */
  samples: Map<string, number>
}

async function scrape (gw: TestGateway): Promise<Scrape> {
  const res = await gw.request<unknown>('GET', '/metrics')
  expect(res.status).toBe(200)
  const types = new Map<string, string>()
  const samples = new Map<string, number>()
  for (const line of res.text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line)
    if (type !== null) types.set(type[1] as string, type[2] as string)
    else if (line !== '' && !line.startsWith('#')) samples.set(line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)))
  }
  return { types, samples }
}

async function gateway (): Promise<TestGateway> {
  const gw = await startTestGateway()
  teardown(gw.stop)
  return gw
}

describe('metrics', () => {
  it('names every counter with _total and nothing else with it', async () => {
    const gw = await gateway()
    await gw.request('PUT', '/topics/names')
    expect((await gw.publish('names', cloudEvent(1))).status).toBe(200)
    const { types } = await scrape(gw)
    expect(types.size).toBeGreaterThan(20)
    const counters = [...types].filter(([, t]) => t === 'counter').map(([n]) => n)
    expect(counters.filter((n) => !n.endsWith('_total'))).toEqual([])
    expect([...types].filter(([n, t]) => n.endsWith('_total') && t !== 'counter')).toEqual([])
    expect(types.get('gridgate_telemetry_event_time_total')).toBe('counter')
  })

  it('serves the process and Node.js metrics under their standard names', async () => {
    const gw = await gateway()
    const { types, samples } = await scrape(gw)
    expect(types.get('process_cpu_seconds_total')).toBe('counter')
    expect(types.get('process_resident_memory_bytes')).toBe('gauge')
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge')
    expect(types.get('nodejs_heap_size_used_bytes')).toBe('gauge')
    expect(samples.get('nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
    expect([...types.keys()].filter((n) => /^gridgate_(process|nodejs)_/.test(n))).toEqual([])
    // The ingest loop's own delay stays next to Node's lag.
    expect(types.get('gridgate_event_loop_delay_seconds')).toBe('gauge')
  })

  it('reports each topic\'s events and bytes and each subscription\'s backlog as its status does', async () => {
    const gw = await gateway()
    expect((await gw.request('PUT', '/topics/sized')).status).toBe(201)
    const queue = { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60 } } } }
    expect((await gw.request('PUT', '/topics/sized/eventsubscriptions/reader', { body: queue })).status).toBe(201)
    expect((await gw.publish('sized', [cloudEvent(1), cloudEvent(2), cloudEvent(3)])).status).toBe(200)

    const topic = await gw.request<{ events: number, bytes: number }>('GET', '/topics/sized')
    let status = await gw.request<{ backlog: number }>('GET', '/topics/sized/eventsubscriptions/reader/status')
    let m = await scrape(gw)
    expect(m.types.get('gridgate_topic_events')).toBe('gauge')
    expect(m.types.get('gridgate_topic_bytes')).toBe('gauge')
    expect(m.types.get('gridgate_subscription_backlog')).toBe('gauge')
    expect(m.samples.get('gridgate_topic_events{topic="sized"}')).toBe(3)
    expect(topic.body.bytes).toBeGreaterThan(0)
    expect(m.samples.get('gridgate_topic_bytes{topic="sized"}')).toBe(topic.body.bytes)
    expect(status.body.backlog).toBe(3)
    expect(m.samples.get('gridgate_subscription_backlog{topic="sized",subscription="reader"}')).toBe(3)

    // Taking two events moves the cursor: the backlog shrinks at the next scrape.
    const got = await gw.request<{ value: unknown[] }>('POST', '/topics/sized/eventsubscriptions/reader:receive?maxEvents=2&maxWaitTime=10')
    expect(got.body.value).toHaveLength(2)
    status = await gw.request<{ backlog: number }>('GET', '/topics/sized/eventsubscriptions/reader/status')
    m = await scrape(gw)
    expect(status.body.backlog).toBe(1)
    expect(m.samples.get('gridgate_subscription_backlog{topic="sized",subscription="reader"}')).toBe(1)

    // A removed subscription and topic leave no series behind.
    expect((await gw.request('DELETE', '/topics/sized')).status).toBe(204)
    m = await scrape(gw)
    expect([...m.samples.keys()].filter((k) => k.includes('"sized"') && /^gridgate_(topic|subscription)_/.test(k))).toEqual([])
  })
})
