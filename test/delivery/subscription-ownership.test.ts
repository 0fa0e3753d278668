import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { createLocalSignals } from '../../src/core/signals.js'
import { createLocalLeases, type SubscriptionLeases } from '../../src/delivery/leases.js'
import { openSubscriptions, REBALANCE_AFTER, type Subscriptions } from '../../src/delivery/subscriptions.js'
import { openStorageEngine, type StorageEngine } from '../../src/storage/engine.js'
import { until } from '../helpers/wait.js'

// Ownership of subscriptions between two or three "nodes" in one process (openSubscriptions
// with a cluster) over one in-memory store, in-process leases and signals, on a manual clock:
// a node that dies (its lease calls fail, it leaves the live list) loses its subscriptions to
// another after the lease time, which loads the stored locks, so a lock held at the death
// expires as on one node and the event comes back once with deliveryCount + 1; a node that
// joins gets its share after the hysteresis, each subscription owned once.

const INTERVAL = 100
const LEASE = 1000
const LOCK = 60_000
let engine: StorageEngine | undefined
const open: Subscriptions[] = []
afterEach(async () => {
  for (const s of open.splice(0)) await s.close().catch(() => undefined)
  await engine?.close()
})

async function setup (ids: string[]) {
  const clock = new ManualClock(Date.now())
  engine = await openStorageEngine({ engine: 'memory', dataDir: '/nonexistent', clock, sync: false, log: { maxBatchEvents: 100, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 86_400, maxBytes: 0 } } })
  const log = engine.topics
  await log.createTopic('orders')
  const signals = createLocalSignals()
  const shared = createLocalLeases(clock)
  const live = new Set(ids)
  const dead = new Set<string>()
  const nodes = new Map<string, Subscriptions>()
  const start = async (id: string): Promise<Subscriptions> => {
    // A dead node's lease calls fail, as a node cut off from the store.
    const guard = <T>(fn: () => Promise<T>): Promise<T> => dead.has(id) ? Promise.reject(new Error('dead')) : fn()
    const leases: SubscriptionLeases = {
      acquire: (...a) => guard(() => shared.acquire(...a)),
      renew: (...a) => guard(() => shared.renew(...a)),
      release: (...a) => guard(() => shared.release(...a)),
      clear: (...a) => guard(() => shared.clear(...a)),
      owners: (...a) => guard(() => shared.owners(...a))
    }
    const subs = await openSubscriptions({
      store: engine!.subscriptions,
      log,
      clock,
      maxPendingPerSubscription: 1000,
      checkEndpoint: async () => {},
      startPush: () => async () => {},
      cluster: { node: id, leases, liveNodes: async () => [...live], signals, intervalMs: INTERVAL, leaseMs: LEASE }
    })
    open.push(subs)
    nodes.set(id, subs)
    return subs
  }
  for (const id of ids) await start(id)
  /** Lets `ms` pass in interval steps, each followed by the ownership steps it started. */
  const elapse = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += INTERVAL) {
      clock.advance(INTERVAL)
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const owners = async (name: string): Promise<string[]> => {
    const out: string[] = []
    for (const [id, s] of nodes) if (!dead.has(id) && 'local' in await s.locate('orders', name)) out.push(id)
    return out
  }
  const kill = (id: string): void => { dead.add(id); live.delete(id) }
  return { clock, log, nodes, live, start, elapse, owners, kill }
}

const queue = { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: LOCK / 1000 } } } }

describe('subscription ownership across nodes (in-process, manual clock)', () => {
  it('a lock held when its owner dies expires on the next owner: the event comes back once, with deliveryCount + 1', async () => {
    const { log, nodes, elapse, owners, kill } = await setup(['a', 'b', 'c'])
    await nodes.get('b')!.put('orders', 'q', queue)
    await until(async () => { await elapse(INTERVAL); return (await owners('q')).length === 1 }, { timeoutMs: 5000, everyMs: 1, what: 'an owner' })
    const [first] = await owners('q') as [string]
    await log.append('orders', [Buffer.from(JSON.stringify({ specversion: '1.0', id: 'x', source: 's', type: 't' }))])
    const sub = await nodes.get(first)!.get('orders', 'q')
    expect((await sub.queue.take(10, LOCK)).map((d) => d.deliveryCount)).toEqual([1])
    kill(first)
    // Nobody delivers it until the lease lapses; then exactly one of the others does.
    await until(async () => { await elapse(INTERVAL); return (await owners('q')).length === 1 }, { timeoutMs: 5000, everyMs: 1, what: 'a new owner' })
    const [second] = await owners('q') as [string]
    expect(second).not.toBe(first)
    const next = await nodes.get(second)!.get('orders', 'q')
    expect(await next.queue.take(10, LOCK)).toEqual([]) // still locked, as stored by the dead owner
    await elapse(LOCK)
    const again = await next.queue.take(10, LOCK)
    expect(again.map((d) => [d.offset, d.deliveryCount])).toEqual([[0, 2]])
    expect(await next.queue.take(10, LOCK)).toEqual([]) // once
    expect(await owners('q')).toEqual([second])
  })

  it('a node that joins gets its share after the hysteresis, and every subscription keeps exactly one owner', async () => {
    const { nodes, live, start, elapse, owners } = await setup(['a'])
    const names = Array.from({ length: 12 }, (_, i) => `s${i}`)
    for (const n of names) await nodes.get('a')!.put('orders', n, queue)
    await elapse(2 * INTERVAL)
    for (const n of names) expect(await owners(n)).toEqual(['a'])
    await start('b')
    live.add('b')
    await elapse((REBALANCE_AFTER + 3) * INTERVAL)
    const by = await Promise.all(names.map(owners))
    for (const o of by) expect(o).toHaveLength(1)
    expect(by.filter((o) => o[0] === 'b').length).toBeGreaterThan(0)
    expect(by.filter((o) => o[0] === 'a').length).toBeGreaterThan(0)
    expect(await nodes.get('a')!.ownedBy(['a', 'b'])).toEqual([by.filter((o) => o[0] === 'a').length, by.filter((o) => o[0] === 'b').length])
  })
})
