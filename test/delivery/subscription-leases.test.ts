import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { createLocalLeases, preferredOwner, type Lease } from '../../src/delivery/leases.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { redisSubscriptionLeases, redisSubscriptionStore, SUBSCRIPTION_STORE_SCRIPTS } from '../../src/storage/redis/redis-subscription-store.js'
import { useRedisServer } from '../helpers/redis.js'
import { pause } from '../helpers/wait.js'
import { runLeasesContract } from './subscription-leases.contract.js'

runLeasesContract('in-process', async () => {
  const clock = new ManualClock()
  const leases = createLocalLeases(clock)
  return { leases, another: () => leases, elapse: async (ms) => { clock.advance(ms) }, cleanup: async () => {} }
})

const redis = useRedisServer()
async function openPair (): Promise<{ a: RedisConnection, b: RedisConnection, close: () => Promise<void> }> {
  const prefix = redis.freshPrefix()
  const a = await redis.connect(prefix)
  const b = await redis.connect(prefix)
  for (const c of [a, b]) await c.loadScripts(SUBSCRIPTION_STORE_SCRIPTS)
  return { a, b, close: async () => { await a.close(); await b.close() } }
}

runLeasesContract('redis', async () => {
  const { a, b, close } = await openPair()
  return { leases: redisSubscriptionLeases(a), another: () => redisSubscriptionLeases(b), elapse: pause, cleanup: close }
})

describe('subscription ownership on redis', () => {
  it('a queue write fenced with a lease is applied only while that lease is current and the definition exists', async () => {
    const { a, b, close } = await openPair()
    try {
      const store = redisSubscriptionStore(a)
      const leases = redisSubscriptionLeases(a)
      await store.put('orders', 's1', { spec: { mode: 'Queue' } as never, startOffset: 0, createdAt: '2026-01-01T00:00:00.000Z' })
      const first = await leases.acquire('orders!s1', 'node-a', 150)
      const stale = store.queue('orders', 's1', first)
      const entry = { offset: 3, appendTime: 1, deliveryCount: 1, availableAt: 1, lockToken: '3.x', lockedUntil: 99 }
      await stale.write([{ kind: 'cursor', offset: 4 }, { kind: 'pending', offset: 3, entry }])
      expect(await store.queue('orders', 's1').load()).toEqual({ cursor: 4, pending: [entry], deadOffsets: [] })
      // The lease lapses and node B takes over: node A's writes are refused, whole.
      await pause(200)
      const second = await redisSubscriptionLeases(b).acquire('orders!s1', 'node-b', 60_000)
      expect(second?.fence).toBe(2)
      await expect(stale.write([{ kind: 'cursor', offset: 9 }, { kind: 'pending', offset: 3, entry: null }])).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_OWNED' })
      const current = redisSubscriptionStore(b).queue('orders', 's1', second)
      await current.write([{ kind: 'pending', offset: 3, entry: null }, { kind: 'dead', offset: 3, letter: { offset: 3, event: '{}', deadLetterReason: 'r', deliveryAttempts: 1, publishedAt: 'p', deadLetteredAt: 'd' } }])
      expect(await store.queue('orders', 's1').load()).toEqual({ cursor: 4, pending: [], deadOffsets: [3] })
      // A deleted definition: even the current owner writes nothing more.
      await store.remove('orders', 's1')
      await expect(current.write([{ kind: 'cursor', offset: 10 }])).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_OWNED' })
      expect((await store.queue('orders', 's1').load()).cursor).toBe(4)
    } finally { await close() }
  })
})

describe('delivery counts on redis', () => {
  it('every owner adds to the totals since creation; a stale owner, or one of a deleted subscription, adds nothing; a delete removes them', async () => {
    const { a, b, close } = await openPair()
    try {
      const store = redisSubscriptionStore(a)
      const leases = redisSubscriptionLeases(a)
      await store.put('orders', 's1', { spec: { mode: 'Queue' } as never, startOffset: 0, createdAt: '2026-01-01T00:00:00.000Z' })
      expect(await store.queue('orders', 's1').counts?.load()).toEqual({ delivered: 0, failed: 0 })
      const first = await leases.acquire('orders!s1', 'node-a', 60_000) as Lease
      const onA = store.queue('orders', 's1', first).counts
      await onA?.add({ delivered: 3, failed: 1, lastError: 'HTTP 500' })
      await onA?.add({ delivered: 2, failed: 0 })
      // Handed over: node B goes on from A's totals, and A's late batch is refused.
      await leases.release('orders!s1', first)
      const second = await redisSubscriptionLeases(b).acquire('orders!s1', 'node-b', 60_000) as Lease
      const onB = redisSubscriptionStore(b).queue('orders', 's1', second).counts
      expect(await onB?.load()).toEqual({ delivered: 5, failed: 1, lastError: 'HTTP 500' })
      await onB?.add({ delivered: 1, failed: 2, lastError: 'timeout' })
      await expect(onA?.add({ delivered: 100, failed: 0 })).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_OWNED' })
      expect(await store.queue('orders', 's1').counts?.load()).toEqual({ delivered: 6, failed: 3, lastError: 'timeout' })
      // Deleted: the owner's next batch is refused and the counts go with the queue's state.
      await store.remove('orders', 's1')
      await expect(onB?.add({ delivered: 1, failed: 0 })).rejects.toMatchObject({ code: 'SUBSCRIPTION_NOT_OWNED' })
      await store.queue('orders', 's1').destroy()
      expect(await store.queue('orders', 's1').counts?.load()).toEqual({ delivered: 0, failed: 0 })
    } finally { await close() }
  })
})

describe('preferred owners (rendezvous hashing)', () => {
  it('spreads subscriptions over the nodes and moves only those of a node that leaves', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `t!s${i}`)
    const three = keys.map((k) => preferredOwner(k, ['n1', 'n2', 'n3']))
    for (const n of ['n1', 'n2', 'n3']) expect(three.filter((o) => o === n).length).toBeGreaterThan(60)
    const two = keys.map((k) => preferredOwner(k, ['n1', 'n3']))
    keys.forEach((_, i) => { if (three[i] !== 'n2') expect(two[i]).toBe(three[i]) })
    expect(preferredOwner('t!s', [])).toBeUndefined()
  })
})
