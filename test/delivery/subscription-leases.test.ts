import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { createLocalLeases, preferredOwner } from '../../src/delivery/leases.js'
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
