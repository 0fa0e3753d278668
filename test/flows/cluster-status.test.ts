import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { useRedisServer } from '../helpers/redis.js'

// What a cluster's nodes say about themselves and the subscriptions they share, on two gateway
// processes on one redis-server: each node's metrics carry its own id. Real parts only; the
// cases run in order on one cluster.

const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
let cluster: TestCluster
let n1: ClusterNodeProcess, n2: ClusterNodeProcess

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
})
