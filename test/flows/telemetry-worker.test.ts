import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { openLevelDb, openLevelDbAt } from '../../src/storage/level/db.js'
import { levelTelemetryStore } from '../../src/storage/level/telemetry-store.js'
import type { TelemetryThread } from '../../src/telemetry-thread.js'
import type { Telemetry } from '../../src/telemetry/telemetry.js'
import type { CloudEvent, ErrorBody, List, Replay, WindowDefinition } from '../helpers/api.js'
import { durableOnly, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

// Telemetry in its worker thread, as a gateway on the system clock runs it (telemetry.test.ts
// drives the same features on a ManualClock, in the main thread). Event times come from the
// readings' `ts`, a minute in the past, and a generous late-arrival tolerance keeps them as
// they are, so windows are exact although the clock is real.

const teardown = useTeardown()
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 60_000
const S = 1000
const TELEMETRY = {
  sources: [{ topic: 'telemetry', types: ['device.telemetry'], timeField: 'ts' }],
  eventTime: { lateArrivalToleranceSeconds: 3600, earlyArrivalLimitSeconds: 86_400 },
  windows: [{ name: 'sum-10s', window: { kind: 'tumbling', sizeSeconds: 10 }, aggregates: ['count', 'sum'] }]
}

async function start (dataDir?: string, telemetry: Record<string, unknown> = {}): Promise<TestGateway> {
  const gw = await startTestGateway({ telemetry: { ...TELEMETRY, ...telemetry } }, { dataDir })
  teardown(gw.stop)
  return gw
}

const threadOf = (t: Telemetry): TelemetryThread => {
  if (!('crash' in t)) throw new Error('telemetry does not run in a worker')
  return t as TelemetryThread
}

async function device (gw: TestGateway, id: string, password?: string): Promise<{ c: MqttClient, password: string }> {
  const pw = password ?? await registerDevice(gw, id)
  const c = await connectDevice(gw.gateway.listeners.mqtt, id, pw)
  teardown(() => c.endAsync(true))
  return { c, password: pw }
}

/** Readings v = 1..n at T0 + i s. */
async function send (c: MqttClient, id: string, from: number, to: number): Promise<void> {
  for (let i = from; i <= to; i++) await c.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ ts: T0 + i * S, v: i }), { qos: 1 })
}

/** The data of a telemetry.window event, with the aggregates these tests ask for. */
interface WindowData { count: number, sum?: number, max?: number }
interface Series { series: Array<{ start: string, end: string, count: number, max?: number }> }
interface DeviceMetrics { deviceId: string, value: Array<{ metric: string, lastValue: number, lastTime: string }> }

async function windows (gw: TestGateway): Promise<Array<CloudEvent<WindowData>>> {
  const page = await gw.request<Replay<WindowData>>('GET', '/topics/telemetry-windows/events?fromOffset=0&limit=1000')
  expect(page.status).toBe(200)
  return page.body.value.map((r) => r.event)
}

const metric = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

describe('telemetry in its worker thread', () => {
  it('runs in a worker on the system clock, emits closed windows and answers queries', async () => {
    const gw = await start()
    const thread = threadOf(gw.gateway.telemetry)
    expect(thread.threadId).toBeGreaterThan(0)
    const { c } = await device(gw, 'w-1')
    await send(c, 'w-1', 1, 25)
    await gw.gateway.telemetry.checkpoint()

    const events = await windows(gw)
    expect(events.map((e) => [e.id, e.data.count, e.data.sum])).toEqual([
      [`sum-10s/w-1/${T0 + 10 * S}/v`, 10, 55],
      [`sum-10s/w-1/${T0 + 20 * S}/v`, 10, 155]
    ])
    const series = await gw.request<Series>('GET', `/telemetry/w-1/v?from=${T0}&to=${T0 + 30 * S}&size=10s&agg=count,max`)
    expect(series.status).toBe(200)
    expect(series.body.series.map((w) => [w.count, w.max])).toEqual([[10, 10], [10, 20], [5, 25]])
    expect((await gw.request<DeviceMetrics>('GET', '/telemetry/w-1')).body.value).toEqual([{ metric: 'v', lastValue: 25, lastTime: new Date(T0 + 25 * S).toISOString() }])

    // The worker's counts reach /metrics with the checkpoint's answer; its loop is watched.
    const text = (await gw.request('GET', '/metrics')).text
    expect(metric(text, 'gridgate_telemetry_readings_total{topic="telemetry"}')).toBe(25)
    expect(metric(text, 'gridgate_telemetry_windows_emitted_total{window="sum-10s"}')).toBe(2)
    expect(text).toMatch(/gridgate_event_loop_delay_seconds\{loop="telemetry",quantile="0.99"\} /)
    // The worker's stream has read all 25 events: no lag, as the worker tells where it stands.
    expect(metric(text, 'gridgate_telemetry_lag_events{topic="telemetry"}')).toBe(0)
    expect(await thread.positions()).toEqual([{ topic: 'telemetry', position: 25 }])
  })

  it('serves window CRUD from the worker, with its errors under the same codes and messages', async () => {
    const gw = await start()
    const put = await gw.request<WindowDefinition>('PUT', '/windows/w1', { body: { window: { kind: 'hopping', sizeSeconds: 20, hopSeconds: 10 }, aggregates: ['max'] } })
    expect(put.status).toBe(201)
    expect(put.body).toMatchObject({ name: 'w1', window: { kind: 'hopping', sizeSeconds: 20, hopSeconds: 10 }, aggregates: ['max'] })
    expect((await gw.request('PUT', '/windows/w1', { body: put.body })).status).toBe(200)
    expect((await gw.request('GET', '/windows/w1')).body).toEqual(put.body)
    expect((await gw.request<List<WindowDefinition>>('GET', '/windows')).body.value.map((w) => w.name)).toEqual(['sum-10s', 'w1'])

    const bad = await gw.request<ErrorBody>('PUT', '/windows/w2', { body: { window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 20 } } })
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('WINDOW_INVALID')
    expect(bad.body.error.message).toContain('window.hopSeconds')
    const unknownSource = await gw.request<ErrorBody>('PUT', '/windows/w2', { body: { sourceTopic: 'events', window: { kind: 'tumbling', sizeSeconds: 10 } } })
    expect(unknownSource.status).toBe(400)
    expect(unknownSource.body.error.message).toContain("'events' is not a telemetry source")
    expect((await gw.request<ErrorBody>('GET', '/windows/nope')).body.error).toEqual({ code: 'WINDOW_NOT_FOUND', message: "No telemetry window 'nope'" })
    expect((await gw.request('GET', '/windows/nope')).status).toBe(404)
    expect((await gw.request('GET', '/telemetry/w-2/pressure')).status).toBe(404)
    expect((await gw.request<ErrorBody>('GET', '/telemetry/w-2/pressure')).body.error.code).toBe('METRIC_NOT_FOUND')

    expect((await gw.request('DELETE', '/windows/w1')).status).toBe(204)
    expect((await gw.request('DELETE', '/windows/w1')).status).toBe(404)
  })

  it.skipIf(!durableOnly)('keeps windows, rollups and its place in the source topic across a gateway restart', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await start(dir.path)
    expect((await first.request('PUT', '/windows/max-5s', { body: { window: { kind: 'tumbling', sizeSeconds: 5 }, aggregates: ['max'] } })).status).toBe(201)
    const { c, password } = await device(first, 'r-1')
    await send(c, 'r-1', 1, 12)
    await first.gateway.telemetry.checkpoint()
    const before = await windows(first)
    expect(before.map((e) => e.id).sort()).toEqual([`max-5s/r-1/${T0 + 5 * S}/v`, `max-5s/r-1/${T0 + 10 * S}/v`, `sum-10s/r-1/${T0 + 10 * S}/v`])
    await c.endAsync(true)
    await first.stop()

    const second = await start(dir.path)
    expect((await second.request('GET', '/windows/max-5s')).status).toBe(200)
    const again = await device(second, 'r-1', password)
    await send(again.c, 'r-1', 13, 21)
    await second.gateway.telemetry.checkpoint()
    const after = await windows(second)
    // The windows of the first run are not emitted again; the open ones went on where they were.
    expect(new Set(after.map((e) => e.id)).size).toBe(after.length)
    expect(after.slice(0, before.length)).toEqual(before)
    expect(after.slice(before.length).map((e) => [e.id, e.data.count])).toEqual(expect.arrayContaining([
      [`max-5s/r-1/${T0 + 15 * S}/v`, 5],
      [`max-5s/r-1/${T0 + 20 * S}/v`, 5],
      [`sum-10s/r-1/${T0 + 20 * S}/v`, 10]
    ]))
    const series = await second.request<Series>('GET', `/telemetry/r-1/v?from=${T0}&to=${T0 + 20 * S}&size=10s&agg=count`)
    expect(series.body.series.map((w) => w.count)).toEqual([10, 10])
  })

  it.skipIf(!durableOnly)('moves telemetry state of the old layout out of the main LevelDB into its own at the first start', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    // What 0.5 wrote: telemetry's sublevels in {dataDir}/db.
    const old = await openLevelDb(dir.path)
    await old.json('telemetry').put('w!old-1', { definition: { name: 'old-1', window: { kind: 'tumbling', sizeSeconds: 60 } }, createdAt: '2026-01-01T00:00:00.000Z' })
    await old.json('telemetry').put('l!m-1!temp', { value: 21.5, time: T0 })
    await old.binary('telemetry-state').put('s!elsewhere!c', Buffer.from(JSON.stringify({ cursor: 7, outputFrom: {}, unsent: [] })))
    await old.close()

    const gw = await start(dir.path)
    expect((await gw.request('GET', '/windows/old-1')).body).toMatchObject({ name: 'old-1', window: { kind: 'tumbling', sizeSeconds: 60 }, createdAt: '2026-01-01T00:00:00.000Z' })
    expect((await gw.request<DeviceMetrics>('GET', '/telemetry/m-1')).body.value).toEqual([{ metric: 'temp', lastValue: 21.5, lastTime: new Date(T0).toISOString() }])
    await gw.stop()

    const main = await openLevelDb(dir.path)
    try {
      expect(await main.json('telemetry').keys().all()).toEqual([])
      expect(await main.binary('telemetry-state').keys().all()).toEqual([])
    } finally { await main.close() }
    const own = await openLevelDbAt(join(dir.path, 'telemetry'))
    try {
      const store = levelTelemetryStore(own)
      expect((await store.listWindows()).map((w) => w.name)).toEqual(['old-1', 'sum-10s'])
      expect((await store.loadStream('elsewhere')).checkpoint).toEqual({ cursor: 7, outputFrom: {}, unsent: [] })
    } finally { await own.close() }
  })

  it('restarts a worker that died while the gateway keeps ingesting and stays ready', async () => {
    const gw = await start()
    const thread = threadOf(gw.gateway.telemetry)
    const { c } = await device(gw, 'k-1')
    await send(c, 'k-1', 1, 12)
    await gw.gateway.telemetry.checkpoint()
    const firstId = thread.threadId

    await thread.crash()
    // Ingest does not wait for telemetry: acknowledged while the worker is down or starting.
    await send(c, 'k-1', 13, 25)
    expect((await gw.request('GET', '/readyz', { auth: null })).status).toBe(200)
    await until(() => thread.restarts === 1, { what: 'the telemetry worker to be started again', timeoutMs: 20_000 })
    expect(thread.threadId).not.toBe(firstId)

    await gw.gateway.telemetry.checkpoint()
    expect((await gw.request('GET', '/windows/sum-10s')).status).toBe(200)
    if (durableOnly) {
      // The new worker restored the last snapshot and read the topic again from there.
      expect((await windows(gw)).map((e) => [e.id, e.data.count])).toEqual([
        [`sum-10s/k-1/${T0 + 10 * S}/v`, 10],
        [`sum-10s/k-1/${T0 + 20 * S}/v`, 10]
      ])
    }
    const text = (await gw.request('GET', '/metrics')).text
    expect(metric(text, 'gridgate_worker_crashes_total{worker="telemetry"}')).toBe(1)
  })

  it('runs in the main thread when telemetry.worker is false', async () => {
    const gw = await start(undefined, { worker: false })
    expect('crash' in gw.gateway.telemetry).toBe(false)
    const { c } = await device(gw, 'm-2')
    await send(c, 'm-2', 1, 11)
    await gw.gateway.telemetry.checkpoint()
    expect((await windows(gw)).map((e) => e.data.sum)).toEqual([55])
  })
})
