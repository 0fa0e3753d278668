import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Received, Settled, Subscription } from '../helpers/api.js'
import { spawnGateway } from '../helpers/child.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { startWebhook } from '../helpers/webhook.js'

// Event subscriptions across three gateway processes on one redis-server: definitions made on
// any node are seen by every node, each subscription is delivered by one node (the holder of
// its lease), pull calls made to any node are forwarded to that owner, and when the owner is
// killed another node takes over within the lease time from the stored state: push delivers
// every event at least once, lock tokens stored before the kill still settle. Real parts only;
// the cases run in order on one cluster, the last two kill nodes.

const teardown = useTeardown()
const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
let cluster: TestCluster
let nodes: ClusterNodeProcess[]
let n1: ClusterNodeProcess, n2: ClusterNodeProcess, n3: ClusterNodeProcess

const SUBS = '/topics/orders/eventsubscriptions'
const queueSub = { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60 } } } }

interface Status { node: string, delivered: number, inFlight: number }
interface NodeList { value: Array<{ id: string, owns: { subscriptions: number } }> }

const alive = (): ClusterNodeProcess[] => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)
const byId = (id: string): ClusterNodeProcess => nodes.find((n) => n.node === id) as ClusterNodeProcess
const status = async (via: ClusterNodeProcess, name: string): Promise<Status> => {
  const res = await via.request<Status>('GET', `${SUBS}/${name}/status`)
  expect(res.status).toBe(200)
  return res.body
}
const receive = async (via: ClusterNodeProcess, name: string, max = 10) =>
  await via.request<Received>('POST', `${SUBS}/${name}:receive?maxEvents=${max}&maxWaitTime=10&api-version=2024-06-01`)
const settle = async (via: ClusterNodeProcess, name: string, action: string, lockTokens: string[]) =>
  await via.request<Settled>('POST', `${SUBS}/${name}:${action}?api-version=2024-06-01`, { body: { lockTokens } })

describe.skipIf(TEST_ENGINE === 'memory')('event subscriptions across three nodes on one Redis', { timeout: 120_000 }, () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(3, {
      redisUrl: url,
      keyPrefix: redis.freshPrefix(),
      config: { cluster: { heartbeatIntervalMs: INTERVAL_MS, heartbeatExpiryMs: EXPIRY_MS }, webhooks: { allowLoopback: true } }
    })
    nodes = cluster.nodes
    ;[n1, n2, n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    expect((await n1.request('PUT', '/topics/orders')).status).toBe(201)
  })
  afterAll(async () => { await cluster?.stop() })

  it('a subscription created on node 1 is read on node 2, listed on node 3, updated on node 2 and deleted on node 3', async () => {
    const created = await n1.request<Subscription>('PUT', `${SUBS}/crud`, { body: queueSub })
    expect(created.status).toBe(201)
    const read = await n2.request<Subscription>('GET', `${SUBS}/crud`)
    expect(read.status).toBe(200)
    expect(read.body).toEqual(created.body)
    expect((await n3.request<{ value: Subscription[] }>('GET', SUBS)).body.value.map((s) => s.name)).toContain('crud')
    const updated = await n2.request<Subscription>('PUT', `${SUBS}/crud`, { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { maxDeliveryCount: 3 } } } } })
    expect(updated.status).toBe(200) // an update, not a second creation
    // Owned by exactly one node, as GET /cluster/nodes says on any node.
    await until(async () => (await n3.request<NodeList>('GET', '/cluster/nodes')).body.value.reduce((n, x) => n + x.owns.subscriptions, 0) === 1, { timeoutMs: 15_000, what: 'one owner in the node list' })
    expect((await n3.request('DELETE', `${SUBS}/crud`)).status).toBe(204)
    for (const n of nodes) expect((await n.request('GET', `${SUBS}/crud`)).status).toBe(404)
    expect((await n1.request('GET', `${SUBS}/crud/status`)).status).toBe(404)
  })

  it('pull through any node: received on node 1, acknowledged on node 2, released on node 3 and received again with deliveryCount 2', async () => {
    expect((await n2.request('PUT', `${SUBS}/pull`, { body: queueSub })).status).toBe(201)
    await n3.publish('orders', [cloudEvent('p1'), cloudEvent('p2')])
    const got = await receive(n1, 'pull')
    expect(got.status).toBe(200)
    expect(got.body.value.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['p1', 1], ['p2', 1]])
    const [t1, t2] = got.body.value.map((v) => v.brokerProperties.lockToken) as [string, string]
    expect((await settle(n2, 'pull', 'acknowledge', [t1, 'bogus'])).body).toMatchObject({ succeededLockTokens: [t1], failedLockTokens: [{ lockToken: 'bogus', error: { code: 'LOCK_TOKEN_INVALID' } }] })
    expect((await settle(n3, 'pull', 'release', [t2])).body.succeededLockTokens).toEqual([t2])
    const again = await receive(n2, 'pull')
    expect(again.body.value.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['p2', 2]])
    expect((await settle(n1, 'pull', 'acknowledge', [t1])).body.failedLockTokens).toHaveLength(1) // spent, wherever it is asked
    expect((await settle(n3, 'pull', 'acknowledge', again.body.value.map((v) => v.brokerProperties.lockToken))).body.succeededLockTokens).toHaveLength(1)
    // Status and dead letters answer the same on every node: the owner's.
    const owner = (await status(n1, 'pull')).node
    for (const n of nodes) expect(await status(n, 'pull')).toMatchObject({ node: owner, delivered: 2, inFlight: 0 })
  })

  it('concurrent receivers on all three nodes never hold the same event', async () => {
    expect((await n1.request('PUT', `${SUBS}/shared`, { body: queueSub })).status).toBe(201)
    await until(async () => (await status(n2, 'shared')).node !== undefined, { timeoutMs: 15_000, what: 'an owner' })
    await n2.publish('orders', Array.from({ length: 60 }, (_, i) => cloudEvent(`c${i}`)))
    const seen: string[] = []
    await until(async () => {
      const answers = await Promise.all(nodes.map(async (n) => await receive(n, 'shared', 7)))
      for (const a of answers) {
        expect(a.status).toBe(200)
        seen.push(...a.body.value.map((v) => v.event.id))
      }
      return seen.length >= 60
    }, { timeoutMs: 40_000, what: 'all 60 events received' })
    expect(seen).toHaveLength(60)
    expect(new Set(seen).size).toBe(60)
  })

  it('dead letters through any node: rejected on node 2, listed on node 3, redelivered on node 1', async () => {
    expect((await n3.request('PUT', `${SUBS}/dead`, { body: queueSub })).status).toBe(201)
    await n1.publish('orders', cloudEvent('d1'))
    const got = (await receive(n2, 'dead')).body.value
    expect(got.map((v) => v.event.id)).toEqual(['d1'])
    expect((await settle(n2, 'dead', 'reject', got.map((v) => v.brokerProperties.lockToken))).body.succeededLockTokens).toHaveLength(1)
    const letters = await n3.request<{ value: Array<{ event: { id: string }, deadLetterReason: string }> }>('GET', `${SUBS}/dead/deadletters`)
    expect(letters.body.value.map((d) => [d.event.id, d.deadLetterReason])).toEqual([['d1', 'Rejected by the receiver.']])
    expect((await n1.request('POST', `${SUBS}/dead/deadletters:redeliver`, { body: {} })).body).toEqual({ redelivered: 1 })
    const again = (await receive(n3, 'dead')).body.value
    expect(again.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['d1', 1]])
  })

  it('push: an owner paused past its lease is replaced; after it resumes every event has arrived and each subscription has one owner', async () => {
    const hook = await startWebhook()
    teardown(hook.close)
    const put = await n2.request('PUT', `${SUBS}/paused`, { body: { properties: { deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { endpointType: 'WebHook', properties: { endpointUrl: hook.url } } } } } } })
    expect(put.status).toBe(201)
    await until(async () => (await status(n1, 'paused')).node !== undefined, { timeoutMs: 15_000, what: 'an owner' })
    const ownerId = (await status(n1, 'paused')).node
    const owner = byId(ownerId)
    const other = nodes.find((n) => n !== owner) as ClusterNodeProcess
    const ids = Array.from({ length: 150 }, (_, i) => `z${i}`)
    const publish = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i += 25) await other.publish('orders', ids.slice(i, i + 25).map((id) => cloudEvent(id)))
    }
    const delivered = (): Set<string> => new Set(hook.posts.map((p) => (JSON.parse(p.body) as { id: string }).id))
    await publish(0, 50)
    await hook.received(10)
    owner.proc.kill('SIGSTOP')
    teardown(() => { owner.proc.kill('SIGCONT') })
    await publish(50, 100)
    await until(() => ids.slice(0, 100).every((id) => delivered().has(id)), { timeoutMs: 40_000, what: `the first 100 events at the webhook, from another node (${delivered().size} so far)` })
    expect((await status(other, 'paused')).node).not.toBe(ownerId)
    owner.proc.kill('SIGCONT')
    await publish(100, 150)
    await until(() => ids.every((id) => delivered().has(id)), { timeoutMs: 40_000, what: `all 150 events at the webhook (${delivered().size} so far)` })
    // Each of the file's subscriptions (pull, shared, dead, paused) owned by exactly one node again.
    await until(async () => (await other.request<NodeList>('GET', '/cluster/nodes')).body.value.reduce((n, x) => n + x.owns.subscriptions, 0) === 4, { timeoutMs: 40_000, what: 'one owner each' })
  })

  it('push: delivered by one node; when it is killed while delivering, another takes over and every event arrives', async () => {
    const hook = await startWebhook()
    teardown(hook.close)
    const put = await n3.request('PUT', `${SUBS}/push`, { body: { properties: { deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { endpointType: 'WebHook', properties: { endpointUrl: hook.url } } } } } } })
    expect(put.status).toBe(201)
    await until(async () => (await status(n1, 'push')).node !== undefined, { timeoutMs: 15_000, what: 'an owner' })
    const ownerId = (await status(n1, 'push')).node
    const owner = byId(ownerId)
    const publisher = alive().find((n) => n !== owner) as ClusterNodeProcess
    const ids = Array.from({ length: 300 }, (_, i) => `w${i}`)
    for (let i = 0; i < 100; i += 20) await publisher.publish('orders', ids.slice(i, i + 20).map((id) => cloudEvent(id)))
    await hook.received(20)
    await owner.kill('SIGKILL')
    for (let i = 100; i < 300; i += 20) await publisher.publish('orders', ids.slice(i, i + 20).map((id) => cloudEvent(id)))
    const delivered = (): Set<string> => new Set(hook.posts.map((p) => (JSON.parse(p.body) as { id: string }).id))
    await until(() => ids.every((id) => delivered().has(id)), { timeoutMs: 40_000, what: `all 300 events at the webhook (${delivered().size} so far)` })
    const next = await status(publisher, 'push')
    expect(next.node).not.toBe(ownerId)
    expect(alive().map((n) => n.node)).toContain(next.node)
  })

  it('pull: when the owner is killed, lock tokens it issued settle on the next owner and a released event comes back with deliveryCount 2', async () => {
    const survivors = alive()
    expect(survivors).toHaveLength(2)
    const via = survivors[0] as ClusterNodeProcess
    expect((await via.request('PUT', `${SUBS}/failover`, { body: queueSub })).status).toBe(201)
    await via.publish('orders', [cloudEvent('f1'), cloudEvent('f2')])
    const got = (await receive(via, 'failover')).body.value
    expect(got.map((v) => v.event.id)).toEqual(['f1', 'f2'])
    const ownerId = (await status(via, 'failover')).node
    const owner = byId(ownerId)
    await owner.kill('SIGKILL')
    const left = alive()[0] as ClusterNodeProcess
    // Every call waits for (or is forwarded to) the new owner, which loaded the stored locks.
    const [a, b] = got.map((v) => v.brokerProperties.lockToken) as [string, string]
    expect((await settle(left, 'failover', 'acknowledge', [a])).body.succeededLockTokens).toEqual([a])
    expect((await settle(left, 'failover', 'release', [b])).body.succeededLockTokens).toEqual([b])
    const again = (await receive(left, 'failover')).body.value
    expect(again.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['f2', 2]])
    expect((await status(left, 'failover')).node).toBe(left.node)
  })

  it('a node that joins takes its share of the subscriptions, each keeping one owner, and answers pull calls', async () => {
    const [left] = alive() as [ClusterNodeProcess]
    for (let i = 0; i < 12; i++) expect((await left.request('PUT', `${SUBS}/spread-${i}`, { body: queueSub })).status).toBe(201)
    const total = (await left.request<{ value: unknown[] }>('GET', SUBS)).body.value.length
    await until(async () => (await left.request<NodeList>('GET', '/cluster/nodes')).body.value[0]?.owns.subscriptions === total, { timeoutMs: 40_000, what: `all ${total} owned by the one node left` })
    const dir = await tempDir('gridgate-join-')
    teardown(dir.remove)
    const joined = await spawnGateway({ args: ['start', '--config', cluster.configFile], env: { GRIDGATE_HTTP_KEYS: cluster.key, GRIDGATE_DATA_DIR: dir.path } })
    teardown(async () => { await joined.kill('SIGTERM') })
    const owns = async (): Promise<number[]> => (await left.request<NodeList>('GET', '/cluster/nodes')).body.value.map((n) => n.owns.subscriptions)
    await until(async () => { const o = await owns(); return o.length === 2 && o.every((n) => n > 0) && o[0]! + o[1]! === total }, { timeoutMs: 40_000, what: 'the subscriptions spread over both nodes, one owner each' })
    await left.publish('orders', cloudEvent('j1'))
    const got = await joined.request<Received>('POST', `${SUBS}/spread-0:receive?maxEvents=10&maxWaitTime=10`)
    expect(got.body.value.map((v) => v.event.id)).toEqual(['j1'])
  })
})
