import { AzureKeyCredential, EventGridReceiverClient, EventGridSenderClient } from '@azure/eventgrid-namespaces'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { useRedisServer } from '../helpers/redis.js'

// The official Azure Event Grid namespaces client, unmodified, pointed at different nodes of
// one cluster, as behind a load balancer: a sender on node 1, receivers on nodes 2 and 3.
// Whichever node owns the subscription, every call works and the lock tokens one node handed
// out settle on another.

const redis = useRedisServer()
let cluster: TestCluster
let nodes: ClusterNodeProcess[]

describe.skipIf(TEST_ENGINE === 'memory')('@azure/eventgrid-namespaces against three nodes on one Redis', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(3, { redisUrl: url, keyPrefix: redis.freshPrefix(), config: { cluster: { heartbeatIntervalMs: 100, heartbeatExpiryMs: 1000 } } })
    nodes = cluster.nodes
  })
  afterAll(async () => { await cluster?.stop() })

  it('sends through node 1, receives through node 2, and acknowledges, releases, rejects and renews through node 3', async () => {
    const [n1, n2, n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    expect((await n1.request('PUT', '/topics/orders')).status).toBe(201)
    expect((await n2.request('PUT', '/topics/orders/eventsubscriptions/workers', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60, maxDeliveryCount: 5 } } } } })).status).toBe(201)
    const credential = new AzureKeyCredential(cluster.key)
    const options = { allowInsecureConnection: true }
    const url = (n: ClusterNodeProcess): string => n.listeners.http as string
    const sender = new EventGridSenderClient(url(n1), credential, 'orders', options)
    const receiver = new EventGridReceiverClient(url(n2), credential, 'orders', 'workers', options)
    const settler = new EventGridReceiverClient(url(n3), credential, 'orders', 'workers', options)

    await sender.sendEvents([1, 2, 3, 4].map((i) => ({ type: 'order.created', source: '/shop', id: `o${i}`, data: { i } })))
    const received = await receiver.receiveEvents({ maxEvents: 10, maxWaitTime: 10 })
    expect(received.details.map((d) => d.event.id)).toEqual(['o1', 'o2', 'o3', 'o4'])
    const [t1, t2, t3, t4] = received.details.map((d) => d.brokerProperties.lockToken) as [string, string, string, string]

    expect((await settler.acknowledgeEvents([t1])).succeededLockTokens).toEqual([t1])
    expect((await settler.renewEventLocks([t4])).succeededLockTokens).toEqual([t4])
    expect((await settler.rejectEvents([t3])).succeededLockTokens).toEqual([t3])
    expect((await settler.releaseEvents([t2])).succeededLockTokens).toEqual([t2])
    // The released event comes back, through any node, with its delivery count up by one.
    const again = await new EventGridReceiverClient(url(n1), credential, 'orders', 'workers', options).receiveEvents({ maxEvents: 10, maxWaitTime: 10 })
    expect(again.details.map((d) => [d.event.id, d.brokerProperties.deliveryCount])).toEqual([['o2', 2]])
    expect((await receiver.acknowledgeEvents([again.details[0]!.brokerProperties.lockToken, t4])).succeededLockTokens).toHaveLength(2)
    // The rejected one is a dead letter, listed on every node.
    for (const n of nodes) {
      const dead = await n.request<{ value: Array<{ event: { id: string } }> }>('GET', '/topics/orders/eventsubscriptions/workers/deadletters')
      expect(dead.body.value.map((d) => d.event.id)).toEqual(['o3'])
    }
  })
})
