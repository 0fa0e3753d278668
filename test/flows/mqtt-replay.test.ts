import { connect as tcpConnect } from 'node:net'
import type { MqttClient } from 'mqtt'
import { generate, parser, type Packet, type IPublishPacket } from 'mqtt-packet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Replay } from '../helpers/api.js'
import { cloudEvent } from '../helpers/http.js'
import { startTestGateway, TEST_ENGINE, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, registerDevice, subackCode } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { pause, until, within } from '../helpers/wait.js'

// `$replay/{topic}/{position}[/{subject filter}]` with real mqtt.js clients against a whole
// gateway: a reader client in a group granted replays of `telemetry` gets the topic's events as
// MQTT messages from a position, then live ones; the permissions, the in-flight window and
// UNSUBSCRIBE hold. Runs on LevelDB (flows), memory (flows-memory) and Redis (below).

const teardown = useTeardown()
const redis = useRedisServer()

const READERS = {
  clientGroups: { readers: "attributes.role = 'reader'" },
  permissionBindings: [{ clientGroup: 'readers', permission: 'subscribe', topicTemplates: ['$replay/telemetry/#'] }]
}

interface Got {
  topic: string
  offset: number
  qos: number
  event: { id: string, subject?: string, data: unknown }
}

interface Setup {
  gw: TestGateway
  /** A client in the readers group (registered on first use); `got` fills as messages come. */
  reader: (id: string) => Promise<{ client: MqttClient, got: Got[], password: string }>
  /** Registers a device once (later calls give the same password). */
  password: (id: string, attributes?: Record<string, string>) => Promise<string>
  /** Publishes each payload as the device's telemetry (QoS 1: appended once it resolves). */
  publish: (payloads: unknown[], deviceId?: string) => Promise<void>
  /** The topic's events as HTTP replays them, from an offset. */
  events: (from?: number) => Promise<Replay['value']>
  /** The offset the topic's next event gets. */
  next: () => Promise<number>
}

/** Clients of a gateway; the devices' connections end with `end`, readers' with the test. */
function clientsOf (gw: TestGateway): Setup & { end: () => Promise<void> } {
  const passwords = new Map<string, Promise<string>>()
  const devices = new Map<string, Promise<MqttClient>>()
  const password = async (id: string, attributes?: Record<string, string>): Promise<string> => {
    let p = passwords.get(id)
    if (p === undefined) passwords.set(id, p = registerDevice(gw, id, attributes))
    return await p
  }
  const deviceOf = async (id: string): Promise<MqttClient> => {
    let d = devices.get(id)
    if (d === undefined) devices.set(id, d = password(id).then(async (pw) => await connectDevice(gw.gateway.listeners.mqtt, id, pw)))
    return await d
  }
  return {
    gw,
    password,
    reader: async (id) => {
      const pw = await password(id, { role: 'reader' })
      const client = await connectDevice(gw.gateway.listeners.mqtt, id, pw)
      teardown(() => client.endAsync(true))
      const got: Got[] = []
      client.on('message', (topic, payload, packet) => {
        got.push({ topic, offset: Number(topic.split('/').pop()), qos: packet.qos, event: JSON.parse(payload.toString()) })
      })
      return { client, got, password: pw }
    },
    publish: async (payloads, deviceId = 'dev-a') => {
      const d = await deviceOf(deviceId)
      for (const p of payloads) await d.publishAsync(`devices/${deviceId}/telemetry`, JSON.stringify(p), { qos: 1 })
    },
    events: async (from = 0) => (await gw.request<Replay>('GET', `/topics/telemetry/events?fromOffset=${from}&limit=1000`)).body.value,
    next: async () => (await gw.request<{ nextOffset: number }>('GET', '/topics/telemetry')).body.nextOffset,
    end: async () => { for (const d of devices.values()) await (await d.catch(() => undefined))?.endAsync(true) }
  }
}

/** A gateway of its own for one test, stopped after it. */
async function setup (mqtt: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Promise<Setup> {
  const gw = await startTestGateway({ ...top, mqtt: { ...READERS, ...mqtt } })
  teardown(gw.stop)
  const clients = clientsOf(gw)
  teardown(clients.end)
  return clients
}

const numbered = (n: number, from = 0): Array<{ n: number }> => Array.from({ length: n }, (_, i) => ({ n: from + i }))

/** A client that never acknowledges unless told: MQTT over a raw socket (mqtt.js always acknowledges QoS 1 on 3.1.1). */
async function rawClient (url: string, id: string, password: string): Promise<{ publishes: IPublishPacket[], send: (p: Packet) => void, answer: (cmd: string) => Promise<Packet> }> {
  const { hostname, port } = new URL(url)
  const socket = tcpConnect(Number(port), hostname)
  teardown(() => socket.destroy())
  const publishes: IPublishPacket[] = []
  const waiting = new Map<string, (p: Packet) => void>()
  const p = parser({ protocolVersion: 4 })
  p.on('packet', (packet: Packet) => {
    if (packet.cmd === 'publish') publishes.push(packet)
    waiting.get(packet.cmd)?.(packet)
  })
  socket.on('data', (chunk) => p.parse(chunk))
  const answer = async (cmd: string): Promise<Packet> => await within(new Promise<Packet>((resolve) => { waiting.set(cmd, resolve) }), { timeoutMs: 20_000, what: `${cmd} to ${id}` })
  const send = (packet: Packet): void => { socket.write(generate(packet)) }
  const connack = answer('connack')
  send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: id, username: id, password: Buffer.from(password), keepalive: 0 })
  await connack
  return { publishes, send, answer }
}

// One gateway for most cases (a start costs more than a case): each case reads from the topic's
// end as it found it, with clients of its own.
/* eslint-disable no-template-curly-in-string */
const SHARED = {
  // Readers, and partial readers: every replay of telemetry but dev-b's events.
  // Monitors may subscribe to every ordinary topic, admins to every replay.
  clientGroups: { ...READERS.clientGroups, partial: "attributes.role = 'partial'", monitors: "attributes.role = 'monitor'", admins: "attributes.role = 'admin'" },
  permissionBindings: [
    ...READERS.permissionBindings,
    { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['#', '+/+/+'] },
    { clientGroup: 'admins', permission: 'subscribe', topicTemplates: ['$replay/#'] },
    { clientGroup: 'partial', permission: 'subscribe', topicTemplates: ['$replay/telemetry/#'] },
    { clientGroup: 'partial', permission: 'subscribe', topicTemplates: ['$replay/telemetry/+/devices/dev-b/#'], effect: 'deny' }
  ],
  // Every device may replay its own subjects.
  permissions: {
    publish: ['devices/${client.id}/telemetry'],
    subscribe: ['devices/${client.id}/commands/#', '$replay/telemetry/+/devices/${client.id}/#']
  },
  replay: { inflightWindow: 3, maxPerConnection: 2 }
}
/* eslint-enable no-template-curly-in-string */

describe('replay over MQTT', () => {
  let shared: ReturnType<typeof clientsOf> | undefined
  beforeAll(async () => { shared = clientsOf(await startTestGateway({ mqtt: SHARED })) })
  afterAll(async () => { await shared?.end(); await shared?.gw.stop() })
  const gateway = (): Setup => shared as Setup

  it('sends a topic\'s events from an offset in order, on $replay/{topic}/{offset}, then live ones', async () => {
    const { gw, reader, publish, events, next } = gateway()
    const base = await next()
    await publish(numbered(20))
    const { client, got } = await reader('reader-1')
    expect(await subackCode(client, `$replay/telemetry/${base}`)).toBe(1)
    await until(() => got.length >= 20, { timeoutMs: 20_000, what: '20 replayed events' })
    await publish([{ n: 'live' }])
    await until(() => got.length >= 21, { timeoutMs: 20_000, what: 'the live event' })

    const stored = await events(base)
    expect(stored).toHaveLength(21)
    expect(got.map((g) => g.offset)).toEqual(stored.map((s) => s.offset))
    expect(got.map((g) => g.event.id)).toEqual(stored.map((s) => s.event.id))
    expect(got.map((g) => g.topic)).toEqual(stored.map((s) => `$replay/telemetry/${s.offset}`))
    expect(got.map((g) => g.event.data)).toEqual([...numbered(20), { n: 'live' }])
    expect(got.every((g) => g.qos === 1 && g.event.subject === 'devices/dev-a/telemetry')).toBe(true)

    const metrics = (await gw.request('GET', '/metrics')).text
    const sent = Number(/gridgate_replay_messages_total\{topic="telemetry"[^}]*\} (\d+)/.exec(metrics)?.[1])
    expect(sent).toBeGreaterThanOrEqual(21)
  })

  it('starts at the first event appended at or after an RFC 3339 time, at latest, or at earliest', async () => {
    const { reader, publish, events, next } = gateway()
    const base = await next()
    await publish(numbered(10))
    const stored = await events(base)
    const at = stored[6]?.time as string
    const fromTime = stored.filter((s) => Date.parse(s.time) >= Date.parse(at)).map((s) => s.offset)
    expect(fromTime.length).toBeGreaterThanOrEqual(4)
    const all = (await events()).map((s) => s.offset)
    expect(all[0]).toBe(0)

    const byTime = await reader('reader-t')
    expect(await subackCode(byTime.client, `$replay/telemetry/${at}`)).toBe(1)
    const latest = await reader('reader-l')
    expect(await subackCode(latest.client, '$replay/telemetry/latest')).toBe(1)
    const earliest = await reader('reader-e')
    expect(await subackCode(earliest.client, '$replay/telemetry/earliest')).toBe(1)
    await until(() => byTime.got.length >= fromTime.length && earliest.got.length >= all.length, { timeoutMs: 20_000, what: 'the replays from a time and from the start' })

    await publish([{ n: 'live' }])
    const live = base + 10
    await until(() => latest.got.length >= 1 && byTime.got.length > fromTime.length && earliest.got.length > all.length, { timeoutMs: 20_000, what: 'the live event on every replay' })
    expect(byTime.got.map((g) => g.offset)).toEqual([...fromTime, live])
    expect(latest.got.map((g) => g.offset)).toEqual([live])
    expect(earliest.got.map((g) => g.offset)).toEqual([...all, live])
  })

  // eslint-disable-next-line no-template-curly-in-string
  it('lets a device replay its own subjects with a ${client.id} grant, and a subject filter keeps only matching events', async () => {
    const { gw, reader, publish, password, next } = gateway()
    const base = await next()
    await publish([{ from: 'a', n: 0 }])
    await publish([{ from: 'b', n: 0 }, { from: 'b', n: 1 }], 'dev-b')
    await publish([{ from: 'a', n: 1 }])

    // A reader asks for dev-b's events only.
    const { client, got } = await reader('reader-s')
    expect(await subackCode(client, `$replay/telemetry/${base}/devices/dev-b/#`)).toBe(1)
    await until(() => got.length >= 2, { timeoutMs: 20_000, what: 'dev-b\'s events' })

    // A device may replay its own subjects, and no one else's.
    const c = await connectDevice(gw.gateway.listeners.mqtt, 'dev-c', await password('dev-c'))
    teardown(() => c.endAsync(true))
    const own: Array<{ topic: string, data: unknown }> = []
    c.on('message', (topic, payload) => own.push({ topic, data: JSON.parse(payload.toString()).data }))
    expect(await subackCode(c, `$replay/telemetry/${base}/devices/dev-a/#`)).toBe(128)
    expect(await subackCode(c, `$replay/telemetry/${base}`)).toBe(128)
    expect(await subackCode(c, '$replay/telemetry/0/devices/+/telemetry')).toBe(128)
    expect(await subackCode(c, `$replay/telemetry/${base}/devices/dev-c/#`)).toBe(1)
    await c.publishAsync('devices/dev-c/telemetry', JSON.stringify({ from: 'c' }), { qos: 1 })
    await publish([{ from: 'b', n: 2 }], 'dev-b')
    await until(() => own.length >= 1 && got.length >= 3, { timeoutMs: 20_000, what: 'the live events' })
    expect(own).toEqual([{ topic: `$replay/telemetry/${base + 4}`, data: { from: 'c' } }])
    expect(got.map((g) => [g.offset - base, g.event.data])).toEqual([[1, { from: 'b', n: 0 }], [2, { from: 'b', n: 1 }], [5, { from: 'b', n: 2 }]])
  })

  it('leaves out of a replay the events a subscribe deny covers', async () => {
    const { gw, publish, password, next } = gateway()
    const base = await next()
    await publish([{ from: 'a' }])
    await publish([{ from: 'b' }], 'dev-b')
    const partial = await connectDevice(gw.gateway.listeners.mqtt, 'partial-1', await password('partial-1', { role: 'partial' }))
    teardown(() => partial.endAsync(true))
    const got: Array<{ offset: number, data: unknown }> = []
    partial.on('message', (topic, payload) => got.push({ offset: Number(topic.split('/').pop()) - base, data: JSON.parse(payload.toString()).data }))
    expect(await subackCode(partial, `$replay/telemetry/${base}/devices/dev-b/#`)).toBe(128)
    expect(await subackCode(partial, `$replay/telemetry/${base}`)).toBe(1)
    await publish([{ from: 'b' }], 'dev-b')
    await publish([{ from: 'a' }])
    await until(() => got.length >= 2, { timeoutMs: 20_000, what: 'dev-a\'s events' })
    await pause(300) // dev-b's came before the last one: had they been sent, they would be here
    expect(got).toEqual([{ offset: 0, data: { from: 'a' } }, { offset: 3, data: { from: 'a' } }])
  })

  it('keeps at most inflightWindow QoS 1 messages unacknowledged; each PUBACK lets one more go', async () => {
    const { gw, publish, password, next } = gateway() // inflightWindow 3
    const base = await next()
    await publish(numbered(10))
    const slow = await rawClient(gw.gateway.listeners.mqtt, 'slow-1', await password('slow-1', { role: 'reader' }))
    const suback = slow.answer('suback')
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$replay/telemetry/${base}`, qos: 1 }] })
    expect((await suback as { granted: number[] }).granted).toEqual([1])
    await until(() => slow.publishes.length >= 3, { timeoutMs: 20_000, what: 'the first 3 messages' })
    await pause(300) // a quiet period: nothing more may come while 3 are unacknowledged
    const offsets = (): number[] => slow.publishes.map((p) => Number(p.topic.split('/').pop()) - base)
    expect(offsets()).toEqual([0, 1, 2])

    slow.send({ cmd: 'puback', messageId: slow.publishes[1]?.messageId as number })
    await until(() => slow.publishes.length >= 4, { timeoutMs: 20_000, what: 'one more after a PUBACK' })
    await pause(300)
    expect(slow.publishes).toHaveLength(4)

    // Acknowledging everything as it comes drains the rest, in order, and then the live one.
    const acked = new Set<number>()
    const ackAll = (): void => {
      for (const p of slow.publishes) {
        if (p.messageId !== undefined && !acked.has(p.messageId)) { acked.add(p.messageId); slow.send({ cmd: 'puback', messageId: p.messageId }) }
      }
    }
    await publish([{ n: 'live' }])
    await until(() => { ackAll(); return slow.publishes.length >= 11 }, { timeoutMs: 20_000, what: 'the rest of the replay' })
    expect(offsets()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    expect(slow.publishes.every((p) => p.qos === 1 && !p.retain && !p.dup)).toBe(true)
  })

  it('delivers at the subscription\'s QoS, at most 1', async () => {
    const { reader, publish, next } = gateway()
    const base = await next()
    await publish(numbered(3))
    const q0 = await reader('reader-q0')
    await q0.client.subscribeAsync(`$replay/telemetry/${base}`, { qos: 0 })
    const q2 = await reader('reader-q2')
    await q2.client.subscribeAsync(`$replay/telemetry/${base}`, { qos: 2 })
    await until(() => q0.got.length >= 3 && q2.got.length >= 3, { timeoutMs: 20_000, what: 'both replays' })
    expect(q0.got.map((g) => g.qos)).toEqual([0, 0, 0])
    expect(q2.got.map((g) => g.qos)).toEqual([1, 1, 1])
  })

  it('stops a replay at UNSUBSCRIBE, while another replay of the same client goes on', async () => {
    const { reader, publish, next } = gateway()
    const { client, got } = await reader('reader-u')
    expect(await subackCode(client, '$replay/telemetry/latest')).toBe(1)
    expect(await subackCode(client, '$replay/telemetry/latest/devices/dev-a/#')).toBe(1)
    const base = await next()
    await publish([{ n: 0 }])
    await until(() => got.length >= 2, { timeoutMs: 20_000, what: 'the event on both replays' })
    expect(got.map((g) => g.offset - base)).toEqual([0, 0])

    await client.unsubscribeAsync('$replay/telemetry/latest')
    await publish([{ n: 1 }, { n: 2 }])
    await until(() => got.length >= 4, { timeoutMs: 20_000, what: 'the events on the replay left' })
    // Both replays hear the same appends: had the first one gone on, its copies would be here by now.
    await pause(300)
    expect(got.map((g) => g.offset - base)).toEqual([0, 0, 1, 2])
  })

  it('stops a replay when its connection ends', async () => {
    const { gw, reader, publish } = gateway()
    const sent = async (): Promise<number> =>
      Number(/gridgate_replay_messages_total\{topic="telemetry"[^}]*\} (\d+)/.exec((await gw.request('GET', '/metrics')).text)?.[1] ?? 0)
    const gone = await reader('reader-g')
    const stays = await reader('reader-k')
    expect(await subackCode(gone.client, '$replay/telemetry/latest')).toBe(1)
    expect(await subackCode(stays.client, '$replay/telemetry/latest')).toBe(1)
    await publish([{ n: 0 }])
    await until(() => gone.got.length >= 1 && stays.got.length >= 1, { timeoutMs: 20_000, what: 'the event on both connections' })

    await gone.client.endAsync(true)
    await until(async () => (await gw.request<{ connected: boolean }>('GET', '/devices/reader-g')).body.connected === false, { timeoutMs: 20_000, what: 'the gateway to see the connection end' })
    const before = await sent()
    await publish([{ n: 1 }])
    await until(() => stays.got.length >= 2, { timeoutMs: 20_000, what: 'the next event on the connection left' })
    await pause(300)
    expect(await sent() - before).toBe(1)
  })

  it('a second SUBSCRIBE of the same replay starts it over from its position', async () => {
    const { reader, publish, next } = gateway()
    const base = await next()
    await publish(numbered(3))
    const { client, got } = await reader('reader-r')
    const filter = `$replay/telemetry/${base + 1}`
    await client.subscribeAsync(filter, { qos: 1 })
    await until(() => got.length >= 2, { timeoutMs: 20_000, what: 'the first replay' })
    await client.subscribeAsync(filter, { qos: 1 })
    await until(() => got.length >= 4, { timeoutMs: 20_000, what: 'the replay again' })
    expect(got.map((g) => g.offset - base)).toEqual([1, 2, 1, 2])
  })

  it('starts a persistent session\'s replay over from its position when the session comes back', async () => {
    const { gw, publish, password, next } = gateway()
    const base = await next()
    await publish(numbered(3))
    const pw = await password('reader-p', { role: 'reader' })
    const got: number[] = []
    const first = await connectDevice(gw.gateway.listeners.mqtt, 'reader-p', pw, { clean: false })
    first.on('message', (topic) => got.push(Number(topic.split('/').pop()) - base))
    expect(await subackCode(first, `$replay/telemetry/${base + 1}`)).toBe(1)
    await until(() => got.length >= 2, { timeoutMs: 20_000, what: 'the first replay' })
    await first.endAsync()

    const again = await connectDevice(gw.gateway.listeners.mqtt, 'reader-p', pw, { clean: false })
    teardown(() => again.endAsync(true))
    again.on('message', (topic) => got.push(Number(topic.split('/').pop()) - base))
    await until(() => got.length >= 4, { timeoutMs: 20_000, what: 'the replay brought back with the session' })
    expect(got).toEqual([1, 2, 1, 2])
  })

  it('refuses a replay past mqtt.replay.maxPerConnection', async () => {
    const { reader } = gateway() // maxPerConnection 2
    const { client } = await reader('reader-m')
    expect(await subackCode(client, '$replay/telemetry/latest')).toBe(1)
    expect(await subackCode(client, '$replay/telemetry/latest/devices/dev-a/#')).toBe(1)
    expect(await subackCode(client, '$replay/telemetry/latest/devices/dev-b/#')).toBe(128)
    await client.unsubscribeAsync('$replay/telemetry/latest')
    expect(await subackCode(client, '$replay/telemetry/latest/devices/dev-b/#')).toBe(1)
  })

  it('replays large events in order, a few at a time', async () => {
    const { gw, reader, next } = gateway()
    const base = await next()
    const big = 'x'.repeat(300_000)
    for (let i = 0; i < 12; i++) expect((await gw.publish('telemetry', cloudEvent(`big-${i}`, { i, big }))).status).toBe(200)
    const { client, got } = await reader('reader-big')
    expect(await subackCode(client, `$replay/telemetry/${base}`)).toBe(1)
    await until(() => got.length >= 12, { timeoutMs: 20_000, what: '12 large events' })
    expect(got.map((g) => g.event.id)).toEqual(Array.from({ length: 12 }, (_, i) => `big-${i}`))
    expect(got.every((g) => (g.event.data as { big: string }).big.length === 300_000)).toBe(true)
  })

  it('refuses with SUBACK 0x80 a client without a replay grant, a topic that does not exist and a malformed position; the connection stays', async () => {
    const { gw, reader, password } = gateway()
    const rejections = async (): Promise<number> =>
      Number(/gridgate_rejections_total\{code="MQTT_NOT_AUTHORIZED",source="mqtt"[^}]*\} (\d+)/.exec((await gw.request('GET', '/metrics')).text)?.[1] ?? 0)
    const before = await rejections()
    // A device (its grants: its own subjects' replays), and a client whose grants cover every ordinary topic.
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'dev-d', await password('dev-d'))
    teardown(() => device.endAsync(true))
    const monitor = await connectDevice(gw.gateway.listeners.mqtt, 'mon-1', await password('mon-1', { role: 'monitor' }))
    teardown(() => monitor.endAsync(true))
    const { client } = await reader('reader-x')
    expect(await subackCode(device, '$replay/telemetry/0')).toBe(128)
    expect(await subackCode(device, '$replay/telemetry/latest/devices/dev-a/#')).toBe(128)
    expect(await subackCode(monitor, '$replay/telemetry/0')).toBe(128)
    expect(await subackCode(client, '$replay/system/0')).toBe(128) // granted telemetry only
    expect(await subackCode(client, '$replay/telemetry/+')).toBe(128)
    expect(await subackCode(client, '$replay/telemetry/2026-12-05T07:00:00')).toBe(128) // no zone
    expect(await subackCode(client, '$replay/telemetry/yesterday')).toBe(128)
    expect(device.connected && monitor.connected && client.connected).toBe(true)

    // Granted, but no such topic.
    const admin = await connectDevice(gw.gateway.listeners.mqtt, 'admin-1', await password('admin-1', { role: 'admin' }))
    teardown(() => admin.endAsync(true))
    expect(await subackCode(admin, '$replay/nosuchtopic/0')).toBe(128)
    expect(await subackCode(admin, '$replay/system/0')).toBe(1)
    expect(await rejections() - before).toBe(8)
  })
})

describe.skipIf(TEST_ENGINE === 'memory')('replay over MQTT on the redis engine', () => {
  it('sends the topic\'s events from offset 0, then live ones appended through another node', async () => {
    const { url } = await redis.server()
    const keyPrefix = redis.freshPrefix()
    const storage = { storage: { engine: 'redis' }, redis: { url, keyPrefix } }
    const { reader, publish, events } = await setup({}, storage)
    await publish(numbered(5))
    const { client, got } = await reader('reader-1')
    expect(await subackCode(client, '$replay/telemetry/0')).toBe(1)
    await until(() => got.length >= 5, { timeoutMs: 20_000, what: '5 replayed events' })

    // A second node on the same Redis takes a device's message: the replay on the first hears it.
    const other = await startTestGateway({ ...storage, mqtt: READERS })
    teardown(other.stop)
    const d = await connectDevice(other.gateway.listeners.mqtt, 'dev-z', await registerDevice(other, 'dev-z'))
    teardown(() => d.endAsync(true))
    await d.publishAsync('devices/dev-z/telemetry', JSON.stringify({ n: 'other node' }), { qos: 1 })
    await publish([{ n: 'live' }])
    await until(() => got.length >= 7, { timeoutMs: 20_000, what: 'the live events' })
    const stored = await events()
    expect(got.map((g) => g.offset)).toEqual(stored.map((s) => s.offset))
    expect(got.map((g) => g.event.id)).toEqual(stored.map((s) => s.event.id))
  })
})
