import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, registerDevice, subackCode } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// $SYS statistics in Mosquitto's layout, every mqtt.sysIntervalSeconds on the gateway's clock,
// to clients holding a subscribe grant on them (here through mqtt.permissions.subscribe).

const teardown = useTeardown()

/* eslint-disable no-template-curly-in-string */
const DEVICE_PERMISSIONS = {
  publish: ['devices/${client.id}/telemetry', 'devices/${client.id}/telemetry/#', 'devices/${client.id}/events/#', 'devices/${client.id}/responses/#'],
  subscribe: ['devices/${client.id}/commands/#']
}
/* eslint-enable no-template-curly-in-string */

async function gateway (mqtt: Record<string, unknown>, clock = new ManualClock()): Promise<TestGateway> {
  const gw = await startTestGateway({ mqtt }, { clock })
  teardown(gw.stop)
  return gw
}

/** Everything the client receives, topic -> last payload, and every topic seen. */
function collect (client: MqttClient): { last: Map<string, string>, topics: string[] } {
  const last = new Map<string, string>()
  const topics: string[] = []
  client.on('message', (topic, payload) => { last.set(topic, payload.toString()); topics.push(topic) })
  return { last, topics }
}

describe('$SYS statistics', () => {
  it('publishes Mosquitto\'s $SYS/broker topics every interval on the clock, only to clients with a grant, never aedes\' own', async () => {
    const clock = new ManualClock()
    const gw = await gateway({ sysIntervalSeconds: 10, permissions: { ...DEVICE_PERMISSIONS, subscribe: [...DEVICE_PERMISSIONS.subscribe, '$SYS/#'] } }, clock)
    const url = gw.gateway.listeners.mqtt
    const monitor = await connectDevice(url, 'monitor', await registerDevice(gw, 'monitor'))
    teardown(() => monitor.endAsync(true))
    const seen = collect(monitor)
    expect(await subackCode(monitor, '$SYS/#')).toBe(1)

    // Retained at start: a new subscriber has the values at once.
    await until(() => seen.last.size === 12, { timeoutMs: 5_000, what: 'the 12 retained $SYS values' })
    expect(seen.last.get('$SYS/broker/version')).toMatch(/^gridgate version \d+\.\d+\.\d+/)
    expect(seen.last.get('$SYS/broker/uptime')).toBe('0 seconds')
    expect(seen.last.get('$SYS/broker/clients/connected')).toBe('0')

    const device = await connectDevice(url, 'dev-1', await registerDevice(gw, 'dev-1'))
    teardown(() => device.endAsync(true))
    for (let i = 0; i < 3; i++) await device.publishAsync('devices/dev-1/telemetry', `{"i":${i}}`, { qos: 1 })

    clock.advance(10_000)
    // One update's messages are stored (retained) and sent each on its own: wait for each value.
    const value = async (name: string, ok: (v: string) => boolean): Promise<void> => {
      await until(() => ok(seen.last.get(`$SYS/broker/${name}`) ?? ''), { timeoutMs: 5_000, what: `$SYS/broker/${name} to be right (${seen.last.get(`$SYS/broker/${name}`) ?? 'none'})` })
    }
    const atLeast = (n: number) => (v: string): boolean => Number(v) >= n
    await value('uptime', (v) => v === '10 seconds')
    await value('clients/connected', (v) => v === '2')
    await value('clients/maximum', (v) => v === '2')
    await value('publish/messages/received', (v) => v === '3')
    // CONNECT, SUBSCRIBE (monitor); CONNECT and 3 PUBLISH (dev-1)
    await value('messages/received', atLeast(6))
    // CONNACK, SUBACK, the 12 retained $SYS values (monitor); CONNACK, 3 PUBACK (dev-1)
    await value('messages/sent', atLeast(6 + 12))
    await value('publish/messages/sent', atLeast(12))
    await value('bytes/received', atLeast(100))
    await value('bytes/sent', atLeast(100))
    await value('heap/current', atLeast(1))

    // The next update on the clock; the static version topic is not sent again.
    const versions = seen.topics.filter((t) => t === '$SYS/broker/version').length
    clock.advance(9_999)
    clock.advance(1)
    await value('uptime', (v) => v === '20 seconds')
    expect(seen.topics.filter((t) => t === '$SYS/broker/version').length).toBe(versions)

    // aedes' $SYS/{brokerId}/new/clients etc. (dev-1 connected meanwhile) reached no one.
    expect(seen.topics.filter((t) => !t.startsWith('$SYS/broker/'))).toEqual([])
    // ... and '#' does not list $SYS, an explicit filter does.
    expect(((await gw.request('GET', '/retained')).body as { value: unknown[] }).value).toEqual([])
    const sys = ((await gw.request('GET', `/retained?filter=${encodeURIComponent('$SYS/broker/clients/+')}`)).body as { value: Array<{ topic: string, clientId: string | null }> }).value
    expect(sys.map((m) => [m.topic, m.clientId])).toEqual([['$SYS/broker/clients/connected', null], ['$SYS/broker/clients/maximum', null]])
  })

  it('gives no client $SYS by default: SUBACK 0x80 for $SYS/#', async () => {
    const gw = await gateway({ sysIntervalSeconds: 10 })
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-1', await registerDevice(gw, 'dev-1'))
    teardown(() => device.endAsync(true))
    expect(await subackCode(device, '$SYS/#')).toBe(128)
    expect(await subackCode(device, '$SYS/broker/uptime')).toBe(128)
  })

  it('publishes nothing with mqtt.sysIntervalSeconds 0 (the default), even to a client with a grant', async () => {
    const clock = new ManualClock()
    const gw = await gateway({ permissions: { ...DEVICE_PERMISSIONS, subscribe: ['$SYS/#'] } }, clock)
    expect(gw.gateway.config.mqtt.sysIntervalSeconds).toBe(0)
    const monitor = await connectDevice(gw.gateway.listeners.mqtt, 'monitor', await registerDevice(gw, 'monitor'))
    teardown(() => monitor.endAsync(true))
    const seen = collect(monitor)
    expect(await subackCode(monitor, '$SYS/#')).toBe(1)
    clock.advance(3_600_000)
    expect(((await gw.request('GET', `/retained?filter=${encodeURIComponent('$SYS/#')}`)).body as { value: unknown[] }).value).toEqual([])
    // A publish of its own after the SUBACK: had anything been sent, it would have come first.
    await monitor.publishAsync('devices/monitor/telemetry', '1', { qos: 1 })
    expect(seen.topics).toEqual([])
  })
})
