/* eslint-disable no-template-curly-in-string */
import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import type { ErrorBody } from '../helpers/api.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, nextMessage, registerDevice, subackCode, whenClosed } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'

// Client groups and permission bindings over real MQTT connections: a monitoring group that
// may read every device's telemetry and everything under '+/+' except 'test/nosubscribe'.

const teardown = useTeardown()

interface DeviceView {
  id: string
  attributes: Record<string, string>
  groups: string[]
}

const MONITORING = {
  mqtt: {
    clientGroups: { monitors: "attributes.role = 'monitor'" },
    permissionBindings: [
      { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry', '+/+'] },
      { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['test/nosubscribe'], effect: 'deny' },
      { clientGroup: 'monitors', permission: 'publish', topicTemplates: ['test/#'] }
    ]
  }
}

async function setup (overrides: Record<string, any> = MONITORING): Promise<{ gw: TestGateway, connect: (id: string, attributes?: Record<string, string>) => Promise<MqttClient> }> {
  const gw = await startTestGateway(overrides)
  teardown(gw.stop)
  const connect = async (id: string, attributes?: Record<string, string>): Promise<MqttClient> => {
    const password = await registerDevice(gw, id, attributes)
    const c = await connectDevice(gw.gateway.listeners.mqtt, id, password)
    teardown(() => c.endAsync(true))
    return c
  }
  return { gw, connect }
}

describe('a monitoring client group', () => {
  it('reads every device\'s telemetry; a device outside the group may not', async () => {
    const { connect } = await setup()
    const monitor = await connect('mon-1', { role: 'monitor' })
    const device = await connect('dev-a', { role: 'sensor' })
    expect(await subackCode(device, 'devices/+/telemetry')).toBe(128)
    expect(await subackCode(monitor, 'devices/+/telemetry')).toBe(1)
    const received = nextMessage(monitor)
    await device.publishAsync('devices/dev-a/telemetry', '{"t":21}', { qos: 1 })
    expect(await received).toMatchObject({ topic: 'devices/dev-a/telemetry', retain: false })
  })

  it('subscribes to +/+ and gets everything but the denied topic, and may not subscribe to that one', async () => {
    const { connect } = await setup()
    const monitor = await connect('mon-1', { role: 'monitor' })
    expect(await subackCode(monitor, 'test/nosubscribe')).toBe(128)
    expect(await subackCode(monitor, '+/+')).toBe(1)
    const topics: string[] = []
    monitor.on('message', (topic) => topics.push(topic))
    const last = new Promise<void>((resolve) => { monitor.on('message', (topic) => { if (topic === 'test/last') resolve() }) })
    for (const t of ['test/nosubscribe', 'test/ok', 'test/nosubscribe', 'test/last']) await monitor.publishAsync(t, 'x', { qos: 1 })
    await last
    expect(topics).toEqual(['test/ok', 'test/last'])
    expect(monitor.connected).toBe(true)
  })

  it('keeps a monitor\'s own device permissions from $all', async () => {
    const { gw, connect } = await setup()
    const monitor = await connect('mon-1', { role: 'monitor' })
    await monitor.publishAsync('devices/mon-1/telemetry', '{"t":1}', { qos: 1 })
    expect((await gw.request<{ events: number }>('GET', '/topics/telemetry')).body.events).toBe(1)
    const closed = whenClosed(monitor)
    monitor.publish('devices/dev-a/telemetry', '{"t":1}', { qos: 1 })
    await closed
  })

  it('lets a deny binding of $all win over the default permissions', async () => {
    const { gw, connect } = await setup({ mqtt: { permissionBindings: [{ clientGroup: '$all', permission: 'publish', topicTemplates: ['devices/${client.id}/events/#'], effect: 'deny' }] } })
    const device = await connect('dev-a')
    await device.publishAsync('devices/dev-a/telemetry', '{"t":1}', { qos: 1 })
    const closed = whenClosed(device)
    device.publish('devices/dev-a/events/door', '{"open":true}', { qos: 1 })
    await closed
    expect((await gw.request<{ events: number }>('GET', '/topics/events')).body.events).toBe(0)
  })
})

describe('attributes change the groups of a connected client', () => {
  it('grants a connected device the monitor\'s subscriptions once its role is set, without reconnecting', async () => {
    const { gw, connect } = await setup()
    const device = await connect('dev-b', { role: 'sensor' })
    expect(await subackCode(device, 'devices/+/telemetry')).toBe(128)
    expect((await gw.request('PUT', '/devices/dev-b', { body: { attributes: { role: 'monitor' } } })).status).toBe(200)
    expect(await subackCode(device, 'devices/+/telemetry')).toBe(1)
    expect(device.connected).toBe(true)
  })

  it('closes a monitor\'s connection when it loses the group its subscription needs', async () => {
    const { gw, connect } = await setup()
    const monitor = await connect('mon-1', { role: 'monitor' })
    expect(await subackCode(monitor, 'devices/+/telemetry')).toBe(1)
    const closed = whenClosed(monitor)
    await gw.request('PUT', '/devices/mon-1', { body: { attributes: { role: 'sensor' } } })
    await closed
  })

  it('keeps the connection when the change takes away nothing it uses', async () => {
    const { gw, connect } = await setup()
    const monitor = await connect('mon-1', { role: 'monitor' })
    expect(await subackCode(monitor, 'devices/mon-1/commands/#')).toBe(1)
    await gw.request('PUT', '/devices/mon-1', { body: { attributes: { role: 'sensor' } } })
    // A round trip after the change: had the connection been closed, this would fail.
    expect(await subackCode(monitor, 'devices/mon-1/commands/+')).toBe(1)
    expect(await subackCode(monitor, 'devices/+/telemetry')).toBe(128)
  })
})

describe('the device registry with client groups', () => {
  it('shows each device\'s groups and filters devices by a client group query', async () => {
    const { gw } = await setup()
    await registerDevice(gw, 'mon-1', { role: 'monitor', floor: '2' })
    await registerDevice(gw, 'dev-a', { role: 'sensor', floor: '7' })
    await registerDevice(gw, 'dev-b')

    expect((await gw.request<DeviceView>('GET', '/devices/mon-1')).body.groups).toEqual(['$all', 'monitors'])
    expect((await gw.request<DeviceView>('GET', '/devices/dev-b')).body.groups).toEqual(['$all'])
    const all = (await gw.request<{ value: DeviceView[] }>('GET', '/devices')).body.value
    expect(all.map((d) => [d.id, d.groups])).toEqual([['dev-a', ['$all']], ['dev-b', ['$all']], ['mon-1', ['$all', 'monitors']]])

    const q = async (filter: string): Promise<string[]> => {
      const res = await gw.request<{ value: DeviceView[] }>('GET', `/devices?filter=${encodeURIComponent(filter)}`)
      expect(res.status).toBe(200)
      return res.body.value.map((d) => d.id)
    }
    expect(await q("attributes.role = 'monitor'")).toEqual(['mon-1'])
    expect(await q("attributes.role IN ['monitor', 'sensor'] AND attributes.floor > 5")).toEqual(['dev-a'])
    expect(await q("attributes.role != 'monitor'")).toEqual(['dev-a', 'dev-b'])
    expect(await q("authenticationName = 'dev-b' OR attributes.floor <= 2")).toEqual(['dev-b', 'mon-1'])

    const updated = await gw.request<DeviceView>('PUT', '/devices/dev-b', { body: { attributes: { role: 'monitor' } } })
    expect(updated.body.groups).toEqual(['$all', 'monitors'])
  })

  it('answers a filter that does not parse with 400 QUERY_PARAM_INVALID saying where', async () => {
    const { gw } = await setup()
    const res = await gw.request<ErrorBody>('GET', `/devices?filter=${encodeURIComponent('attributes.role = monitor')}`)
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('QUERY_PARAM_INVALID')
    expect(res.body.error.message).toBe("query parameter 'filter' is not a client group query: at character 19: expected a quoted string or an integer but found 'monitor'")
  })
})
