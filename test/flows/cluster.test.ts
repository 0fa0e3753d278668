import type { MqttClient } from 'mqtt'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { List } from '../helpers/api.js'
import { runCli } from '../helpers/child.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { startTestGateway, TEST_ENGINE } from '../helpers/gateway.js'
import { systemClock } from '../../src/core/clock.js'
import { openRegistry } from '../../src/registry/devices.js'
import { redisDeviceStore } from '../../src/storage/redis/redis-device-store.js'
import { connectDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// Three gateway processes on one redis-server and key prefix are one gateway: MQTT messages
// cross nodes (mqemitter-redis), persistent sessions and retained messages are in Redis
// (aedes-persistence-redis), and every node lists the live nodes. Real parts only: child
// processes, a real redis-server, mqtt.js clients with registered credentials. The cases run in
// order on one cluster; the last ones stop nodes.

interface NodeView { id: string, listeners: Record<string, string>, startedAt: string, lastHeartbeat: string, owns: Record<string, number> }
interface Received { topic: string, payload: string, qos: number, retain: boolean }

const teardown = useTeardown()
const redis = useRedisServer()
const EXPIRY_MS = 1000
let cluster: TestCluster
let prefix: string
let n1: ClusterNodeProcess, n2: ClusterNodeProcess, n3: ClusterNodeProcess

/** A connected client that records every message it receives. */
async function client (node: ClusterNodeProcess, id: string, password: string, clean = true): Promise<{ c: MqttClient, got: Received[] }> {
  const c = await connectDevice(node.listeners.mqtt as string, id, password, { clean })
  teardown(() => c.endAsync(true))
  const got: Received[] = []
  c.on('message', (topic, payload, packet) => { got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }) })
  return { c, got }
}

const arrived = async (got: Received[], count: number, what: string): Promise<void> => {
  await until(() => got.length >= count, { timeoutMs: 10_000, what })
}

const nodes = async (via: ClusterNodeProcess): Promise<NodeView[]> => {
  const res = await via.request<List<NodeView>>('GET', '/cluster/nodes')
  if (res.status !== 200) throw new Error(`${res.status} ${res.text}`)
  return res.body.value
}

const passwords: Record<string, string> = {}

describe.skipIf(TEST_ENGINE === 'memory')('a cluster of three nodes on one Redis', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    prefix = redis.freshPrefix()
    // Devices are cluster state, in Redis before the nodes start: each node's registry loads
    // them at start (a device registered on one node after the others started reaches their
    // caches only with the cluster's device work to come).
    const conn = await redis.connect(prefix)
    const registry = await openRegistry(redisDeviceStore(conn), systemClock)
    passwords['sensor-1'] = (await registry.register('sensor-1')).password as string
    for (const id of ['monitor-1', 'monitor-2', 'monitor-3', 'monitor-4']) passwords[id] = (await registry.register(id, { role: 'monitor' })).password as string
    await conn.close()
    cluster = await startCluster(3, {
      redisUrl: url,
      keyPrefix: prefix,
      config: {
        cluster: { heartbeatIntervalMs: 100, heartbeatExpiryMs: EXPIRY_MS },
        // Monitors may read every device's telemetry (the devices publish their own, by default).
        mqtt: {
          clientGroups: { monitors: "attributes.role = 'monitor'" },
          permissionBindings: [{ clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry/#'] }]
        }
      }
    })
    ;[n1, n2, n3] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
  })
  afterAll(async () => { await cluster?.stop() })

  it('lists the three nodes on every node, with their listeners', async () => {
    for (const via of [n1, n2, n3]) {
      const listed = await nodes(via)
      expect(listed.map((n) => n.id)).toEqual([n1.node, n2.node, n3.node].sort())
      for (const n of listed) expect(n).toMatchObject({ owns: {}, listeners: expect.objectContaining({ http: expect.stringMatching(/^http:/), mqtt: expect.stringMatching(/^mqtt:/) }) })
    }
    expect((await nodes(n1)).find((n) => n.id === n2.node)?.listeners).toEqual(n2.listeners)
  })

  it('delivers a publish on node 1 to subscribers on node 2 at the QoS each asked for (QoS 0 and 1)', async () => {
    const q1 = await client(n2, 'monitor-1', passwords['monitor-1'] as string)
    const q0 = await client(n2, 'monitor-2', passwords['monitor-2'] as string)
    expect((await q1.c.subscribeAsync('devices/+/telemetry/#', { qos: 1 }))[0]?.qos).toBe(1)
    expect((await q0.c.subscribeAsync('devices/+/telemetry/#', { qos: 0 }))[0]?.qos).toBe(0)
    const sensor = await client(n1, 'sensor-1', passwords['sensor-1'] as string)
    await sensor.c.publishAsync('devices/sensor-1/telemetry/a', '{"n":0}', { qos: 0 })
    await sensor.c.publishAsync('devices/sensor-1/telemetry/b', '{"n":1}', { qos: 1 })
    await arrived(q1.got, 2, 'both messages on node 2 (QoS 1 subscriber)')
    await arrived(q0.got, 2, 'both messages on node 2 (QoS 0 subscriber)')
    expect(q1.got.map((m) => [m.topic, m.payload, m.qos])).toEqual([['devices/sensor-1/telemetry/a', '{"n":0}', 0], ['devices/sensor-1/telemetry/b', '{"n":1}', 1]])
    expect(q0.got.map((m) => [m.topic, m.qos])).toEqual([['devices/sensor-1/telemetry/a', 0], ['devices/sensor-1/telemetry/b', 0]])
    // Once each: the node that received the publish does not deliver it a second time.
    await q1.c.endAsync()
    expect(q1.got).toHaveLength(2)
  })

  it('sends a message retained on node 1 to a new subscriber on node 3', async () => {
    const sensor = await client(n1, 'sensor-1', passwords['sensor-1'] as string)
    await sensor.c.publishAsync('devices/sensor-1/telemetry/state', '{"on":true}', { qos: 1, retain: true })
    // aedes stores a retained message after the PUBACK: wait until node 3 sees it in Redis.
    await until(async () => (await n3.request<List<{ topic: string }>>('GET', '/retained?filter=devices/%2B/telemetry/state')).body.value.length === 1,
      { timeoutMs: 10_000, what: 'the retained message in Redis, seen from node 3' })
    const late = await client(n3, 'monitor-3', passwords['monitor-3'] as string)
    await late.c.subscribeAsync('devices/sensor-1/telemetry/state', { qos: 1 })
    await arrived(late.got, 1, 'the retained message on node 3')
    expect(late.got[0]).toEqual({ topic: 'devices/sensor-1/telemetry/state', payload: '{"on":true}', qos: 1, retain: true })
  })

  it('moves a persistent session from node 1 to node 2 with the QoS 1 messages queued while it was offline', async () => {
    const first = await client(n1, 'monitor-4', passwords['monitor-4'] as string, false)
    await first.c.subscribeAsync('devices/sensor-1/telemetry/queued', { qos: 1 })
    await first.c.endAsync()
    const sensor = await client(n3, 'sensor-1', passwords['sensor-1'] as string)
    for (const i of [1, 2, 3]) await sensor.c.publishAsync('devices/sensor-1/telemetry/queued', `{"i":${i}}`, { qos: 1 })
    // Queued after the PUBACKs (aedes enqueues for offline sessions after acknowledging): wait until all three are in Redis.
    const conn = await redis.connect(prefix)
    teardown(() => conn.close())
    await until(async () => await conn.client.llen(`${prefix}mqtt:outgoing:monitor-4`) === 3, { timeoutMs: 10_000, what: "three messages in monitor-4's queue" })

    const c = await connectDevice(n2.listeners.mqtt as string, 'monitor-4', passwords['monitor-4'], { clean: false })
    teardown(() => c.endAsync(true))
    const got: Received[] = []
    c.on('message', (topic, payload, packet) => { got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }) })
    expect(c.connected).toBe(true)
    await arrived(got, 3, 'the queued messages on node 2')
    expect(got.map((m) => [m.payload, m.qos])).toEqual([['{"i":1}', 1], ['{"i":2}', 1], ['{"i":3}', 1]])
    // The session kept its subscription: a new message reaches it on node 2 too.
    await sensor.c.publishAsync('devices/sensor-1/telemetry/queued', '{"i":4}', { qos: 1 })
    await arrived(got, 4, 'a live message on node 2')
  })

  it('keeps every key and pub/sub channel of the cluster under its key prefix', async () => {
    const late = await client(n3, 'monitor-3', passwords['monitor-3'] as string)
    await late.c.subscribeAsync('devices/sensor-1/telemetry/exact', { qos: 0 })
    const conn = await redis.connect(prefix)
    teardown(() => conn.close())
    const keys = await conn.client.keys('*')
    expect(keys.filter((k) => !k.startsWith(prefix))).toEqual([])
    expect(keys).toEqual(expect.arrayContaining([`${prefix}node:n:${n1.node}`, `${prefix}mqtt:retained`, `${prefix}mqtt:clients`]))
    const channels = await conn.client.call('PUBSUB', 'CHANNELS', '*') as string[]
    expect(channels.filter((c) => !c.startsWith(prefix))).toEqual([])
    expect(channels).toContain(`${prefix}mqtt:devices/sensor-1/telemetry/exact`)
  })

  it('dispatches a shared subscription per node: a message goes to one member, on the node it was published on', async () => {
    const share = '$share/g/devices/sensor-1/telemetry/shared'
    const a = await client(n1, 'monitor-1', passwords['monitor-1'] as string)
    const b = await client(n2, 'monitor-2', passwords['monitor-2'] as string)
    await a.c.subscribeAsync(share, { qos: 1 })
    await b.c.subscribeAsync(share, { qos: 1 })
    const on1 = await client(n1, 'sensor-1', passwords['sensor-1'] as string)
    for (const i of [1, 2, 3]) await on1.c.publishAsync('devices/sensor-1/telemetry/shared', `{"n1":${i}}`, { qos: 1 })
    await arrived(a.got, 3, "node 1's messages at its member")
    await on1.c.endAsync()
    const on2 = await client(n2, 'sensor-1', passwords['sensor-1'] as string)
    for (const i of [1, 2]) await on2.c.publishAsync('devices/sensor-1/telemetry/shared', `{"n2":${i}}`, { qos: 1 })
    await arrived(b.got, 2, "node 2's messages at its member")
    // Membership is per node so far (an in-process SharedGroups on each): never twice, never to the other node's member.
    expect(a.got.map((m) => m.payload)).toEqual(['{"n1":1}', '{"n1":2}', '{"n1":3}'])
    expect(b.got.map((m) => m.payload)).toEqual(['{"n2":1}', '{"n2":2}'])
  })

  it("refuses to start a process with a live node's id, naming cluster.nodeId", async () => {
    const started = Date.now()
    const twin = await runCli({ args: ['start', '--config', cluster.configFile], env: { GRIDGATE_NODE_ID: n1.node, GRIDGATE_HTTP_KEYS: cluster.key } })
    // 2: the config is wrong (two nodes were given one id).
    expect({ code: twin.code, stderr: twin.stderr }).toEqual({ code: 2, stderr: expect.stringContaining(`cluster.nodeId '${n1.node}' is in use`) })
    // It waited for the record to expire, as a restarted node would, before giving up.
    expect(Date.now() - started).toBeGreaterThanOrEqual(EXPIRY_MS)
    expect((await nodes(n2)).map((n) => n.id)).toEqual([n1.node, n2.node, n3.node].sort())
  })

  it('drops a node stopped cleanly from the list at once', async () => {
    const code = await n3.kill('SIGTERM')
    expect(code).toBe(0)
    // Its key is removed on stop, not left to expire: the next answer no longer has it.
    expect((await nodes(n1)).map((n) => n.id)).toEqual([n1.node, n2.node].sort())
  })

  it('drops a killed node from the list once its heartbeat expires', async () => {
    const killedAt = Date.now()
    await n2.kill('SIGKILL')
    await until(async () => (await nodes(n1)).length === 1, { timeoutMs: 10_000, what: 'the killed node to leave the list' })
    const gone = Date.now() - killedAt
    expect((await nodes(n1)).map((n) => n.id)).toEqual([n1.node])
    // Not before its last heartbeat could have expired (it was refreshed at most 100 ms before the kill).
    expect(gone).toBeGreaterThanOrEqual(EXPIRY_MS - 150)
  })
})

describe('a gateway on an embedded engine: a cluster of one', () => {
  it('lists itself as the one node, and its listening line names no node', async () => {
    let logged = ''
    const logTo = new Writable({ write (chunk: Buffer, _enc, done) { logged += chunk.toString(); done() } })
    const gw = await startTestGateway({ log: { level: 'info' } }, { logTo })
    teardown(gw.stop)
    const listed = await nodes(gw as unknown as ClusterNodeProcess)
    expect(listed).toEqual([{ id: gw.gateway.node.id, listeners: { ...gw.gateway.listeners }, startedAt: expect.any(String), lastHeartbeat: expect.any(String), owns: expect.any(Object) }])
    const listening = logged.split('\n').find((l) => l.includes('"msg":"listening"')) as string
    expect(JSON.parse(listening)).not.toHaveProperty('node')
  })
})
