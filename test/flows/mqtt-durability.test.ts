import { writeFile } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CloudEvent, Replay, Topic } from '../helpers/api.js'
import { startTestGateway, type TestGateway, durableOnly } from '../helpers/gateway.js'
import { whenClosed, connectDevice, nextMessage, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { once, until } from '../helpers/wait.js'

const teardown = useTeardown()

async function gateway (overrides: Record<string, any> = {}, dataDir?: string): Promise<TestGateway> {
  const gw = await startTestGateway(overrides, { dataDir })
  teardown(gw.stop)
  return gw
}

async function events (gw: TestGateway, topic: string): Promise<CloudEvent[]> {
  return (await gw.request<Replay>('GET', `/topics/${topic}/events?limit=1000`)).body.value.map((r) => r.event)
}

describe('schemas, limits and QoS 0', () => {
  it('appends schema-invalid data to the invalid topic with the error, counts it, and keeps the device connected', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    await writeFile(join(dir.path, 'reading.json'), JSON.stringify({ type: 'object', required: ['temperature'], properties: { temperature: { type: 'number' } } }))
    const gw = await gateway({ routes: [{ filter: 'devices/+/telemetry/#', topic: 'telemetry', type: 'device.telemetry', schema: join(dir.path, 'reading.json') }] })
    const password = await registerDevice(gw, 'dev-s')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-s', password)
    teardown(() => device.endAsync(true))
    await device.publishAsync('devices/dev-s/telemetry', '{"temperature":"hot"}', { qos: 1 })
    await device.publishAsync('devices/dev-s/telemetry', 'not json', { qos: 1 })
    await device.publishAsync('devices/dev-s/telemetry', '{"temperature":20}', { qos: 1 })
    expect(device.connected).toBe(true)
    expect((await events(gw, 'telemetry')).map((e) => e.data)).toEqual([{ temperature: 20 }])
    const invalid = await events(gw, 'invalid')
    expect(invalid).toHaveLength(2)
    expect(invalid[0]).toMatchObject({ type: 'device.telemetry', deviceid: 'dev-s', data: { temperature: 'hot' }, validationerror: 'data.temperature must be number' })
    expect(invalid[1]?.validationerror).toBe('data is not JSON')
    const metrics = (await gw.request('GET', '/metrics')).text
    expect(metrics).toContain('gridgate_rejections_total{code="SCHEMA_VIOLATION",source="mqtt"} 2')
  })

  it('refuses a payload over mqtt.maxPayloadBytes, counts it, and logs nothing', async () => {
    const gw = await gateway({ mqtt: { maxPayloadBytes: 1024 } })
    const password = await registerDevice(gw, 'dev-big')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-big', password)
    const closed = whenClosed(device)
    device.publish('devices/dev-big/telemetry', JSON.stringify({ v: 'x'.repeat(2000) }), { qos: 1 })
    await closed
    expect((await gw.request<Topic>('GET', '/topics/telemetry')).body.events).toBe(0)
    expect((await gw.request('GET', '/metrics')).text).toContain('gridgate_rejections_total{code="PAYLOAD_TOO_LARGE",source="mqtt"} 1')
  })

  it('appends QoS 0 messages too', async () => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'dev-q0')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-q0', password)
    teardown(() => device.endAsync(true))
    const appended = gw.gateway.log.waitForAppend('telemetry', 0, 10_000)
    device.publish('devices/dev-q0/telemetry', '{"n":1}', { qos: 0 })
    expect(await appended).toBe(true)
    expect((await events(gw, 'telemetry'))[0]).toMatchObject({ mqttqos: 0, data: { n: 1 } })
  })
})

describe('sessions across a restart', () => {
  it.runIf(durableOnly)('keeps a persistent session\'s subscription, queued QoS 1 messages and retained messages', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const overrides = { mqtt: { permissions: { publish: ['devices/${client.id}/#'], subscribe: ['devices/#'] } } } // eslint-disable-line no-template-curly-in-string
    const first = await startTestGateway(overrides, { dataDir: dir.path })
    const pSub = await registerDevice(first, 'sub')
    const pPub = await registerDevice(first, 'pub')
    const sub = await connectDevice(first.gateway.listeners.mqtt, 'sub', pSub, { clean: false })
    await sub.subscribeAsync('devices/pub/#', { qos: 1 })
    await sub.endAsync()
    const pub = await connectDevice(first.gateway.listeners.mqtt, 'pub', pPub)
    await pub.publishAsync('devices/pub/state', 'on', { qos: 1, retain: true })
    await pub.publishAsync('devices/pub/telemetry', '{"queued":1}', { qos: 1 })
    await pub.endAsync()
    await first.stop()

    const second = await gateway(overrides, dir.path)
    const got: Array<[string, string]> = []
    const again = await connectDevice(second.gateway.listeners.mqtt, 'sub', pSub, { clean: false, manualConnect: false })
    teardown(() => again.endAsync(true))
    again.on('message', (topic, payload) => got.push([topic, payload.toString()]))
    // The queued messages arrive without subscribing again.
    await until(() => got.length >= 2, { timeoutMs: 10_000, what: 'the two queued messages after the restart' })
    expect(got).toEqual(expect.arrayContaining([['devices/pub/state', 'on'], ['devices/pub/telemetry', '{"queued":1}']]))
    // A new client gets the retained message.
    const fresh = await connectDevice(second.gateway.listeners.mqtt, 'pub', pPub)
    teardown(() => fresh.endAsync(true))
    const retained = nextMessage(fresh)
    await fresh.subscribeAsync('devices/pub/state', { qos: 1 })
    const { topic, payload, retain } = await retained
    expect([topic, payload.toString(), retain]).toEqual(['devices/pub/state', 'on', true])
  })
})

describe('malformed MQTT packets', () => {
  it.each([
    // A truncated packet is closed when its sender half-closes (or by the connect timeout).
    ['a truncated CONNECT', Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51]), true],
    ['a bad remaining length', Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]), false],
    ['a PUBLISH with QoS 3', Buffer.from([0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01]), false],
    ['garbage', Buffer.from('GET / HTTP/1.1\r\n\r\n'), false]
  ])('closes only the connection that sent %s', async (_name, bytes, halfClose) => {
    const gw = await gateway()
    const password = await registerDevice(gw, 'good')
    const good = await connectDevice(gw.gateway.listeners.mqtt, 'good', password)
    teardown(() => good.endAsync(true))
    const url = new URL(gw.gateway.listeners.mqtt)
    const bad = netConnect(Number(url.port), url.hostname)
    teardown(() => bad.destroy())
    await once(bad, 'connect', { timeoutMs: 5000 })
    // Within the connect timeout (10 s) at the latest.
    const closed = once(bad, 'close', { timeoutMs: 15_000, what: `the gateway to close the connection that sent ${_name}` })
    bad.on('error', () => {})
    bad.write(bytes)
    if (halfClose) bad.end()
    await closed
    await good.publishAsync('devices/good/telemetry', '{"still":"here"}', { qos: 1 })
    expect(good.connected).toBe(true)
    expect((await events(gw, 'telemetry')).map((e) => e.data)).toEqual([{ still: 'here' }])
  })
})
