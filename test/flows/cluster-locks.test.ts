import { AzureKeyCredential, EventGridReceiverClient, EventGridSenderClient } from '@azure/eventgrid-namespaces'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Received, Settled } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useRedisServer } from '../helpers/redis.js'
import { pause, until } from '../helpers/wait.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'

// Pull locks across three gateway processes on one redis-server: a lock taken through one node
// is renewed through another (the owner stores the new expiry), an event released on different
// nodes is dead-lettered once when it reaches maxDeliveryCount, whichever nodes ask next, and a
// lock held when the node that received it is killed outlives that node on the next owner.
// Locks last at least 60 s (Event Grid's minimum receiveLockDurationInSeconds), so the expiry
// itself is in `npm run soak` (test/reliability/cases-cluster.ts) and on a manual clock
// (test/delivery/subscription-ownership.test.ts). Real parts only; the cases run in order on
// one cluster, the last one kills a node.

const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
let cluster: TestCluster
let nodes: ClusterNodeProcess[]
let n1: ClusterNodeProcess, n2: ClusterNodeProcess, n3: ClusterNodeProcess
let prefix: string
let conn: RedisConnection

const SUBS = '/topics/orders/eventsubscriptions'
const queueSub = (queue: Record<string, unknown> = {}) => ({ properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60, ...queue } } } })

interface Status { node?: string, backlog: number, inFlight: number, delivered: number, deadLettered: number }
interface Letters { value: Array<{ event: { id: string }, deadLetterReason: string, deliveryAttempts: number }> }
const alive = (): ClusterNodeProcess[] => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)
const status = async (via: ClusterNodeProcess, name: string): Promise<Status> => {
  const res = await via.request<Status>('GET', `${SUBS}/${name}/status`)
  expect(res.status).toBe(200)
  return res.body
}
const receive = async (via: ClusterNodeProcess, name: string, max = 10) => {
  const res = await via.request<Received>('POST', `${SUBS}/${name}:receive?maxEvents=${max}&maxWaitTime=10&api-version=2024-06-01`)
  expect(res.status).toBe(200)
  return res.body.value
}
const settle = async (via: ClusterNodeProcess, name: string, action: string, lockTokens: string[]) =>
  (await via.request<Settled>('POST', `${SUBS}/${name}:${action}?api-version=2024-06-01`, { body: { lockTokens } })).body
/** The locks as the owner stored them: offset → lockedUntil (epoch ms). */
const storedLocks = async (name: string): Promise<Map<number, number | undefined>> => {
  const entries = await conn.client.hvals(`${prefix}sub:q:orders!${name}:p`)
  return new Map(entries.map((json) => JSON.parse(json) as { offset: number, lockedUntil?: number }).map((e) => [e.offset, e.lockedUntil]))
}
const created = async (via: ClusterNodeProcess, name: string, body: unknown): Promise<string> => {
  expect((await via.request('PUT', `${SUBS}/${name}`, { body })).status).toBe(201)
  await until(async () => (await status(via, name)).node !== undefined, { timeoutMs: 5000, what: `an owner of ${name}` })
  return (await status(via, name)).node as string
}

describe.skipIf(TEST_ENGINE === 'memory')('pull locks across three nodes on one Redis', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    prefix = redis.freshPrefix()
    cluster = await startCluster(3, { redisUrl: url, keyPrefix: prefix, config: { cluster: { heartbeatIntervalMs: INTERVAL_MS, heartbeatExpiryMs: EXPIRY_MS } } })
    nodes = cluster.nodes
    ;[n1, n2, n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    conn = await redis.connect(prefix)
    expect((await n1.request('PUT', '/topics/orders')).status).toBe(201)
  })
  afterAll(async () => {
    await conn?.close()
    await cluster?.stop()
  })

  it('the official Event Grid clients, unmodified, pointed at different nodes: send through node 1, receive through node 2, acknowledge, renew, reject and release through node 3', async () => {
    expect((await n1.request('PUT', '/topics/shop')).status).toBe(201)
    expect((await n2.request('PUT', '/topics/shop/eventsubscriptions/workers', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60, maxDeliveryCount: 5 } } } } })).status).toBe(201)
    const credential = new AzureKeyCredential(cluster.key)
    const options = { allowInsecureConnection: true }
    const url = (n: ClusterNodeProcess): string => n.listeners.http as string
    const sender = new EventGridSenderClient(url(n1), credential, 'shop', options)
    const receiver = new EventGridReceiverClient(url(n2), credential, 'shop', 'workers', options)
    const settler = new EventGridReceiverClient(url(n3), credential, 'shop', 'workers', options)

    await sender.sendEvents([1, 2, 3, 4].map((i) => ({ type: 'order.created', source: '/shop', id: `o${i}`, data: { i } })))
    const received = await receiver.receiveEvents({ maxEvents: 10, maxWaitTime: 10 })
    expect(received.details.map((d) => d.event.id)).toEqual(['o1', 'o2', 'o3', 'o4'])
    const [t1, t2, t3, t4] = received.details.map((d) => d.brokerProperties.lockToken) as [string, string, string, string]

    expect((await settler.acknowledgeEvents([t1])).succeededLockTokens).toEqual([t1])
    expect((await settler.renewEventLocks([t4])).succeededLockTokens).toEqual([t4])
    expect((await settler.rejectEvents([t3])).succeededLockTokens).toEqual([t3])
    expect((await settler.releaseEvents([t2])).succeededLockTokens).toEqual([t2])
    // The released event comes back, through any node, with its delivery count up by one.
    const again = await new EventGridReceiverClient(url(n1), credential, 'shop', 'workers', options).receiveEvents({ maxEvents: 10, maxWaitTime: 10 })
    expect(again.details.map((d) => [d.event.id, d.brokerProperties.deliveryCount])).toEqual([['o2', 2]])
    expect((await receiver.acknowledgeEvents([again.details[0]!.brokerProperties.lockToken, t4])).succeededLockTokens).toHaveLength(2)
    // The rejected one is a dead letter, listed on every node.
    for (const n of nodes) {
      const dead = await n.request<{ value: Array<{ event: { id: string } }> }>('GET', '/topics/shop/eventsubscriptions/workers/deadletters')
      expect(dead.body.value.map((d) => d.event.id)).toEqual(['o3'])
    }
  })

  it('renewLock on node 3 of tokens received on node 1 moves their locks past the original expiry; they stay locked and settle on node 2', async () => {
    await created(n1, 'renew', queueSub())
    await n2.publish('orders', [cloudEvent('r1'), cloudEvent('r2')])
    const got = await receive(n1, 'renew')
    expect(got.map((v) => v.event.id)).toEqual(['r1', 'r2'])
    const [a, b] = got.map((v) => v.brokerProperties.lockToken) as [string, string]
    const before = await storedLocks('renew')
    const [offA, offB] = [...before.keys()].sort((x, y) => x - y) as [number, number]
    // Time passes, so a renewed lock ends later than the one taken at receive.
    await pause(1100)
    const renewed = await settle(n3, 'renew', 'renewLock', [a, 'bogus'])
    expect(renewed.succeededLockTokens).toEqual([a])
    expect(renewed.failedLockTokens.map((f) => f.lockToken)).toEqual(['bogus'])
    const after = await storedLocks('renew')
    expect(after.get(offA)).toBeGreaterThanOrEqual((before.get(offA) as number) + 1000)
    expect(after.get(offB)).toBe(before.get(offB))
    // Both still locked, as every node says; both settle through another node.
    for (const n of nodes) expect(await status(n, 'renew')).toMatchObject({ inFlight: 2, backlog: 0 })
    expect((await settle(n2, 'renew', 'acknowledge', [a, b])).succeededLockTokens).toEqual([a, b])
    expect(await status(n3, 'renew')).toMatchObject({ inFlight: 0, backlog: 0, delivered: 2 })
  })

  it('an event released on different nodes until it reaches maxDeliveryCount is dead-lettered once, as every node shows', async () => {
    await created(n2, 'capped', queueSub({ maxDeliveryCount: 3 }))
    await n1.publish('orders', cloudEvent('m1'))
    for (const [i, [on, off]] of ([[n1, n2], [n2, n3], [n3, n1]] as const).entries()) {
      const got = await receive(on, 'capped')
      expect(got.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['m1', i + 1]])
      expect((await settle(off, 'capped', 'release', [got[0]!.brokerProperties.lockToken])).succeededLockTokens).toHaveLength(1)
    }
    // Out of deliveries: the next receives, on all three nodes at once, dead-letter it (once) and get the new events.
    await n3.publish('orders', [cloudEvent('s1'), cloudEvent('s2'), cloudEvent('s3')])
    const answers = await Promise.all(nodes.map(async (n) => await receive(n, 'capped', 1)))
    expect(answers.flat().map((v) => v.event.id).sort()).toEqual(['s1', 's2', 's3'])
    for (const n of nodes) {
      const letters = await n.request<Letters>('GET', `${SUBS}/capped/deadletters`)
      expect(letters.body.value.map((d) => [d.event.id, d.deliveryAttempts, d.deadLetterReason])).toEqual([['m1', 3, 'Maximum delivery attempts was exceeded.']])
      expect(await status(n, 'capped')).toMatchObject({ deadLettered: 1, inFlight: 3 })
    }
  })

  it('a lock held when the node that received it is killed outlives that node: the next owner keeps the event locked and the token renews there', async () => {
    const ownerId = await created(n3, 'orphan', queueSub())
    const owner = nodes.find((n) => n.node === ownerId) as ClusterNodeProcess
    await n1.publish('orders', [cloudEvent('o1'), cloudEvent('o2')])
    const got = await receive(owner, 'orphan', 1)
    expect(got.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['o1', 1]])
    await owner.kill('SIGKILL')
    const [left] = alive() as [ClusterNodeProcess]
    await until(async () => { const s = await status(left, 'orphan'); return s.node !== undefined && s.node !== ownerId }, { timeoutMs: 10_000, what: 'another owner' })
    // o1 stays locked until its lock expires (60 s: npm run soak has that part); o2 is next.
    expect(await status(left, 'orphan')).toMatchObject({ inFlight: 1, backlog: 1 })
    const next = await receive(left, 'orphan')
    expect(next.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['o2', 1]])
    const token = got[0]!.brokerProperties.lockToken
    for (const n of alive()) expect((await settle(n, 'orphan', 'renewLock', [token])).succeededLockTokens).toEqual([token])
    expect((await settle(left, 'orphan', 'acknowledge', [token, next[0]!.brokerProperties.lockToken])).succeededLockTokens).toHaveLength(2)
  })
})
