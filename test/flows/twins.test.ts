import { describe, expect, it } from 'vitest'
import type { TwinView } from '../../src/twins/twins.js'
import { durableOnly, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, nextMessage, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

// Device twins end to end: real devices publish over MQTT, the projection follows the
// topics, HTTP reads the twin (now, asOf, atOffset), its history, and sets desired state,
// which reaches the device retained. On the engine of the flows project (leveldb or memory).

const teardown = useTeardown()
const WAIT = { timeoutMs: 15_000 }

async function gateway (overrides: Record<string, unknown> = {}, dataDir?: string): Promise<TestGateway> {
  const gw = await startTestGateway({ twins: { enabled: true, stepIntervalMs: 50 }, ...overrides }, dataDir === undefined ? {} : { dataDir })
  teardown(gw.stop)
  return gw
}

const twin = async (gw: TestGateway, id: string, query = ''): Promise<TwinView> => {
  const res = await gw.request<TwinView>('GET', `/devices/${id}/twin${query}`)
  expect(res.status, res.text).toBe(200)
  return res.body
}
const waitVersion = async (gw: TestGateway, id: string, version: number): Promise<TwinView> => {
  let last: TwinView | undefined
  await until(async () => (last = await twin(gw, id)).version >= version, { ...WAIT, what: `twin ${id} at version ${version}` })
  return last as TwinView
}

describe('device twins', () => {
  it('reports the last value of each field with the event that set it, as of now, a time and an offset', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'boiler-1')
    const dev = await connectDevice(gw.gateway.listeners.mqtt, 'boiler-1', password)
    teardown(() => dev.endAsync(true))
    await dev.publishAsync('devices/boiler-1/telemetry', JSON.stringify({ temp: 20, mode: 'eco' }), { qos: 1 })
    const first = await waitVersion(gw, 'boiler-1', 1)
    const between = Date.parse(first.reported.temp?.time as string)
    // Same value again: no change; a new value: one more version.
    await dev.publishAsync('devices/boiler-1/telemetry', JSON.stringify({ temp: 20 }), { qos: 1 })
    await dev.publishAsync('devices/boiler-1/events/alarm', JSON.stringify({ alarm: { code: 7 } }), { qos: 1 })
    // Applied before the next reading (events of two topics in one step go in arrival order).
    await waitVersion(gw, 'boiler-1', 2)
    await dev.publishAsync('devices/boiler-1/telemetry', JSON.stringify({ temp: 22.5 }), { qos: 1 })
    const now = await waitVersion(gw, 'boiler-1', 3)
    expect(now.version).toBe(3)
    expect(now.reported.temp).toMatchObject({ value: 22.5, topic: 'telemetry', offset: 2 })
    expect(now.reported.mode).toMatchObject({ value: 'eco', topic: 'telemetry', offset: 0 })
    expect(now.reported.alarm).toMatchObject({ value: { code: 7 }, topic: 'events', offset: 0 })
    expect(typeof now.reported.temp?.eventId).toBe('string')

    // atOffset N of a topic: the twin while that topic stood at N (until its next event changed
    // it), so with the alarm from the events topic, and without telemetry's offset 2.
    const atOne = await twin(gw, 'boiler-1', '?atOffset=1&topic=telemetry')
    expect(atOne.version).toBe(2)
    expect(atOne.reported.temp?.value).toBe(20)
    expect(Object.keys(atOne.reported).sort()).toEqual(['alarm', 'mode', 'temp'])
    expect((await twin(gw, 'boiler-1', '?atOffset=0')).version).toBe(2)
    expect((await twin(gw, 'boiler-1', '?atOffset=0&topic=events')).version).toBe(3)
    expect((await gw.request('GET', '/devices/boiler-1/twin?atOffset=0&topic=system')).status).toBe(400)
    expect((await gw.request('GET', '/devices/boiler-1/twin?asOf=yesterday')).status).toBe(400)
    const before = await twin(gw, 'boiler-1', `?asOf=${new Date(between - 1).toISOString()}`)
    expect(before).toMatchObject({ version: 0, reported: {} })
    expect((await twin(gw, 'boiler-1', `?asOf=${new Date(between).toISOString()}`)).reported.temp?.value).toBe(20)

    const history = await gw.request<{ value: Array<{ field: string, value: unknown, offset: number, version: number }> }>('GET', '/devices/boiler-1/twin/history?field=temp')
    expect(history.body.value.map((h) => [h.value, h.offset, h.version])).toEqual([[20, 0, 1], [22.5, 2, 3]])
  })

  it('sends a desired document retained on devices/{id}/twin/desired and shows the delta until the device reports it', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'valve-1')
    const patch = await gw.request<TwinView>('PATCH', '/devices/valve-1/twin/desired', { body: { open: true, limits: { max: 80, min: 10 } }, contentType: 'application/merge-patch+json' })
    expect(patch.status, patch.text).toBe(200)
    expect(patch.body).toMatchObject({ desiredVersion: 1, desired: { open: true, limits: { max: 80, min: 10 } }, delta: { open: true, limits: { max: 80, min: 10 } } })
    const second = await gw.request<TwinView>('PATCH', '/devices/valve-1/twin/desired', { body: { limits: { min: null } } })
    expect(second.body).toMatchObject({ desiredVersion: 2, desired: { open: true, limits: { max: 80 } } })

    // A device that connects later gets the whole document, retained.
    const dev = await connectDevice(gw.gateway.listeners.mqtt, 'valve-1', password)
    teardown(() => dev.endAsync(true))
    const message = nextMessage(dev)
    await dev.subscribeAsync('devices/valve-1/twin/desired', { qos: 1 })
    const got = await message
    expect(got.retain).toBe(true)
    expect(JSON.parse(got.payload.toString())).toEqual({ version: 2, desired: { open: true, limits: { max: 80 } } })

    await dev.publishAsync('devices/valve-1/events/state', JSON.stringify({ open: true }), { qos: 1 })
    const partly = await waitVersion(gw, 'valve-1', 1)
    expect(partly.delta).toEqual({ limits: { max: 80 } })
    await dev.publishAsync('devices/valve-1/events/state', JSON.stringify({ limits: { max: 80 } }), { qos: 1 })
    expect((await waitVersion(gw, 'valve-1', 2)).delta).toEqual({})

    const bad = await gw.request('PATCH', '/devices/valve-1/twin/desired', { raw: '[1]' })
    expect(bad.status).toBe(400)
    expect((await gw.request('PATCH', '/devices/nobody/twin/desired', { body: { a: 1 } })).status).toBe(404)
    expect((await gw.request('GET', '/devices/nobody/twin')).status).toBe(404)
  })

  it('appends device.twin.changed events to the twins topic for reported and desired changes', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'fan-1')
    const dev = await connectDevice(gw.gateway.listeners.mqtt, 'fan-1', password)
    teardown(() => dev.endAsync(true))
    await dev.publishAsync('devices/fan-1/telemetry', JSON.stringify({ rpm: 900 }), { qos: 1 })
    await waitVersion(gw, 'fan-1', 1)
    await gw.request('PATCH', '/devices/fan-1/twin/desired', { body: { rpm: 1200 } })
    type Replay = { value: Array<{ event: { type: string, subject: string, data: Record<string, unknown> } }> }
    let events: Replay['value'] = []
    await until(async () => (events = (await gw.request<Replay>('GET', '/topics/twins/events?limit=100')).body.value ?? []).length >= 2, { ...WAIT, what: 'two twins events' })
    expect(events.map((e) => [e.event.type, e.event.subject])).toEqual([
      ['device.twin.changed', 'devices/fan-1/twin/reported'],
      ['device.twin.changed', 'devices/fan-1/twin/desired']
    ])
    expect(events[0]?.event.data).toEqual({ deviceId: 'fan-1', fromVersion: 1, version: 1, changed: { rpm: 900 } })
    expect(events[1]?.event.data).toMatchObject({ deviceId: 'fan-1', desiredVersion: 1, desired: { rpm: 1200 } })
  })

  it.runIf(durableOnly)('resumes from its stored cursor after a restart, applying each event once', async () => {
    const dir = await tempDir()
    teardown(() => dir.remove())
    const first = await startTestGateway({ twins: { enabled: true, stepIntervalMs: 50 } }, { dataDir: dir.path })
    const password = await registerDevice(first, 'meter-9')
    const dev = await connectDevice(first.gateway.listeners.mqtt, 'meter-9', password)
    for (let i = 1; i <= 5; i++) await dev.publishAsync('devices/meter-9/telemetry', JSON.stringify({ n: i }), { qos: 1 })
    await waitVersion(first, 'meter-9', 5)
    await dev.endAsync(true)
    await first.gateway.stop()
    const second = await gateway({}, dir.path)
    const again = await connectDevice(second.gateway.listeners.mqtt, 'meter-9', password)
    teardown(() => again.endAsync(true))
    await again.publishAsync('devices/meter-9/telemetry', JSON.stringify({ n: 6 }), { qos: 1 })
    const t = await waitVersion(second, 'meter-9', 6)
    expect(t.version).toBe(6)
    expect(t.reported.n).toMatchObject({ value: 6, offset: 5 })
  })
})
