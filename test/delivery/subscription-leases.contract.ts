import { describe, expect, it } from 'vitest'
import type { SubscriptionLeases } from '../../src/delivery/leases.js'

// The behaviour every SubscriptionLeases implementation must have (src/delivery/leases.ts):
// one holder per key at a time, a lease that lapses `ms` after it was taken or renewed (timed
// by the store), a fencing token that grows with every acquisition, and renew/release that
// act only for the lease that is still current.

export interface LeasesFixture {
  leases: SubscriptionLeases
  /** Another store over the same data, as a second gateway process would open it. */
  another: () => SubscriptionLeases
  /** Lets `ms` pass as the store times expiry. */
  elapse: (ms: number) => Promise<void>
  cleanup: () => Promise<void>
}

const LONG = 60_000
const SHORT = 150

export function runLeasesContract (engineName: string, open: () => Promise<LeasesFixture>): void {
  describe(`SubscriptionLeases contract: ${engineName}`, () => {
    async function using (test: (f: LeasesFixture) => Promise<void>): Promise<void> {
      const f = await open()
      try { await test(f) } finally { await f.cleanup() }
    }

    it('gives a key to one holder at a time, across stores', () => using(async ({ leases, another }) => {
      const a = await leases.acquire('orders!s1', 'node-a', LONG)
      expect(a).toEqual({ node: 'node-a', fence: 1 })
      expect(await another().acquire('orders!s1', 'node-b', LONG)).toBeUndefined()
      expect(await leases.acquire('orders!s1', 'node-a', LONG)).toBeUndefined()
      expect(await another().acquire('orders!s2', 'node-b', LONG)).toEqual({ node: 'node-b', fence: 1 })
      expect(await leases.owners(['orders!s1', 'orders!s2', 'orders!none'])).toEqual([a, { node: 'node-b', fence: 1 }, undefined])
    }))

    it('concurrent acquisitions of one key: exactly one wins', () => using(async ({ leases, another }) => {
      const got = await Promise.all(Array.from({ length: 10 }, async (_, i) => await (i % 2 === 0 ? leases : another()).acquire('t!s', `node-${i}`, LONG)))
      expect(got.filter((l) => l !== undefined)).toHaveLength(1)
    }))

    it('a lease lapses after its time unless renewed, and the next holder gets a higher fence', () => using(async ({ leases, another, elapse }) => {
      const a = await leases.acquire('t!s', 'node-a', SHORT)
      expect(a).toBeDefined()
      await elapse(SHORT / 2)
      expect(await leases.renew('t!s', a!, SHORT)).toBe(true)
      await elapse(SHORT / 2 + 20)
      expect(await another().acquire('t!s', 'node-b', SHORT)).toBeUndefined() // renewed: still held
      await elapse(SHORT + 50)
      expect(await leases.owners(['t!s'])).toEqual([undefined])
      const b = await another().acquire('t!s', 'node-b', LONG)
      expect(b?.fence).toBeGreaterThan(a!.fence)
      // The stale holder can neither renew nor release the new lease.
      expect(await leases.renew('t!s', a!, LONG)).toBe(false)
      await leases.release('t!s', a!)
      expect(await leases.owners(['t!s'])).toEqual([b])
    }))

    it('release frees the key for another node at once; clear removes any lease', () => using(async ({ leases, another }) => {
      const a = await leases.acquire('t!s', 'node-a', LONG)
      await leases.release('t!s', a!)
      const b = await another().acquire('t!s', 'node-b', LONG)
      expect(b).toEqual({ node: 'node-b', fence: 2 })
      await leases.clear('t!s')
      expect(await leases.owners(['t!s'])).toEqual([undefined])
      expect((await leases.acquire('t!s', 'node-a', LONG))?.fence).toBe(3)
    }))
  })
}
