import { connect as mqttConnect, type MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { List, Replay } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { connackCode, connectDevice, registerDevice, whenClosed } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { pause, until, within } from '../helpers/wait.js'

// Registry, credentials and presence across three gateway processes on one redis-server:
// devices registered on one node connect to any; GET /devices/{id} on every node says whether,
// where and since when a device is connected; a takeover across nodes, a deletion on another
// node and a node killed with its connections each end a connection with exactly one
// device.disconnected on `system`. Real parts only: child processes, a real redis-server,
// mqtt.js clients. The cases run in order on one cluster; the last one kills a node.

interface DeviceView { id: string, connected: boolean, lastSeen: string | null, node?: string, connectedSince?: string }
interface SystemEvent { type: string, subject: string, data: { transport?: string, disconnectionReason?: string } }
interface NodeView { id: string, owns: Record<string, number> }

const teardown = useTeardown()
const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
let cluster: TestCluster
let n1: ClusterNodeProcess, n2: ClusterNodeProcess, n3: ClusterNodeProcess

const device = async (via: ClusterNodeProcess, id: string): Promise<DeviceView> => {
  const res = await via.request<DeviceView>('GET', `/devices/${id}`)
  if (res.status !== 200) throw new Error(`GET /devices/${id}: ${res.status} ${res.text}`)
  return res.body
}

/** The device's device.connected / device.disconnected on `system`, in order, as `type reason`. */
const presenceEvents = async (via: ClusterNodeProcess, id: string): Promise<string[]> => {
  const res = await via.request<Replay<SystemEvent['data']>>('GET', '/topics/system/events?limit=1000')
  return res.body.value
    .map((r) => r.event as unknown as SystemEvent)
    .filter((e) => e.subject === `devices/${id}`)
    .map((e) => e.type === 'device.connected' ? 'connected' : `disconnected ${e.data.disconnectionReason ?? ''}`)
}

const connect = async (node: ClusterNodeProcess, id: string, password: string): Promise<MqttClient> => {
  const c = await connectDevice(node.listeners.mqtt as string, id, password)
  teardown(() => c.endAsync(true))
  return c
}

/** Connects; rejects when the connection is closed before its CONNACK (a takeover can; connectAsync would wait for ever). */
async function connectOrClosed (node: ClusterNodeProcess, id: string, password: string): Promise<MqttClient> {
  const c = mqttConnect(node.listeners.mqtt as string, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 10_000 })
  teardown(() => c.endAsync(true))
  c.on('error', () => {})
  const outcome = new Promise<MqttClient>((resolve, reject) => {
    c.once('connect', () => resolve(c))
    c.once('close', () => reject(new Error(`${id}: closed before CONNACK`)))
  })
  return await within(outcome, { timeoutMs: 15_000, what: `a CONNACK or close for ${id}` })
}

/** A quiet period (a few sweeps of every node) in which no further event may appear. */
const quiet = async (): Promise<void> => { await pause(5 * INTERVAL_MS) }

describe.skipIf(TEST_ENGINE === 'memory')('presence across three nodes on one Redis', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(3, {
      redisUrl: url,
      keyPrefix: redis.freshPrefix(),
      config: {
        cluster: { heartbeatIntervalMs: INTERVAL_MS, heartbeatExpiryMs: EXPIRY_MS },
        mqtt: {
          clientGroups: { monitors: "attributes.role = 'monitor'" },
          permissionBindings: [{ clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry/#'] }]
        }
      }
    })
    ;[n1, n2, n3] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
  })
  afterAll(async () => { await cluster?.stop() })

  it('connects a device registered on node 1 to node 2, and every node shows it connected on node 2 since then', async () => {
    const password = await registerDevice(n1, 'roamer-1')
    const before = Date.now()
    const c = await connect(n2, 'roamer-1', password)
    for (const via of [n1, n2, n3]) {
      await until(async () => (await device(via, 'roamer-1')).connected, { timeoutMs: 5000, what: `roamer-1 connected, seen from ${via.node}` })
      const view = await device(via, 'roamer-1')
      expect(view).toMatchObject({ connected: true, node: n2.node })
      expect(Date.parse(view.connectedSince as string)).toBeGreaterThanOrEqual(before - 1000)
    }
    const nodes = (await n3.request<List<NodeView>>('GET', '/cluster/nodes')).body.value
    expect(nodes.find((n) => n.id === n2.node)?.owns).toEqual({ devices: 1, subscriptions: 0, telemetry: 0 })
    expect(nodes.find((n) => n.id === n1.node)?.owns).toEqual({ devices: 0, subscriptions: 0, telemetry: 0 })

    await c.endAsync()
    await until(async () => !(await device(n3, 'roamer-1')).connected, { timeoutMs: 5000, what: 'roamer-1 disconnected, seen from node 3' })
    expect(await device(n1, 'roamer-1')).not.toHaveProperty('node')
    expect(await presenceEvents(n1, 'roamer-1')).toEqual(['connected', 'disconnected ClientInitiatedDisconnect'])
  })

  it('takes a session over across nodes: the first connection is closed, with one device.disconnected and one device.connected', async () => {
    const password = await registerDevice(n3, 'roamer-2')
    const first = await connect(n1, 'roamer-2', password)
    await until(async () => (await presenceEvents(n2, 'roamer-2')).length === 1, { timeoutMs: 5000, what: 'the first device.connected' })
    const closed = whenClosed(first)
    await connect(n2, 'roamer-2', password)
    await closed // [MQTT-3.1.4-2]
    await until(async () => (await presenceEvents(n3, 'roamer-2')).length >= 3, { timeoutMs: 5000, what: 'the takeover events' })
    await quiet()
    expect(await presenceEvents(n3, 'roamer-2')).toEqual(['connected', 'disconnected SessionTakenOver', 'connected'])
    for (const via of [n1, n2, n3]) expect(await device(via, 'roamer-2')).toMatchObject({ connected: true, node: n2.node })
  })

  it('disconnects a device deleted on node 3 from node 1 within a second, once, and refuses it on every node', async () => {
    const password = await registerDevice(n2, 'doomed-1')
    const c = await connect(n1, 'doomed-1', password)
    await until(async () => (await device(n3, 'doomed-1')).connected, { timeoutMs: 5000, what: 'doomed-1 connected' })
    const closed = whenClosed(c, 1000)
    const at = Date.now()
    expect((await n3.request('DELETE', '/devices/doomed-1')).status).toBe(204)
    await closed
    expect(Date.now() - at).toBeLessThan(1000)
    for (const via of [n1, n2, n3]) {
      expect(await connackCode(via.listeners.mqtt as string, { clientId: 'doomed-1', username: 'doomed-1', password })).toBe(4)
      expect((await via.request('GET', '/devices/doomed-1')).status).toBe(404)
    }
    await quiet()
    expect(await presenceEvents(n2, 'doomed-1')).toEqual(['connected', 'disconnected ClientAuthenticationError'])
  })

  it('keeps one connection and exact event counts through bursts of connections of one id on all three nodes at once', async () => {
    const password = await registerDevice(n1, 'racer-1')
    const open = new Set<MqttClient>()
    let survivor: ClusterNodeProcess | undefined
    for (let round = 0; round < 8; round++) {
      const attempts = await Promise.allSettled([n1, n2, n3].map(async (node) => {
        const c = await connectOrClosed(node, 'racer-1', password)
        open.add(c)
        c.once('close', () => open.delete(c))
        if (!c.connected) open.delete(c)
        return { c, node }
      }))
      // aedes closes a client id's other connections on every node; two at once may close each other.
      await until(() => open.size <= 1, { timeoutMs: 10_000, what: 'at most one connection of racer-1 left' })
      // The connection left open may still be closed by a takeover on its way: judged at each check.
      const survivorNow = (): ClusterNodeProcess | undefined => attempts.flatMap((a) => a.status === 'fulfilled' && open.has(a.value.c) ? [a.value.node] : [])[0]
      // Every node agrees with the sockets: connected exactly when one is open, on its node;
      // as many device.connected as device.disconnected, plus one while connected.
      let seen = ''
      await until(async () => {
        survivor = survivorNow()
        const view = await device(n3, 'racer-1')
        const events = await presenceEvents(n2, 'racer-1')
        const connects = events.filter((e) => e === 'connected').length
        seen = `survivor ${survivor?.node ?? 'none'} (${open.size} open), view ${JSON.stringify(view)}, events ${events.join(', ')}`
        return view.connected === (survivor !== undefined) && view.node === survivor?.node && connects - (events.length - connects) === (survivor === undefined ? 0 : 1)
      }, { timeoutMs: 10_000, what: `presence to agree with the sockets after round ${round}` }).catch((err: Error) => { throw new Error(`${err.message}; last seen: ${seen}`) })
    }
    for (const c of open) await c.endAsync()
    await until(async () => !(await device(n1, 'racer-1')).connected, { timeoutMs: 5000, what: 'racer-1 disconnected' })
    await quiet()
    const events = await presenceEvents(n1, 'racer-1')
    expect(events.filter((e) => e === 'connected').length).toBe(events.length / 2)
  })

  it('recompiles the permissions of a connection on node 2 when its attributes change on node 1', async () => {
    const password = await registerDevice(n1, 'watcher-1', { role: 'monitor' })
    const c = await connect(n2, 'watcher-1', password)
    await c.subscribeAsync('devices/+/telemetry/#', { qos: 0 })
    const closed = whenClosed(c, 5000)
    // No longer a monitor: the subscription it holds is not allowed any more, so its connection is closed.
    expect((await n1.request('PUT', '/devices/watcher-1', { body: { attributes: {} } })).status).toBe(200)
    await closed
    expect(await connackCode(n3.listeners.mqtt as string, { clientId: 'watcher-1', username: 'watcher-1', password })).toBe(0)
  })

  it("clears a killed node's devices after its heartbeat expires, with one device.disconnected (NodeLost) each", async () => {
    const ids = ['stranded-1', 'stranded-2']
    const clients: MqttClient[] = []
    for (const id of ids) clients.push(await connect(n2, id, await registerDevice(n1, id)))
    for (const id of ids) await until(async () => (await device(n1, id)).node === n2.node, { timeoutMs: 5000, what: `${id} on node 2` })
    // device.connected is appended after the CONNACK, off its path: a kill before it is written loses it.
    for (const id of ids) await until(async () => (await presenceEvents(n1, id)).includes('connected'), { timeoutMs: 5000, what: `${id}'s device.connected written` })
    for (const c of clients) c.on('error', () => {})

    const killedAt = Date.now()
    await n2.kill('SIGKILL')
    for (const id of ids) await until(async () => !(await device(n1, id)).connected, { timeoutMs: 10_000, everyMs: 20, what: `${id} shown disconnected` })
    const took = Date.now() - killedAt
    // Not before the heartbeat could have expired, and within expiry + a sweep interval (with slack for a loaded machine).
    expect(took).toBeGreaterThanOrEqual(EXPIRY_MS - INTERVAL_MS - 50)
    expect(took).toBeLessThan(EXPIRY_MS + INTERVAL_MS + 2000)
    await quiet()
    for (const id of ids) expect(await presenceEvents(n3, id)).toEqual(['connected', 'disconnected NodeLost'])
    const nodes = (await n1.request<List<NodeView>>('GET', '/cluster/nodes')).body.value
    expect(nodes.map((n) => n.id)).toEqual([n1.node, n3.node].sort())
  })

  it('ends the connections of a node stopped cleanly as ServerInitiatedDisconnect, once, at once', async () => {
    const c = await connect(n3, 'leaving-1', await registerDevice(n1, 'leaving-1'))
    c.on('error', () => {})
    await until(async () => (await device(n1, 'leaving-1')).node === n3.node, { timeoutMs: 5000, what: 'leaving-1 on node 3' })
    expect(await n3.kill('SIGTERM')).toBe(0)
    expect(await device(n1, 'leaving-1')).toMatchObject({ connected: false })
    await quiet()
    expect(await presenceEvents(n1, 'leaving-1')).toEqual(['connected', 'disconnected ServerInitiatedDisconnect'])
  })
})
