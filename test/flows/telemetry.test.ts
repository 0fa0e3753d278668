import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import type { CloudEvent, ErrorBody, List, Received, Replay, WindowDefinition } from '../helpers/api.js'
import { startTestGateway, type TestGateway, durableOnly } from '../helpers/gateway.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

const teardown = useTeardown()
// A minute boundary, so 10 s windows start at T0.
const T0 = Math.floor(Date.now() / 60_000) * 60_000
const S = 1000

async function setup (telemetry: Record<string, unknown> = {}, dataDir?: string): Promise<{ gw: TestGateway, clock: ManualClock }> {
  const clock = new ManualClock(T0)
  const gw = await startTestGateway({ telemetry: { sources: [{ topic: 'telemetry', types: ['device.telemetry'], timeField: 'ts' }], ...telemetry } }, { clock, dataDir })
  teardown(gw.stop)
  return { gw, clock }
}

async function device (gw: TestGateway, id: string): Promise<MqttClient> {
  const password = await registerDevice(gw, id)
  const c = await connectDevice(gw.gateway.listeners.mqtt, id, password)
  teardown(() => c.endAsync(true))
  return c
}

async function send (c: MqttClient, id: string, readings: Array<Record<string, unknown>>): Promise<void> {
  for (const r of readings) await c.publishAsync(`devices/${id}/telemetry`, JSON.stringify(r), { qos: 1 })
}

/** The data of a telemetry.window event: the window, the device and metric, and the aggregates asked for. */
interface WindowData {
  window: string
  kind: string
  deviceId: string
  metric: string
  start: string
  end: string
  count: number
  sum?: number
  [aggregate: string]: unknown
}

async function outputs (gw: TestGateway, topic = 'telemetry-windows'): Promise<Array<CloudEvent<WindowData>>> {
  const page = await gw.request<Replay<WindowData>>('GET', `/topics/${topic}/events?fromOffset=0&limit=1000`)
  expect(page.status).toBe(200)
  return page.body.value.map((r) => r.event)
}

const iso = (ms: number): string => new Date(ms).toISOString()

describe('continuous windows', () => {
  it('emits each closed tumbling window once as a telemetry.window CloudEvent that a pull subscription receives', async () => {
    const { gw } = await setup({ windows: [{ name: 'temp-10s', window: { kind: 'tumbling', sizeSeconds: 10 }, metrics: ['temperature'], aggregates: ['count', 'avg', 'min', 'max', 'first', 'last'] }] })
    const sub = await gw.request('PUT', '/topics/telemetry-windows/eventsubscriptions/dash', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue' }, startAt: 'beginning' } } })
    expect(sub.status).toBeLessThan(300)
    const c = await device(gw, 'sensor-1')
    await send(c, 'sensor-1', Array.from({ length: 25 }, (_, i) => ({ ts: T0 + (i + 1) * S, temperature: i + 1, humidity: 50 })))
    await gw.gateway.telemetry.checkpoint()

    const events = await outputs(gw)
    expect(events.map((e) => e.data)).toEqual([
      { window: 'temp-10s', kind: 'tumbling', deviceId: 'sensor-1', metric: 'temperature', start: iso(T0), end: iso(T0 + 10 * S), count: 10, avg: 5.5, min: 1, max: 10, first: 1, last: 10 },
      { window: 'temp-10s', kind: 'tumbling', deviceId: 'sensor-1', metric: 'temperature', start: iso(T0 + 10 * S), end: iso(T0 + 20 * S), count: 10, avg: 15.5, min: 11, max: 20, first: 11, last: 20 }
    ])
    expect(events[0]).toMatchObject({ specversion: '1.0', type: 'telemetry.window', subject: 'devices/sensor-1/metrics/temperature', deviceid: 'sensor-1', source: '/gridgate/windows/temp-10s', time: iso(T0 + 10 * S) })

    const received = await gw.request<Received>('POST', '/topics/telemetry-windows/eventsubscriptions/dash:receive?maxEvents=10&maxWaitTime=10')
    expect(received.status).toBe(200)
    expect(received.body.value.map((v) => v.event.id)).toEqual(events.map((e) => e.id))

    // Another checkpoint emits nothing new: the windows went out once.
    await gw.gateway.telemetry.checkpoint()
    expect(await outputs(gw)).toHaveLength(2)
  })

  it('applies the window filter and metric list, and keeps devices apart', async () => {
    const { gw } = await setup()
    const put = await gw.request('PUT', '/windows/hot', {
      body: {
        window: { kind: 'tumbling', sizeSeconds: 10 },
        aggregates: ['count', 'sum'],
        filtersConfiguration: { filters: [{ operatorType: 'NumberGreaterThan', key: 'data.temperature', value: 20 }] }
      }
    })
    expect(put.status).toBe(201)
    const a = await device(gw, 'dev-a')
    const b = await device(gw, 'dev-b')
    await send(a, 'dev-a', [{ ts: T0 + 1 * S, temperature: 25, pressure: 1000 }, { ts: T0 + 2 * S, temperature: 10, pressure: 1001 }, { ts: T0 + 11 * S, temperature: 30 }])
    await send(b, 'dev-b', [{ ts: T0 + 3 * S, temperature: 21 }, { ts: T0 + 12 * S, temperature: 22 }])
    await gw.gateway.telemetry.checkpoint()
    const got = (await outputs(gw)).map((e) => e.data).map(({ deviceId, metric, count, sum }) => ({ deviceId, metric, count, sum }))
    expect(got).toEqual([
      // Only the events with temperature > 20, each of their numeric fields.
      { deviceId: 'dev-a', metric: 'temperature', count: 1, sum: 25 },
      { deviceId: 'dev-a', metric: 'pressure', count: 1, sum: 1000 },
      { deviceId: 'dev-b', metric: 'temperature', count: 1, sum: 21 }
    ])
  })

  it('runs hopping, sliding and session windows with Stream Analytics semantics', async () => {
    const { gw } = await setup()
    for (const [name, window] of [
      ['hop', { kind: 'hopping', sizeSeconds: 10, hopSeconds: 5 }],
      ['slide', { kind: 'sliding', sizeSeconds: 5 }],
      ['sess', { kind: 'session', timeoutSeconds: 5, maxDurationSeconds: 60 }]
    ] as const) {
      expect((await gw.request('PUT', `/windows/${name}`, { body: { window, metrics: ['v'], aggregates: ['count', 'sum'], outputTopic: name } })).status).toBe(201)
    }
    const c = await device(gw, 'd')
    // The sliding-window example of the Stream Analytics docs, in seconds: 34, 38, 42; then far ahead.
    await send(c, 'd', [34, 38, 42, 100].map((t) => ({ ts: T0 + t * S, v: t })))
    await gw.gateway.telemetry.checkpoint()
    const windows = async (topic: string): Promise<string[]> => (await outputs(gw, topic)).map((e) => `${(Date.parse(e.data.start) - T0) / S}-${(Date.parse(e.data.end) - T0) / S}:${e.data.count as number}/${e.data.sum as number}`)
    expect(await windows('hop')).toEqual(['25-35:1/34', '30-40:2/72', '35-45:2/80', '40-50:1/42'])
    expect(await windows('slide')).toEqual(['29-34:1/34', '33-38:2/72', '34-39:1/38', '37-42:2/80', '38-43:1/42'])
    expect(await windows('sess')).toEqual(['34-47:3/114'])
  })

  it.runIf(durableOnly)('keeps definitions across restarts, validates them and deletes them', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await setup({}, dir.path)
    const bad = await first.gw.request<ErrorBody>('PUT', '/windows/w1', { body: { window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 20 } } })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ code: 'WINDOW_INVALID' })
    expect(bad.body.error.message).toContain('window.hopSeconds')
    const badFilter = await first.gw.request<ErrorBody>('PUT', '/windows/w1', { body: { window: { kind: 'tumbling', sizeSeconds: 10 }, filtersConfiguration: { filters: [{ operatorType: 'NumberIn', key: 'data.x' }] } } })
    expect(badFilter.status).toBe(400)
    expect(badFilter.body.error.code).toBe('WINDOW_INVALID')
    const unknownSource = await first.gw.request<ErrorBody>('PUT', '/windows/w1', { body: { sourceTopic: 'events', window: { kind: 'tumbling', sizeSeconds: 10 } } })
    expect(unknownSource.body.error).toMatchObject({ code: 'WINDOW_INVALID' })
    expect((await first.gw.request('PUT', '/windows/w1', { body: { window: { kind: 'tumbling', sizeSeconds: 10 } } })).status).toBe(201)
    expect((await first.gw.request('PUT', '/windows/w1', { body: { window: { kind: 'tumbling', sizeSeconds: 10 } } })).status).toBe(200)
    await first.gw.stop()

    const second = await setup({}, dir.path)
    const got = await second.gw.request('GET', '/windows/w1')
    expect(got.body).toMatchObject({ name: 'w1', sourceTopic: 'telemetry', outputTopic: 'telemetry-windows', aggregates: ['count', 'min', 'max', 'avg'], window: { kind: 'tumbling', sizeSeconds: 10, offsetSeconds: 0 } })
    expect((await second.gw.request<List<WindowDefinition>>('GET', '/windows')).body.value.map((w) => w.name)).toEqual(['w1'])
    expect((await second.gw.request('DELETE', '/windows/w1')).status).toBe(204)
    expect((await second.gw.request<ErrorBody>('GET', '/windows/w1')).body.error.code).toBe('WINDOW_NOT_FOUND')
  })
})

describe('window configuration', () => {
  it.each([
    ['a bad window', [{ name: 'w', window: { kind: 'tumbling', sizeSeconds: -1 } }], '/telemetry/windows/0/window.sizeSeconds'],
    ['a name used twice', [{ name: 'w', window: { kind: 'sliding', sizeSeconds: 1 } }, { name: 'w', window: { kind: 'sliding', sizeSeconds: 2 } }], '/telemetry/windows/1/name'],
    ['a source that is not configured', [{ name: 'w', sourceTopic: 'events', window: { kind: 'sliding', sizeSeconds: 1 } }], '/telemetry/windows']
  ])('refuses to start with %s, naming the field', async (_name, windows, field) => {
    const err = await startTestGateway({ telemetry: { windows } }).then(async (gw) => { await gw.stop(); return undefined }, (e: unknown) => e)
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' })
    expect((err as Error).message).toContain(field)
  })
})

describe('telemetry queries', () => {
  it('answers tumbling series from the per-second rollups and lists the device metrics', async () => {
    const { gw } = await setup()
    const c = await device(gw, 'q1')
    await send(c, 'q1', Array.from({ length: 30 }, (_, i) => ({ ts: T0 + (i + 1) * S, temperature: i + 1, status: 'ok' })))
    await gw.gateway.telemetry.checkpoint()
    const res = await gw.request<{ series: unknown[] }>('GET', `/telemetry/q1/temperature?from=${iso(T0)}&to=${iso(T0 + 30 * S)}&window=tumbling&size=10s&agg=count,avg,max`)
    expect(res.status).toBe(200)
    expect(res.body.series).toEqual([
      { start: iso(T0), end: iso(T0 + 10 * S), count: 10, avg: 5.5, max: 10 },
      { start: iso(T0 + 10 * S), end: iso(T0 + 20 * S), count: 10, avg: 15.5, max: 20 },
      { start: iso(T0 + 20 * S), end: iso(T0 + 30 * S), count: 10, avg: 25.5, max: 30 }
    ])
    const metrics = await gw.request('GET', '/telemetry/q1')
    expect(metrics.body).toEqual({ deviceId: 'q1', value: [{ metric: 'temperature', lastValue: 30, lastTime: iso(T0 + 30 * S) }] })
    const text = (await gw.request('GET', '/metrics')).text
    expect(text).toMatch(/gridgate_telemetry_skipped_total\{topic="telemetry",reason="field"\} 30/)
    expect(text).toMatch(/gridgate_telemetry_readings_total\{topic="telemetry"\} 30/)
  })

  it('refuses bad parameters, unknown metrics and queries over the limit with specific errors', async () => {
    const { gw } = await setup({ maxQueryBuckets: 3600 })
    const c = await device(gw, 'q2')
    await send(c, 'q2', [{ ts: T0 + S, temperature: 1 }])
    await gw.gateway.telemetry.checkpoint()
    const bad = await gw.request<ErrorBody>('GET', '/telemetry/q2/temperature?window=tumbling&size=1.5s')
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('QUERY_PARAM_INVALID')
    expect((await gw.request<ErrorBody>('GET', `/telemetry/q2/temperature?from=${iso(T0 + 10 * S)}&to=${iso(T0)}`)).body.error.code).toBe('QUERY_PARAM_INVALID')
    expect((await gw.request<ErrorBody>('GET', '/telemetry/q2/temperature?window=weekly')).body.error.code).toBe('QUERY_PARAM_INVALID')
    const tooLarge = await gw.request<ErrorBody>('GET', `/telemetry/q2/temperature?from=${iso(T0 - 86_400 * S)}&to=${iso(T0)}`)
    expect(tooLarge.status).toBe(400)
    expect(tooLarge.body.error.code).toBe('QUERY_TOO_LARGE')
    expect((await gw.request<ErrorBody>('GET', '/telemetry/q2/pressure')).body.error.code).toBe('METRIC_NOT_FOUND')
    expect((await gw.request<ErrorBody>('GET', '/telemetry/nobody')).body.error.code).toBe('DEVICE_NOT_FOUND')
  })
})
