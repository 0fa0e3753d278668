import { describe, expect, it } from 'vitest'
import type { CloudEvent, Device, ErrorBody, List, RegisteredDevice, Replay } from '../helpers/api.js'
import { ManualClock } from '../../src/core/clock.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { whenClosed, connackCode, connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { reached, until } from '../helpers/wait.js'

const teardown = useTeardown()

async function gateway (overrides: Record<string, any> = {}): Promise<TestGateway> {
  const gw = await startTestGateway(overrides)
  teardown(gw.stop)
  return gw
}

async function events (gw: TestGateway, topic: string): Promise<CloudEvent[]> {
  const res = await gw.request<Replay>('GET', `/topics/${topic}/events?limit=1000`)
  expect(res.status).toBe(200)
  return res.body.value.map((r) => r.event)
}

describe('MQTT ingest', () => {
  it('acknowledges a QoS 1 publish only when its CloudEvent is already in the log', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'dev-1')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-1', password)
    teardown(() => device.endAsync(true))
    await device.publishAsync('devices/dev-1/telemetry', JSON.stringify({ temperature: 21.5 }), { qos: 1 })
    // No waiting: the PUBACK has come back, so the event must be readable now.
    const [ev] = await events(gw, 'telemetry')
    expect(ev).toMatchObject({
      specversion: '1.0',
      source: '/gridgate/devices/dev-1',
      type: 'device.telemetry',
      subject: 'devices/dev-1/telemetry',
      datacontenttype: 'application/json',
      data: { temperature: 21.5 },
      deviceid: 'dev-1',
      mqttqos: 1,
      mqttretain: false
    })
    expect(ev?.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(Date.parse(ev?.time ?? '')).not.toBeNaN()
    // The time the PUBACK waited is measured on the server.
    expect((await gw.request('GET', '/metrics')).text).toContain('gridgate_mqtt_publish_seconds_count 1')
  })

  it('maps events to the events topic and binary payloads to data_base64', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'dev-2')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-2', password)
    teardown(() => device.endAsync(true))
    await device.publishAsync('devices/dev-2/events/door', Buffer.from([0xff, 0x00, 0x01]), { qos: 1 })
    await device.publishAsync('devices/dev-2/telemetry/power', '42', { qos: 1 })
    const [ev] = await events(gw, 'events')
    expect(ev).toMatchObject({ type: 'device.event', subject: 'devices/dev-2/events/door', datacontenttype: 'application/octet-stream', data_base64: Buffer.from([0xff, 0x00, 0x01]).toString('base64') })
    expect(ev?.data).toBeUndefined()
    const [power] = await events(gw, 'telemetry')
    expect(power).toMatchObject({ subject: 'devices/dev-2/telemetry/power', data: 42 })
  })

  it('records device.connected and device.disconnected on the system topic and in the registry', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'dev-3')
    const device = await connectDevice(gw.gateway.listeners.ws, 'dev-3', password)
    // The CONNACK can reach the device before aedes reports the client ready: wait for the event.
    expect(await gw.gateway.log.waitForAppend('system', 0, 10_000)).toBe(true)
    expect((await gw.request<Device>('GET', '/devices/dev-3')).body.connected).toBe(true)
    await device.endAsync()
    expect(await gw.gateway.log.waitForAppend('system', 1, 10_000)).toBe(true)
    const system = await events(gw, 'system')
    expect(system.map((e) => e.type)).toEqual(['device.connected', 'device.disconnected'])
    expect(system[0]).toMatchObject({ subject: 'devices/dev-3', deviceid: 'dev-3', data: { transport: 'ws' } })
    const info = (await gw.request<Device>('GET', '/devices/dev-3')).body
    expect(info.connected).toBe(false)
    expect(info.lastSeen).not.toBeNull()
  })
})

describe('device identities', () => {
  it('refuses a wrong password and an unknown device with the same CONNACK', async () => {
    const gw = await gateway()
    await registerDevice(gw, 'known')
    const url = gw.gateway.listeners.mqtt
    const wrong = await connackCode(url, { clientId: 'known', username: 'known', password: 'not-the-password' })
    const unknown = await connackCode(url, { clientId: 'ghost', username: 'ghost', password: 'whatever' })
    expect(wrong).toBe(4)
    expect(unknown).toBe(4)
  })

  it('refuses anonymous clients unless the config allows them', async () => {
    const closed = await gateway()
    expect(await connackCode(closed.gateway.listeners.mqtt, { clientId: 'anon' })).toBe(5)
    const open = await gateway({ mqtt: { allowAnonymous: true } })
    expect(await connackCode(open.gateway.listeners.mqtt, { clientId: 'anon' })).toBe(0)
  })

  it('refuses a client id that is not the username', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'dev-a')
    expect(await connackCode(gw.gateway.listeners.mqtt, { clientId: 'someone-else', username: 'dev-a', password })).toBe(4)
  })

  it('registers with attributes, shows the password once, and revokes on delete', async () => {
    const gw = await gateway()
    const created = await gw.request<RegisteredDevice>('PUT', '/devices/dev-x', { body: { attributes: { site: 'oslo' } } })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ id: 'dev-x', attributes: { site: 'oslo' }, connected: false, lastSeen: null })
    expect(typeof created.body.password).toBe('string')
    const again = await gw.request<Device>('PUT', '/devices/dev-x', { body: { attributes: { site: 'bergen' } } })
    expect(again.status).toBe(200)
    expect(again.body.password).toBeUndefined()
    expect(again.body.attributes).toEqual({ site: 'bergen' })
    expect((await gw.request<List<Device>>('GET', '/devices')).body.value.map((d) => d.id)).toEqual(['dev-x'])
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-x', created.body.password)
    const closed = whenClosed(device)
    expect((await gw.request('DELETE', '/devices/dev-x')).status).toBe(204)
    await closed
    expect((await gw.request('GET', '/devices/dev-x')).status).toBe(404)
    expect(await connackCode(gw.gateway.listeners.mqtt, { clientId: 'dev-x', username: 'dev-x', password: created.body.password })).toBe(4)
  })

  it('refuses invalid device ids and attributes with a specific code', async () => {
    const gw = await gateway()
    const bad = await gw.request<ErrorBody>('PUT', '/devices/bad%2Fid')
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('DEVICE_ID_INVALID')
    const attrs = await gw.request<ErrorBody>('PUT', '/devices/ok', { body: { attributes: { site: 5 } } })
    expect(attrs.body.error.code).toBe('BODY_INVALID')
    expect((await gw.request<ErrorBody>('GET', '/devices/none')).body.error.code).toBe('DEVICE_NOT_FOUND')
  })
})

describe('repeated bad passwords', () => {
  it('are slowed down per client address and username on the injected clock, and a good password then still works', async () => {
    const clock = new ManualClock(Date.now())
    const gw = await startTestGateway({ mqtt: { authFailures: { freeAttempts: 2, baseDelayMs: 1000, maxDelayMs: 8000, windowSeconds: 300 } }, telemetry: { enabled: false } }, { clock })
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-slow')
    const url = gw.gateway.listeners.mqtt
    const bad = { clientId: 'dev-slow', username: 'dev-slow', password: 'wrong-password' }
    expect(await connackCode(url, bad)).toBe(4)
    expect(await connackCode(url, bad)).toBe(4)
    const idle = clock.pendingTimers() // the retention sweep's timer (telemetry, off here, would add its own)
    // The third attempt waits 1 s of gateway time before it is even checked.
    let answered = false
    const third = connackCode(url, bad).then((code) => { answered = true; return code })
    await reached(() => clock.pendingTimers() !== idle, { timeoutMs: 5000, everyMs: 1 }) // the wait on the clock, judged below
    expect(clock.pendingTimers()).toBe(idle + 1)
    expect(answered).toBe(false)
    clock.advance(1000)
    expect(await third).toBe(4)
    // The fourth waits twice as long; the right password passes once the wait is over.
    const fourth = connackCode(url, { ...bad, password })
    await reached(() => clock.pendingTimers() !== idle, { timeoutMs: 5000, everyMs: 1 }) // the wait on the clock, judged below
    clock.advance(1999)
    expect(clock.pendingTimers()).toBe(idle + 1)
    clock.advance(1)
    expect(await fourth).toBe(0)
  })
})

describe('MQTT routing to subscribers', () => {
  // aedes remembers which subscriptions a topic matched (core/match-cache.ts); a subscription
  // made or dropped after a topic was published to must count from the next publish.
  it('delivers a topic published to before the subscription existed, and stops after the unsubscribe', async () => {
    // eslint-disable-next-line no-template-curly-in-string -- a permission template
    const gw = await gateway({ mqtt: { permissions: { publish: ['devices/${client.id}/telemetry/#'], subscribe: ['devices/+/telemetry/#'] } } })
    const dev = await connectDevice(gw.gateway.listeners.mqtt, 'dev', await registerDevice(gw, 'dev'))
    teardown(() => dev.endAsync(true))
    const app = await connectDevice(gw.gateway.listeners.mqtt, 'app', await registerDevice(gw, 'app'))
    teardown(() => app.endAsync(true))
    const got: string[] = []
    app.on('message', (topic, payload) => got.push(`${topic} ${payload.toString()}`))
    // Published with no subscriber: the match for this topic (nobody) is remembered.
    await dev.publishAsync('devices/dev/telemetry/a', 'before', { qos: 1 })
    await dev.publishAsync('devices/dev/telemetry/a', 'before', { qos: 1 })
    await app.subscribeAsync('devices/dev/telemetry/a', { qos: 1 })
    await dev.publishAsync('devices/dev/telemetry/a', 'subscribed', { qos: 1 })
    await until(() => got.length >= 1, { timeoutMs: 10_000, what: 'the publish made after the subscription' })
    await app.unsubscribeAsync('devices/dev/telemetry/a')
    await dev.publishAsync('devices/dev/telemetry/a', 'unsubscribed', { qos: 1 })
    // A marker on another topic, published after: once it is in, the one before it would be too.
    await app.subscribeAsync('devices/dev/telemetry/b', { qos: 1 })
    await dev.publishAsync('devices/dev/telemetry/b', 'marker', { qos: 1 })
    await until(() => got.length >= 2, { timeoutMs: 10_000, what: 'the marker' })
    expect(got).toEqual(['devices/dev/telemetry/a subscribed', 'devices/dev/telemetry/b marker'])
  })
})
