import { connect as tcpConnect, type Socket } from 'node:net'
import type { IClientOptions, MqttClient } from 'mqtt'
import { generate, parser, type Packet } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, nextMessage, registerDevice, subackCode } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { until, within } from '../helpers/wait.js'

// `$share/{group}/{filter}` with real mqtt.js clients: back-end services in a client group
// share the devices' telemetry, each message going to one of them.

const teardown = useTeardown()

const BACKENDS = {
  clientGroups: { backends: "attributes.role = 'backend'" },
  permissionBindings: [{ clientGroup: 'backends', permission: 'subscribe', topicTemplates: ['devices/+/telemetry'] }]
}

interface Received {
  topic: string
  payload: string
  qos: number
  retain: boolean
}

interface Setup {
  gw: TestGateway
  device: MqttClient
  /** Registers a back end (role backend) and connects it; `received` fills as messages come. */
  backend: (id: string, opts?: IClientOptions) => Promise<{ client: MqttClient, received: Received[], password: string }>
}

async function setup (mqtt: Record<string, unknown> = {}): Promise<Setup> {
  const gw = await startTestGateway({ mqtt: { ...BACKENDS, ...mqtt } })
  teardown(gw.stop)
  const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-a', await registerDevice(gw, 'dev-a'))
  teardown(() => device.endAsync(true))
  const backend = async (id: string, opts: IClientOptions = {}): Promise<{ client: MqttClient, received: Received[], password: string }> => {
    const password = await registerDevice(gw, id, { role: 'backend' })
    const client = await connectDevice(gw.gateway.listeners.mqtt, id, password, opts)
    teardown(() => client.endAsync(true))
    const received: Received[] = []
    client.on('message', (topic, payload, packet) => received.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }))
    return { client, received, password }
  }
  return { gw, device, backend }
}

const SHARE = '$share/ingest/devices/+/telemetry'

/**
 * A member that never acknowledges: MQTT over a raw socket (mqtt.js always sends PUBACK for
 * MQTT 3.1.1; its customHandleAcks is for MQTT 5 only). It connects, subscribes, and records
 * the PUBLISH packets it gets.
 */
async function silentMember (url: string, id: string, password: string, filter: string): Promise<{ socket: Socket, publishes: Packet[] }> {
  const { hostname, port } = new URL(url)
  const socket = tcpConnect(Number(port), hostname)
  teardown(() => socket.destroy())
  const publishes: Packet[] = []
  const waiting = new Map<string, () => void>()
  const p = parser({ protocolVersion: 4 })
  p.on('packet', (packet: Packet) => {
    if (packet.cmd === 'publish') publishes.push(packet)
    waiting.get(packet.cmd)?.()
  })
  socket.on('data', (chunk) => p.parse(chunk))
  const answer = (cmd: string): Promise<void> => within(new Promise<void>((resolve) => { waiting.set(cmd, resolve) }), { timeoutMs: 10_000, what: `${cmd} to ${id}` })
  const connack = answer('connack')
  socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, username: id, password: Buffer.from(password), keepalive: 0 }))
  await connack
  const suback = answer('suback')
  socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 1 }] }))
  await suback
  return { socket, publishes }
}

async function publishAll (device: MqttClient, payloads: string[]): Promise<void> {
  await Promise.all(payloads.map((p) => device.publishAsync('devices/dev-a/telemetry', p, { qos: 1 })))
}

const numbered = (n: number, prefix = 'm'): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`)

describe('shared subscriptions', () => {
  it('delivers each of 300 messages to exactly one of 3 members, spread over all', async () => {
    const { device, backend } = await setup()
    const members = [await backend('be-1'), await backend('be-2'), await backend('be-3')]
    for (const m of members) expect(await subackCode(m.client, SHARE)).toBe(1)

    const sent = numbered(300)
    await publishAll(device, sent)
    const all = (): Received[] => members.flatMap((m) => m.received)
    await until(() => all().length >= 300, { timeoutMs: 20_000, what: '300 messages over the members' })
    // One more, after the 300: had any been delivered twice, it would be counted by now.
    await device.publishAsync('devices/dev-a/telemetry', 'last', { qos: 1 })
    await until(() => all().some((r) => r.payload === 'last'), { timeoutMs: 10_000, what: 'the last message' })

    expect(all()).toHaveLength(301)
    expect(new Set(all().map((r) => r.payload))).toEqual(new Set([...sent, 'last']))
    for (const m of members) expect(m.received.length).toBeGreaterThanOrEqual(60)
    expect(all().every((r) => r.qos === 1 && !r.retain && r.topic === 'devices/dev-a/telemetry')).toBe(true)
  })

  it('lets members mix QoS: each gets a message at the lower of its own QoS and the message\'s, at most 1', async () => {
    const { device, backend } = await setup()
    const members = [await backend('be-0'), await backend('be-1'), await backend('be-2')]
    for (const [qos, m] of members.entries()) await m.client.subscribeAsync(SHARE, { qos: qos as 0 | 1 | 2 })
    // QoS 0, 1 and 2 messages in turn (devices may publish QoS 2).
    for (let i = 0; i < 30; i++) await device.publishAsync('devices/dev-a/telemetry', `${i % 3}`, { qos: (i % 3) as 0 | 1 | 2 })
    const all = (): Received[] => members.flatMap((m) => m.received)
    await until(() => all().length >= 30, { timeoutMs: 10_000, what: '30 messages over the members' })
    for (const [memberQos, m] of members.entries()) {
      expect(m.received.length).toBeGreaterThanOrEqual(5)
      for (const r of m.received) expect(r.qos).toBe(Math.min(memberQos, Number(r.payload), 1))
    }
  })

  it('skips a member whose in-flight window is full and gives its unacknowledged messages to another when it drops', async () => {
    const { gw, device, backend } = await setup({ sharedSubscriptions: { inflightWindow: 3 } })
    const stuck = await silentMember(gw.gateway.listeners.mqtt, 'be-2', await registerDevice(gw, 'be-2', { role: 'backend' }), SHARE)
    const steady = await backend('be-1')
    expect(await subackCode(steady.client, SHARE)).toBe(1)

    const sent = numbered(20)
    await publishAll(device, sent)
    // The silent member holds 3 (its window); everything else goes to the steady one.
    await until(() => steady.received.length >= 17 && stuck.publishes.length >= 3, { timeoutMs: 10_000, what: '17 messages to the steady member and 3 to the silent one' })
    expect(stuck.publishes.map((p) => p.cmd === 'publish' && p.qos)).toEqual([1, 1, 1])

    stuck.socket.destroy() // gone without DISCONNECT and without its PUBACKs
    await until(() => steady.received.length >= 20, { timeoutMs: 10_000, what: 'the 3 unacknowledged messages to reach the steady member' })
    await device.publishAsync('devices/dev-a/telemetry', 'last', { qos: 1 })
    await until(() => steady.received.some((r) => r.payload === 'last'), { timeoutMs: 10_000, what: 'the last message' })
    expect(steady.received.map((r) => r.payload).sort()).toEqual([...sent, 'last'].sort())
  })

  it('checks permissions on the filter inside $share and refuses malformed shares', async () => {
    const { device, backend } = await setup()
    const { client } = await backend('be-1')
    expect(await subackCode(device, SHARE)).toBe(128) // a device may not read others' telemetry, shared or not
    expect(await subackCode(client, '$share/ingest/devices/+/events/#')).toBe(128)
    expect(await subackCode(client, '$share/ingest/#')).toBe(128)
    expect(await subackCode(client, '$share/ingest')).toBe(128)
    expect(await subackCode(client, '$share/ingest/devices/dev-a/telemetry')).toBe(1)
    expect(client.connected).toBe(true)
  })

  it('sends no retained message on a shared subscription', async () => {
    const { device, backend } = await setup()
    await device.publishAsync('devices/dev-a/telemetry', 'kept', { qos: 1, retain: true })
    const plain = await backend('be-plain')
    const retained = nextMessage(plain.client)
    await plain.client.subscribeAsync('devices/+/telemetry', { qos: 1 })
    expect(await retained).toMatchObject({ payload: Buffer.from('kept'), retain: true })

    const shared = await backend('be-1')
    await shared.client.subscribeAsync(SHARE, { qos: 1 })
    const first = nextMessage(shared.client)
    await device.publishAsync('devices/dev-a/telemetry', 'new', { qos: 1 })
    expect(await first).toMatchObject({ payload: Buffer.from('new'), retain: false })
  })

  it('stops delivering to a member that unsubscribes', async () => {
    const { device, backend } = await setup()
    const leaving = await backend('be-1')
    const staying = await backend('be-2')
    await leaving.client.subscribeAsync(SHARE, { qos: 1 })
    await staying.client.subscribeAsync(SHARE, { qos: 1 })
    await leaving.client.unsubscribeAsync(SHARE)
    await publishAll(device, numbered(10))
    await until(() => staying.received.length >= 10, { timeoutMs: 10_000, what: '10 messages to the member that stayed' })
    expect(leaving.received).toEqual([])
  })

  it('brings a persistent session\'s shared subscription back when it reconnects', async () => {
    const { gw, device, backend } = await setup()
    const first = await backend('be-1', { clean: false })
    await first.client.subscribeAsync(SHARE, { qos: 1 })
    await first.client.endAsync()

    const again = await connectDevice(gw.gateway.listeners.mqtt, 'be-1', first.password, { clean: false })
    teardown(() => again.endAsync(true))
    expect(again.connected).toBe(true)
    const received = nextMessage(again)
    await device.publishAsync('devices/dev-a/telemetry', 'after', { qos: 1 })
    expect(await received).toMatchObject({ topic: 'devices/dev-a/telemetry', payload: Buffer.from('after') })
  })
})
