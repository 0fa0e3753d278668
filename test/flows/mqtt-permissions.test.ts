import { describe, expect, it } from 'vitest'
import type { Replay, Topic } from '../helpers/api.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { whenClosed, connackCode, connectDevice, registerDevice, subackCode } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'

const teardown = useTeardown()

async function setup (overrides: Record<string, any> = {}) {
  const gw = await startTestGateway(overrides)
  teardown(gw.stop)
  const pa = await registerDevice(gw, 'dev-a', { site: 'oslo' })
  const pb = await registerDevice(gw, 'dev-b', { site: 'bergen' })
  const a = await connectDevice(gw.gateway.listeners.mqtt, 'dev-a', pa)
  teardown(() => a.endAsync(true))
  return { gw, a, pa, pb }
}

async function deniedCount (gw: TestGateway): Promise<number> {
  const text = (await gw.request('GET', '/metrics')).text
  return Number(/gridgate_rejections_total\{code="MQTT_NOT_AUTHORIZED",source="mqtt"\} (\d+)/.exec(text)?.[1] ?? 0)
}

describe('per-device topic permissions', () => {
  it.each([
    ['#'],
    ['+/+/telemetry'],
    ['devices/+/commands/#'],
    ['devices/dev-b/commands/#'],
    ['devices/dev-a/#'],
    ['$SYS/#']
  ])('denies SUBSCRIBE %s with SUBACK 0x80 and keeps the connection', async (filter) => {
    const { gw, a } = await setup()
    expect(await subackCode(a, filter)).toBe(128)
    expect(a.connected).toBe(true)
    expect(await deniedCount(gw)).toBe(1)
    // Its own command topic is still allowed.
    expect(await subackCode(a, 'devices/dev-a/commands/#')).toBe(1)
  })

  it.each([
    ['devices/dev-b/telemetry'],
    ['devices/dev-a/commands/reboot/1'],
    ['$SYS/broker/uptime'],
    ['other/topic']
  ])('drops a PUBLISH to %s, disconnects the device, and logs nothing', async (topic) => {
    const { gw, a } = await setup()
    const closed = whenClosed(a)
    a.publish(topic, '{"x":1}', { qos: 1 })
    await closed
    expect(await deniedCount(gw)).toBe(1)
    for (const t of ['telemetry', 'events']) expect((await gw.request<Topic>('GET', `/topics/${t}`)).body.events).toBe(0)
  })

  it('refuses a will on another device\'s topic at connect', async () => {
    const { gw, pb } = await setup()
    const code = await connackCode(gw.gateway.listeners.mqtt, { clientId: 'dev-b', username: 'dev-b', password: pb, will: { topic: 'devices/dev-a/events/gone', payload: Buffer.from('x'), qos: 1, retain: false } })
    expect(code).toBe(5)
    expect(await deniedCount(gw)).toBe(1)
  })

  it('delivers a device\'s own will as its event when it drops', async () => {
    const { gw, pb } = await setup()
    const b = await connectDevice(gw.gateway.listeners.mqtt, 'dev-b', pb, { will: { topic: 'devices/dev-b/events/lost', payload: Buffer.from('{"why":"gone"}'), qos: 1, retain: false } })
    const appended = gw.gateway.log.waitForAppend('events', 0, 10_000)
    b.stream.destroy() // no DISCONNECT packet: the will fires
    expect(await appended).toBe(true)
    const [rec] = (await gw.request<Replay>('GET', '/topics/events/events')).body.value
    expect(rec?.event).toMatchObject({ subject: 'devices/dev-b/events/lost', deviceid: 'dev-b', data: { why: 'gone' } })
  })

  it('never lets another device see a device\'s data', async () => {
    const { gw, a, pb } = await setup()
    const b = await connectDevice(gw.gateway.listeners.mqtt, 'dev-b', pb)
    teardown(() => b.endAsync(true))
    expect(await subackCode(b, 'devices/dev-a/telemetry')).toBe(128)
    expect(await subackCode(b, 'devices/dev-b/commands/#')).toBe(1)
    const seen: string[] = []
    b.on('message', (topic) => seen.push(topic))
    await a.publishAsync('devices/dev-a/telemetry', '{"secret":1}', { qos: 1 })
    // A round trip through the broker after A's publish: had B been sent A's message, it would be here first.
    await b.publishAsync('devices/dev-b/telemetry', '{"ping":1}', { qos: 1 })
    expect(seen).toEqual([])
  })

  it('grants topics from device attributes in templates', async () => {
    const { gw, a, pb } = await setup({ mqtt: { permissions: { publish: ['sites/${client.attributes.site}/#'], subscribe: [] } } }) // eslint-disable-line no-template-curly-in-string
    await a.publishAsync('sites/oslo/temp', '1', { qos: 1 })
    const b = await connectDevice(gw.gateway.listeners.mqtt, 'dev-b', pb)
    const closed = whenClosed(b)
    b.publish('sites/oslo/temp', '1', { qos: 1 })
    await closed
    expect(await deniedCount(gw)).toBe(1)
  })
})
