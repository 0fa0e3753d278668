import type { ReliabilityCase } from './case.js'
import type { Received, Settled } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess } from '../helpers/cluster.js'
import { cloudEvent } from '../helpers/http.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { pause, reached } from '../helpers/wait.js'

// Cluster cases of the reliability suite that need real time: a pull lock lasts at least 60 s
// (Event Grid's minimum receiveLockDurationInSeconds, which the subscription schema keeps), so
// its expiry after the node that received it died is watched here, in `npm run soak` only (about
// 90 s); test/flows/cluster-locks.test.ts covers the rest in seconds, and
// test/delivery/subscription-ownership.test.ts the expiry on a manual clock.

const SUBS = '/topics/orders/eventsubscriptions'
const LOCK_S = 60
const RENEW_AT_S = 40

const lockExpiryAfterKill: ReliabilityCase = {
  name: 'cluster: pull lock expiry after the receiving node is killed',
  action: () => `three nodes on one redis-server (heartbeat 100 ms, leases 1 s); 3 events received with ${LOCK_S} s locks through the subscription's owner, ` +
    `which is then killed (SIGKILL); at ${RENEW_AT_S} s one lock renewed through a node left, then a long poll on the other`,
  criterion: `the 2 events not renewed come back once each, not before their ${LOCK_S} s lock ends, with deliveryCount 2; the renewed one stays locked past ${LOCK_S} s and its original token acknowledges it`,
  run: async () => {
    const redis = await startRedisServer()
    try {
      const cluster = await startCluster(3, { redisUrl: redis.url, keyPrefix: 'soak-locks:', config: { cluster: { heartbeatIntervalMs: 100, heartbeatExpiryMs: 1000 } } })
      try {
        const [n1] = cluster.nodes as [ClusterNodeProcess]
        const status = async (via: ClusterNodeProcess): Promise<{ node?: string, inFlight: number, backlog: number, deadLettered: number }> =>
          (await via.request<{ node?: string, inFlight: number, backlog: number, deadLettered: number }>('GET', `${SUBS}/expiry/status`)).body
        const receive = async (via: ClusterNodeProcess, waitS: number) =>
          (await via.request<Received>('POST', `${SUBS}/expiry:receive?maxEvents=10&maxWaitTime=${waitS}`)).body.value ?? []
        const settle = async (via: ClusterNodeProcess, action: string, tokens: string[]) =>
          (await via.request<Settled>('POST', `${SUBS}/expiry:${action}`, { body: { lockTokens: tokens } })).body
        await n1.request('PUT', '/topics/orders')
        const put = await n1.request('PUT', `${SUBS}/expiry`, { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: LOCK_S } } } } })
        if (put.status !== 201) return { figure: `creating the subscription: ${put.status} ${put.text}`, pass: false }
        if (!await reached(async () => (await status(n1)).node !== undefined, { timeoutMs: 10_000 })) return { figure: 'no owner', pass: false }
        const ownerId = (await status(n1)).node as string
        const victim = cluster.nodes.find((n) => n.node === ownerId) as ClusterNodeProcess
        const [a, b] = cluster.nodes.filter((n) => n !== victim) as [ClusterNodeProcess, ClusterNodeProcess]
        await a.publish('orders', [cloudEvent('e1'), cloudEvent('e2'), cloudEvent('e3')])
        const t0 = Date.now()
        const got = await receive(victim, 10)
        if (got.length !== 3) return { figure: `received ${got.length} of 3 events through the owner`, pass: false }
        await victim.kill('SIGKILL')
        const elapsed = (): number => (Date.now() - t0) / 1000
        if (!await reached(async () => { const s = await status(a); return s.node !== undefined && s.node !== ownerId }, { timeoutMs: 10_000 })) return { figure: 'no node took the subscription over', pass: false }
        const taken = elapsed()
        const taker = (await status(a)).node as string
        const [renewed, ...others] = got.map((v) => v.brokerProperties.lockToken) as [string, ...string[]]
        await pause(Math.max(0, RENEW_AT_S * 1000 - (Date.now() - t0)))
        const renewal = await settle(a, 'renewLock', [renewed])
        if (renewal.succeededLockTokens?.length !== 1) return { figure: `renewLock at ${elapsed().toFixed(1)} s: ${JSON.stringify(renewal)}`, pass: false }
        // A long poll on the other node answers when the locks that were not renewed expire.
        const back = await receive(b, 40)
        const backAt = elapsed()
        const ids = back.map((v) => `${v.event.id}/${v.brokerProperties.deliveryCount}`)
        const ack = await settle(a, 'acknowledge', [renewed])
        const ackAt = elapsed()
        const rest = await settle(b, 'acknowledge', back.map((v) => v.brokerProperties.lockToken))
        const expired = await settle(b, 'acknowledge', others)
        const after = await status(a)
        const figure = `owner ${ownerId} killed; ${taker} took over at ${taken.toFixed(1)} s; renewed e1 at ${RENEW_AT_S} s; ` +
          `back at ${backAt.toFixed(1)} s: ${ids.join(', ') || 'nothing'}; e1 acknowledged with its first token at ${ackAt.toFixed(1)} s: ${ack.succeededLockTokens?.length === 1 ? 'yes' : 'no'}; ` +
          `afterwards inFlight ${after.inFlight}, backlog ${after.backlog}, dead letters ${after.deadLettered}`
        const pass = ids.sort().join() === 'e2/2,e3/2' && backAt >= LOCK_S && ack.succeededLockTokens?.length === 1 && ackAt > LOCK_S &&
          rest.succeededLockTokens?.length === 2 && expired.failedLockTokens?.length === 2 && after.inFlight === 0 && after.backlog === 0 && after.deadLettered === 0
        return { figure, pass }
      } finally {
        await cluster.stop()
      }
    } finally {
      await redis.stop()
    }
  }
}

export const cases: ReliabilityCase[] = [lockExpiryAfterKill]
