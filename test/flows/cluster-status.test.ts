import { once } from 'node:events'
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Received } from '../helpers/api.js'
import { spawnGateway } from '../helpers/child.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

// What a cluster's nodes say about themselves and the subscriptions they share, on two gateway
// processes on one redis-server: each node's metrics carry its own id; a subscription's status
// counters are the cluster's totals since it was created, whichever node delivered; a node
// started with an advertised HTTP URL is listed with it and calls are forwarded to it there (a
// proxy in front of its listener sees them). Real parts only; the cases run in order on one cluster.

const teardown = useTeardown()
const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
let cluster: TestCluster
let n1: ClusterNodeProcess, n2: ClusterNodeProcess

const SUBS = '/topics/orders/eventsubscriptions'
const ADV = 15
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

  it('a node started with an advertised HTTP URL is listed with it, and calls are forwarded to it there', async () => {
    const [left] = cluster.nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null) as [ClusterNodeProcess]
    // A proxy in front of the new node's listener: the address it advertises.
    const seen: IncomingHttpHeaders[] = []
    let target = ''
    const proxy = createServer((req, res) => {
      seen.push(req.headers)
      const up = httpRequest(new URL(req.url ?? '/', target), { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      })
      up.on('error', () => { res.writeHead(502).end() })
      req.pipe(up)
    })
    proxy.listen(0, '127.0.0.1')
    await once(proxy, 'listening')
    teardown(async () => { proxy.closeAllConnections(); proxy.close() })
    const advertised = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
    const dir = await tempDir('gridgate-advertised-')
    teardown(dir.remove)
    const joined = await spawnGateway({ args: ['start', '--config', cluster.configFile], env: { GRIDGATE_HTTP_KEYS: cluster.key, GRIDGATE_DATA_DIR: dir.path, GRIDGATE_ADVERTISE_HTTP_URL: `${advertised}/` } })
    teardown(async () => { await joined.kill('SIGTERM') })
    target = joined.listeners.http as string
    expect(target).not.toBe(advertised)
    const nodeList = async () => (await left.request<{ value: Array<{ id: string, listeners: { http: string }, owns: { subscriptions: number } }> }>('GET', '/cluster/nodes')).body.value
    await until(async () => (await nodeList()).length === 2, { timeoutMs: 10_000, what: 'the new node listed' })
    const listed = (await nodeList()).find((n) => n.listeners.http !== left.listeners.http)
    expect(listed?.listeners.http).toBe(advertised)
    // Subscriptions until the new node owns some, then a pull call on one of them made to the other node.
    // 16 (with 'counted'): all of them preferring one node has a chance of 2^-16.
    for (let i = 0; i < ADV; i++) expect((await left.request('PUT', `${SUBS}/adv-${i}`, { body: queueSub })).status).toBe(201)
    const subs = (await left.request<{ value: unknown[] }>('GET', SUBS)).body.value.length
    await until(async () => { const l = await nodeList(); return l.every((n) => n.owns.subscriptions > 0) && l.reduce((t, n) => t + n.owns.subscriptions, 0) === subs }, { timeoutMs: 10_000, what: 'the subscriptions spread over both nodes' })
    let name: string | undefined
    for (let i = 0; i < ADV && name === undefined; i++) if ((await status(left, `adv-${i}`)).node === listed?.id) name = `adv-${i}`
    expect(name).toBeDefined()
    await left.publish('orders', cloudEvent('a1'))
    seen.length = 0
    expect((await receive(left, name as string)).map((v) => v.event.id)).toEqual(['a1'])
    expect(seen.map((h) => h['x-gridgate-forwarded-by'])).toEqual([left.node])
  })
})
