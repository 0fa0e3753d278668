import { describe, expect, it } from 'vitest'
import type { NodeStore } from '../../src/registry/nodes.js'
import type { PresenceRecord, PresenceStore } from '../../src/registry/presence.js'

// The behaviour every PresenceStore implementation must have (src/registry/presence.ts): one
// record per device, replaced by a claim (which returns the one it replaced), removed only by
// the connection it names (or by a revocation), indexed by node, and the records of nodes
// without a heartbeat reported as orphans. Two stores over the same data are two nodes.

export interface PresenceStoreFixture {
  presence: PresenceStore
  /** Another store over the same data, as a second gateway process would open it. */
  another: () => PresenceStore
  /** The NodeStore the orphans are judged by (the same data). */
  nodes: NodeStore
  cleanup: () => Promise<void>
}

export interface PresenceStoreFactory {
  open: () => Promise<PresenceStoreFixture>
}

const rec = (deviceId: string, node: string, connection: string, since = 1_700_000_000_000): PresenceRecord => ({ deviceId, node, connection, transport: 'tcp', since })
const heartbeat = (id: string) => ({ id, listeners: {}, startedAt: '2026-01-01T00:00:00.000Z', lastHeartbeat: '2026-01-01T00:00:00.000Z' })

export function runPresenceStoreContract (engineName: string, factory: PresenceStoreFactory): void {
  describe(`PresenceStore contract: ${engineName}`, () => {
    async function using (test: (f: PresenceStoreFixture) => Promise<void>): Promise<void> {
      const f = await factory.open()
      try { await test(f) } finally { await f.cleanup() }
    }

    it('claims a record, returning the one it replaced; reads records in the order asked', () => using(async ({ presence }) => {
      expect(await presence.claim(rec('d1', 'node-a', 'c1'))).toBeUndefined()
      expect(await presence.get(['d2', 'd1'])).toEqual([undefined, rec('d1', 'node-a', 'c1')])
      expect(await presence.claim(rec('d1', 'node-b', 'c2'))).toEqual(rec('d1', 'node-a', 'c1'))
      expect(await presence.get(['d1'])).toEqual([rec('d1', 'node-b', 'c2')])
      expect(await presence.get([])).toEqual([])
    }))

    it('releases a record only for the connection it names, and cleans the index either way', () => using(async ({ presence }) => {
      await presence.claim(rec('d1', 'node-a', 'c1'))
      await presence.claim(rec('d1', 'node-b', 'c2'))
      // The taken-over connection's late end: the record is the newer one's.
      expect(await presence.release('d1', 'node-a', 'c1')).toBeUndefined()
      expect(await presence.get(['d1'])).toEqual([rec('d1', 'node-b', 'c2')])
      expect(await presence.ofNode('node-a')).toEqual(new Map())
      expect(await presence.release('d1', 'node-b', 'c2')).toEqual(rec('d1', 'node-b', 'c2'))
      expect(await presence.release('d1', 'node-b', 'c2')).toBeUndefined()
      expect(await presence.get(['d1'])).toEqual([undefined])
      expect(await presence.ofNode('node-b')).toEqual(new Map())
    }))

    it('indexes records by node and counts them', () => using(async ({ presence }) => {
      await presence.claim(rec('d1', 'node-a', 'c1'))
      await presence.claim(rec('d2', 'node-a', 'c2'))
      await presence.claim(rec('d3', 'node-b', 'c3'))
      expect(await presence.ofNode('node-a')).toEqual(new Map([['d1', 'c1'], ['d2', 'c2']]))
      expect(await presence.count(['node-b', 'node-a', 'node-c'])).toEqual([1, 2, 0])
      await presence.claim(rec('d2', 'node-b', 'c4'))
      expect(await presence.count(['node-a', 'node-b'])).toEqual([1, 2])
    }))

    it('removes a revoked device\'s record whichever connection it names', () => using(async ({ presence }) => {
      await presence.claim(rec('d1', 'node-a', 'c1'))
      expect(await presence.remove('d1')).toEqual(rec('d1', 'node-a', 'c1'))
      expect(await presence.remove('d1')).toBeUndefined()
      expect(await presence.release('d1', 'node-a', 'c1')).toBeUndefined()
      expect(await presence.count(['node-a'])).toEqual([0])
    }))

    it('lets exactly one of several stores release one record (the exactly-once of device.disconnected)', () => using(async ({ presence, another }) => {
      await presence.claim(rec('d1', 'node-a', 'c1'))
      const stores = [presence, another(), another(), presence]
      const results = await Promise.all(stores.map(async (s) => await s.release('d1', 'node-a', 'c1')))
      expect(results.filter((r) => r !== undefined)).toEqual([rec('d1', 'node-a', 'c1')])
    }))

    it('reports nodes without a heartbeat as orphans: at once when seen live before, after the grace when never', () => using(async ({ presence, nodes }) => {
      expect(await nodes.announce(heartbeat('node-a'), 'i-a', 60_000)).toBe('ok')
      await presence.claim(rec('d1', 'node-a', 'c1'))
      // node-b has not announced itself yet (a node still starting): not an orphan within the grace.
      await presence.claim(rec('d2', 'node-b', 'c2'))
      expect(await presence.orphans(60_000)).toEqual([])
      expect(await presence.orphans(-1)).toEqual(['node-b'])
      await nodes.announce(heartbeat('node-b'), 'i-b', 60_000)
      expect(await presence.orphans(-1)).toEqual([])
      // Both were seen live: gone heartbeats make them orphans whatever the grace.
      await nodes.withdraw('node-a', 'i-a')
      await nodes.withdraw('node-b', 'i-b')
      expect(await presence.orphans(60_000)).toEqual(['node-a', 'node-b'])
      // A node whose records are all gone is no orphan.
      await presence.release('d1', 'node-a', 'c1')
      expect(await presence.orphans(60_000)).toEqual(['node-b'])
    }))

    it('does not count a stopping node\'s records as orphans before the grace, heartbeat or not', () => using(async ({ presence, nodes }) => {
      expect(await nodes.announce(heartbeat('node-a'), 'i-a', 60_000)).toBe('ok')
      await presence.claim(rec('d1', 'node-a', 'c1'))
      expect(await presence.orphans(60_000)).toEqual([])
      await presence.leaving('node-a')
      await presence.leaving('node-x') // holds nothing: nothing changes
      expect(await presence.orphans(60_000)).toEqual([])
      await nodes.withdraw('node-a', 'i-a')
      await presence.claim(rec('d2', 'node-a', 'c2'))
      expect(await presence.orphans(60_000)).toEqual([])
      expect(await presence.orphans(-1)).toEqual(['node-a'])
      expect(await presence.count(['node-x'])).toEqual([0])
    }))
  })
}
