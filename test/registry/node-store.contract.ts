import { describe, expect, it } from 'vitest'
import type { NodeRecord, NodeStore } from '../../src/registry/nodes.js'

// The behaviour every NodeStore implementation must have (src/registry/nodes.ts): records live
// for their expiry after the last announce, timed by the store; one instance per id; a second
// store over the same data (another gateway process) sees the same nodes.

export interface NodeStoreFixture {
  nodes: NodeStore
  /** Another store over the same data, as a second gateway process would open it. */
  another: () => NodeStore
  /** Lets `ms` pass as the store times expiry (a manual clock, or real time for Redis). */
  elapse: (ms: number) => Promise<void>
  cleanup: () => Promise<void>
}

export interface NodeStoreFactory {
  open: () => Promise<NodeStoreFixture>
}

const record = (id: string, at = '2026-01-01T00:00:00.000Z'): NodeRecord => ({
  id,
  listeners: { http: `http://127.0.0.1:80${id.length}`, mqtt: 'mqtt://127.0.0.1:1883' },
  startedAt: '2026-01-01T00:00:00.000Z',
  lastHeartbeat: at
})
const LONG = 60_000

export function runNodeStoreContract (engineName: string, factory: NodeStoreFactory): void {
  describe(`NodeStore contract: ${engineName}`, () => {
    async function using (test: (f: NodeStoreFixture) => Promise<void>): Promise<void> {
      const f = await factory.open()
      try { await test(f) } finally { await f.cleanup() }
    }

    it('lists the announced records by id, as written and without the instance', () => using(async ({ nodes }) => {
      expect(await nodes.list()).toEqual([])
      expect(await nodes.announce(record('node-b'), 'i-b', LONG)).toBe('ok')
      expect(await nodes.announce(record('node-a'), 'i-a', LONG)).toBe('ok')
      expect(await nodes.list()).toEqual([record('node-a'), record('node-b')])
    }))

    it('replaces a record when its own instance announces it again', () => using(async ({ nodes }) => {
      await nodes.announce(record('node-a'), 'i-a', LONG)
      expect(await nodes.announce(record('node-a', '2026-01-01T00:00:01.000Z'), 'i-a', LONG)).toBe('ok')
      expect(await nodes.list()).toEqual([record('node-a', '2026-01-01T00:00:01.000Z')])
    }))

    it('refuses the id of a live record to another instance, in another process too', () => using(async ({ nodes, another }) => {
      await nodes.announce(record('node-a'), 'i-a', LONG)
      const other = another()
      expect(await other.announce(record('node-a', '2026-01-01T00:00:05.000Z'), 'i-twin', LONG)).toBe('taken')
      expect(await other.list()).toEqual([record('node-a')])
      // A withdraw by the other instance leaves it too.
      await other.withdraw('node-a', 'i-twin')
      expect(await nodes.list()).toEqual([record('node-a')])
    }))

    it('drops a record its expiry after the last announce, and then lets another instance take the id', () => using(async ({ nodes, elapse }) => {
      await nodes.announce(record('node-a'), 'i-a', 50)
      await nodes.announce(record('node-b'), 'i-b', LONG)
      await elapse(120)
      expect((await nodes.list()).map((r) => r.id)).toEqual(['node-b'])
      expect(await nodes.announce(record('node-a', '2026-01-01T00:01:00.000Z'), 'i-new', LONG)).toBe('ok')
      expect(await nodes.list()).toEqual([record('node-a', '2026-01-01T00:01:00.000Z'), record('node-b')])
    }))

    it('keeps a record that is announced again before it expires', () => using(async ({ nodes, elapse }) => {
      await nodes.announce(record('node-a'), 'i-a', 1000)
      await elapse(500)
      await nodes.announce(record('node-a'), 'i-a', 1000)
      await elapse(600)
      expect((await nodes.list()).map((r) => r.id)).toEqual(['node-a'])
    }))

    it('removes a withdrawn record at once, for every process', () => using(async ({ nodes, another }) => {
      await nodes.announce(record('node-a'), 'i-a', LONG)
      await nodes.announce(record('node-b'), 'i-b', LONG)
      await nodes.withdraw('node-a', 'i-a')
      expect((await another().list()).map((r) => r.id)).toEqual(['node-b'])
      await nodes.withdraw('node-z', 'i-z') // unknown: nothing happens
      expect(await another().announce(record('node-a'), 'i-next', LONG)).toBe('ok')
    }))
  })
}
