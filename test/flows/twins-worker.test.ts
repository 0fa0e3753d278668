import { describe, expect, it } from 'vitest'
import type { TwinsThread } from '../../src/twins-thread.js'
import type { TwinView } from '../../src/twins/twins.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// The twin projection in its worker thread (twins-worker.ts), as `npm start` runs it: the
// worker reads the topics through the main thread's log and writes its steps through the
// main thread's store; a worker that dies is started again and goes on from the stored
// cursors, every change applied once.

const teardown = useTeardown()
const WAIT = { timeoutMs: 20_000 }

async function gateway (twins: Record<string, unknown> = {}): Promise<TestGateway> {
  const gw = await startTestGateway({ twins: { enabled: true, stepIntervalMs: 50, ...twins } })
  teardown(gw.stop)
  return gw
}

const twin = async (gw: TestGateway, id: string): Promise<TwinView> => {
  const res = await gw.request<TwinView>('GET', `/devices/${id}/twin`)
  expect(res.status, res.text).toBe(200)
  return res.body
}

const metric = (text: string, name: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(name + ' '))
  return line === undefined ? undefined : Number(line.slice(name.length + 1))
}

/** Publishes readings n = from..to (each a new value: one version each), QoS 1. */
async function send (gw: TestGateway, id: string, from: number, to: number): Promise<void> {
  const password = await registerDevice(gw, id).catch(() => undefined)
  if (password !== undefined) passwords.set(id, password)
  const dev = await connectDevice(gw.gateway.listeners.mqtt, id, passwords.get(id) as string)
  try {
    for (let n = from; n <= to; n++) await dev.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ n }), { qos: 1 })
  } finally {
    await dev.endAsync(true)
  }
}
const passwords = new Map<string, string>()

describe('the twin projection in its worker thread', () => {
  it('projects in a worker on the system clock and reports its loop delay', async () => {
    const gw = await gateway()
    const thread = gw.gateway.twins?.projection as TwinsThread
    expect(typeof thread.threadId).toBe('number')
    await send(gw, 'w-1', 1, 5)
    await until(async () => (await twin(gw, 'w-1')).version === 5, { ...WAIT, what: 'the twin at version 5' })
    expect((await twin(gw, 'w-1')).reported.n).toMatchObject({ value: 5, topic: 'telemetry', offset: 4 })
    await until(async () => (await gw.request('GET', '/metrics')).text.includes('gridgate_event_loop_delay_seconds{loop="twins",quantile="0.99"}'), { ...WAIT, what: 'the twins loop delay in /metrics' })
  })

  it('starts a worker that died again, which goes on from the stored cursors applying each event once', async () => {
    const gw = await gateway()
    const thread = gw.gateway.twins?.projection as TwinsThread
    await send(gw, 'w-2', 1, 10)
    await until(async () => (await twin(gw, 'w-2')).version === 10, { ...WAIT, what: 'the twin at version 10' })
    const firstId = thread.threadId

    await thread.crash()
    // Ingest does not wait for the projection: acknowledged while the worker is down or starting.
    await send(gw, 'w-2', 11, 20)
    expect((await gw.request('GET', '/readyz', { auth: null })).status).toBe(200)
    await until(() => thread.restarts === 1, { ...WAIT, what: 'the twins worker to be started again' })
    expect(thread.threadId).not.toBe(firstId)
    await until(async () => (await twin(gw, 'w-2')).version === 20, { ...WAIT, what: 'the twin at version 20' })

    // One history entry per event, none twice; the twins topic has each version once.
    const history = await gw.request<{ value: Array<{ value: unknown, version: number }> }>('GET', '/devices/w-2/twin/history?field=n')
    expect(history.body.value.map((h) => h.version)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    const page = await gw.request<{ value: Array<{ event: { id: string, data: { fromVersion: number, version: number } } }> }>('GET', '/topics/twins/events?fromOffset=0&limit=1000')
    const versions = page.body.value.flatMap((r) => Array.from({ length: r.event.data.version - r.event.data.fromVersion + 1 }, (_, i) => r.event.data.fromVersion + i))
    expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(metric((await gw.request('GET', '/metrics')).text, 'gridgate_worker_crashes_total{worker="twins"}')).toBe(1)
  })

  it('projects on the main thread when twins.worker is false', async () => {
    const gw = await gateway({ worker: false })
    expect('crash' in (gw.gateway.twins?.projection ?? {})).toBe(false)
    await send(gw, 'w-3', 1, 3)
    await until(async () => (await twin(gw, 'w-3')).version === 3, { ...WAIT, what: 'the twin at version 3' })
  })
})
