import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Received } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useRedisServer } from '../helpers/redis.js'
import { until } from '../helpers/wait.js'

// What a cluster's nodes say about themselves and the subscriptions they share, on two gateway
// processes on one redis-server: each node's metrics carry its own id; a subscription's status
// counters are the cluster's totals since it was created, whichever node delivered. Real parts
// only; the cases run in order on one cluster.

const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
let cluster: TestCluster
let n1: ClusterNodeProcess, n2: ClusterNodeProcess

const SUBS = '/topics/orders/eventsubscriptions'
const queueSub = { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60 } } } }
interface Status { node?: string, delivered: number, failed: number, deadLettered: number, inFlight: number }
const status = async (via: ClusterNodeProcess, name: string): Promise<Status> => {
  const res = await via.request<Status>('GET', `${SUBS}/${name}/status`)
  expect(res.status).toBe(200)
  return res.body
}
const receive = async (via: ClusterNodeProcess, name: string, max = 10) =>
  (await via.request<Received>('POST', `${SUBS}/${name}:receive?maxEvents=${max}&maxWaitTime=10`)).body.value
const settle = async (via: ClusterNodeProcess, name: string, action: string, lockTokens: string[]) =>
  (await via.request<{ succeededLockTokens: string[] }>('POST', `${SUBS}/${name}:${action}`, { body: { lockTokens } })).body

describe.skipIf(TEST_ENGINE === 'memory')('a cluster of nodes on one Redis: metrics, status and addresses', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(2, {
      redisUrl: url,
      keyPrefix: redis.freshPrefix(),
      config: { cluster: { heartbeatIntervalMs: INTERVAL_MS, heartbeatExpiryMs: EXPIRY_MS } }
    })
    ;[n1, n2] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess]
    expect((await n1.request('PUT', '/topics/orders')).status).toBe(201)
  })
  afterAll(async () => { await cluster?.stop() })

  it("every gridgate_* series of a node's /metrics carries that node's id in a node label", async () => {
    for (const [self, other] of [[n1, n2], [n2, n1]] as const) {
      const text = (await self.request('GET', '/metrics')).text
      const series = text.split('\n').filter((l) => l.startsWith('gridgate_'))
      expect(series.length).toBeGreaterThan(10)
      for (const line of series) expect(line).toContain(`node="${self.node}"`)
      expect(text).not.toContain(`node="${other.node}"`)
    }
  })

  it('status counters are the cluster\'s totals: they keep counting when the subscription moves to another node', async () => {
    expect((await n1.request('PUT', `${SUBS}/counted`, { body: queueSub })).status).toBe(201)
    await until(async () => (await status(n2, 'counted')).node !== undefined, { timeoutMs: 5000, what: 'an owner' })
    await n2.publish('orders', [cloudEvent('k1'), cloudEvent('k2'), cloudEvent('k3'), cloudEvent('k4')])
    const got = await receive(n1, 'counted')
    expect(got.map((v) => v.event.id)).toEqual(['k1', 'k2', 'k3', 'k4'])
    const [t1, t2, t3, t4] = got.map((v) => v.brokerProperties.lockToken) as [string, string, string, string]
    expect((await settle(n2, 'counted', 'acknowledge', [t1, t2])).succeededLockTokens).toHaveLength(2)
    expect((await settle(n1, 'counted', 'reject', [t3])).succeededLockTokens).toHaveLength(1)
    const before = await status(n1, 'counted')
    expect(before).toMatchObject({ delivered: 2, deadLettered: 1, inFlight: 1 })
    // The owner stops: it stores its counts and gives the lease back; the other node goes on from them.
    const owner = before.node === n1.node ? n1 : n2
    const other = owner === n1 ? n2 : n1
    await owner.kill('SIGTERM')
    await until(async () => (await status(other, 'counted')).node === other.node, { timeoutMs: 10_000, what: 'the other node owning the subscription' })
    expect(await status(other, 'counted')).toMatchObject({ node: other.node, delivered: 2, deadLettered: 1, inFlight: 1 })
    expect((await settle(other, 'counted', 'acknowledge', [t4])).succeededLockTokens).toHaveLength(1)
    expect(await status(other, 'counted')).toMatchObject({ delivered: 3, deadLettered: 1, inFlight: 0 })
  })
})
