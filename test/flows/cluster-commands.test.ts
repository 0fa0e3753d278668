import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Command, Replay } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { pause, until } from '../helpers/wait.js'

// Commands across three gateway processes on one redis-server: a command created on any node
// is sent by the node holding the device's connection (or when the device connects to any
// node), its answer ends it and wakes a ?wait= caller on another node, and its timeout or
// expiry fires once even when the node that created it was killed. Every transition is one
// event on `commands`. Real parts only; the cases run in order on one cluster, the last one
// kills a node.

const teardown = useTeardown()
const redis = useRedisServer()
const INTERVAL_MS = 100
let cluster: TestCluster
let n1: ClusterNodeProcess, n2: ClusterNodeProcess, n3: ClusterNodeProcess

interface Device { client: MqttClient, received: string[] }

/** A device on `node` subscribed to its commands; it answers each with `answer` unless that is undefined. */
async function device (node: ClusterNodeProcess, id: string, password: string, answer?: (name: string) => Record<string, unknown>): Promise<Device> {
  const client = await connectDevice(node.listeners.mqtt as string, id, password)
  teardown(() => client.endAsync(true))
  client.on('error', () => {})
  const received: string[] = []
  client.on('message', (topic) => {
    const [, , , name, commandId] = topic.split('/') as [string, string, string, string, string]
    received.push(commandId)
    if (answer !== undefined) client.publish(`devices/${id}/responses/${commandId}`, JSON.stringify(answer(name)), { qos: 1 })
  })
  await client.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 })
  return { client, received }
}

const post = async (via: ClusterNodeProcess, id: string, body: unknown, query = ''): Promise<{ status: number, body: Command }> =>
  await via.request<Command>('POST', `/devices/${id}/commands${query}`, { body })

const get = async (via: ClusterNodeProcess, id: string, commandId: string): Promise<Command> =>
  (await via.request<Command>('GET', `/devices/${id}/commands/${commandId}`)).body

/** The command's transitions on the `commands` topic, in order. */
const transitions = async (via: ClusterNodeProcess, commandId: string): Promise<string[]> => {
  const all = (await via.request<Replay<{ id: string }>>('GET', '/topics/commands/events?limit=1000')).body.value
  return all.filter((r) => r.event.data.id === commandId).map((r) => r.event.type.slice('device.command.'.length))
}

/** A quiet period (several sweeps of every node) in which no further transition may appear. */
const quiet = async (): Promise<void> => { await pause(5 * INTERVAL_MS) }

describe.skipIf(TEST_ENGINE === 'memory')('commands across three nodes on one Redis', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(3, {
      redisUrl: url,
      keyPrefix: redis.freshPrefix(),
      config: { cluster: { heartbeatIntervalMs: INTERVAL_MS, heartbeatExpiryMs: 1000 } }
    })
    ;[n1, n2, n3] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
  })
  afterAll(async () => { await cluster?.stop() })

  it('sends a command created on node 1 to the device on node 2, and ?wait on node 1 answers with its end', async () => {
    const password = await registerDevice(n1, 'pump-1')
    const dev = await device(n2, 'pump-1', password, (name) => ({ status: 'succeeded', result: { did: name } }))
    const res = await post(n1, 'pump-1', { name: 'reboot', payload: { delay: 5 } }, '?wait=10')
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ status: 'succeeded', result: { did: 'reboot' }, sendCount: 1 })
    expect(dev.received).toEqual([res.body.id])
    await quiet()
    expect(await transitions(n3, res.body.id)).toEqual(['pending', 'sent', 'delivered', 'succeeded'])
  })

  it('queues commands created on node 3 for an offline device and sends them in order when it connects to node 1', async () => {
    const password = await registerDevice(n2, 'pump-2')
    const first = await post(n3, 'pump-2', { name: 'a' })
    const second = await post(n2, 'pump-2', { name: 'b' })
    expect([first.body.status, second.body.status]).toEqual(['pending', 'pending'])
    const dev = await device(n1, 'pump-2', password, () => ({ status: 'failed', error: 'nope' }))
    await until(async () => (await get(n3, 'pump-2', second.body.id)).status === 'failed', { timeoutMs: 10_000, what: 'both commands answered' })
    expect(dev.received).toEqual([first.body.id, second.body.id])
    expect(await get(n2, 'pump-2', first.body.id)).toMatchObject({ status: 'failed', error: 'nope', sendCount: 1 })
    await quiet()
    for (const c of [first, second]) expect(await transitions(n1, c.body.id)).toEqual(['pending', 'sent', 'delivered', 'failed'])
  })

  it('refuses to cancel a command another node sent, and cancels a pending one from any node', async () => {
    const password = await registerDevice(n1, 'pump-3')
    const pending = await post(n1, 'pump-3', { name: 'later' })
    const canceled = await n3.request<Command>('DELETE', `/devices/pump-3/commands/${pending.body.id}`)
    expect(canceled.body.status).toBe('canceled')
    await device(n2, 'pump-3', password) // never answers
    const sent = await post(n3, 'pump-3', { name: 'now', timeoutSeconds: 60 })
    await until(async () => (await get(n1, 'pump-3', sent.body.id)).status === 'sent', { timeoutMs: 10_000, what: 'the command sent by node 2' })
    const refused = await n1.request<{ error: { code: string } }>('DELETE', `/devices/pump-3/commands/${sent.body.id}`)
    expect(refused.status).toBe(409)
    expect(await transitions(n2, pending.body.id)).toEqual(['pending', 'canceled'])
  })

  it('times out and expires commands once even when the node that created them was killed', async () => {
    const silentPassword = await registerDevice(n1, 'silent-1')
    await registerDevice(n1, 'offline-1')
    const dev = await device(n1, 'silent-1', silentPassword) // receives, never answers
    const timing = await post(n2, 'silent-1', { name: 'ping', timeoutSeconds: 1 })
    const expiring = await post(n2, 'offline-1', { name: 'ping', ttlSeconds: 1 })
    await until(() => dev.received.includes(timing.body.id), { timeoutMs: 10_000, what: 'the command on the device' })
    await n2.kill('SIGKILL')
    await until(async () => (await get(n3, 'silent-1', timing.body.id)).status === 'timedOut', { timeoutMs: 10_000, what: 'the timeout' })
    await until(async () => (await get(n1, 'offline-1', expiring.body.id)).status === 'expired', { timeoutMs: 10_000, what: 'the expiry' })
    await quiet()
    expect(await transitions(n1, timing.body.id)).toEqual(['pending', 'sent', 'timedOut'])
    expect(await transitions(n3, expiring.body.id)).toEqual(['pending', 'expired'])
  })
})
