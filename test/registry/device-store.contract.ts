import { describe, expect, it } from 'vitest'
import type { DeviceStore, StoredDevice } from '../../src/registry/store.js'

// The behaviour every DeviceStore implementation must have (src/registry/store.ts). An
// engine's test calls runDeviceStoreContract with a factory that opens the store on fresh data.

export interface DeviceStoreFixture {
  devices: DeviceStore
  /** Another store over the same data, as a second gateway process would open it. */
  another: () => DeviceStore
  /** Closes the data and opens it again: a restart. Durable engines only. */
  reopen?: () => Promise<DeviceStore>
  cleanup: () => Promise<void>
}

export interface DeviceStoreFactory {
  /** Whether what is written survives `reopen`. */
  durable: boolean
  open: () => Promise<DeviceStoreFixture>
}

const device = (id: string, over: Partial<StoredDevice> = {}): StoredDevice => ({
  id,
  hash: `scrypt$2048$8$1$c2FsdA==$${id}`,
  attributes: {},
  createdAt: '2026-01-01T00:00:00.000Z',
  lastSeen: null,
  ...over
})

const ids = (list: StoredDevice[]): string[] => list.map((d) => d.id)

export function runDeviceStoreContract (engineName: string, factory: DeviceStoreFactory): void {
  describe(`DeviceStore contract: ${engineName}`, () => {
    async function using (test: (f: DeviceStoreFixture) => Promise<void>): Promise<void> {
      const f = await factory.open()
      try { await test(f) } finally { await f.cleanup() }
    }

    it('returns what was put, and undefined for an unknown id', () => using(async ({ devices }) => {
      const d = device('sensor-1', { attributes: { site: 'north', 'rack.no': '7' }, lastSeen: '2026-01-02T03:04:05.006Z' })
      await devices.put(d)
      expect(await devices.get('sensor-1')).toEqual(d)
      expect(await devices.get('sensor-2')).toBeUndefined()
    }))

    it('round-trips attributes as given: empty, many, and unusual characters in values', () => using(async ({ devices }) => {
      const many = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v'.repeat(i * 8)]))
      const odd = { note: 'a "quoted" ü €, newline\n, tab\t and \\ backslash', empty: '' }
      for (const [id, attributes] of [['a', {}], ['b', many], ['c', odd]] as const) await devices.put(device(id, { attributes }))
      expect((await devices.get('a'))?.attributes).toEqual({})
      expect((await devices.get('b'))?.attributes).toEqual(many)
      expect((await devices.get('c'))?.attributes).toEqual(odd)
    }))

    it('replaces a record whole on a second put', () => using(async ({ devices }) => {
      await devices.put(device('d', { attributes: { a: '1', b: '2' }, lastSeen: '2026-01-02T00:00:00.000Z' }))
      const replacement = device('d', { hash: 'scrypt$other', attributes: { c: '3' }, lastSeen: null })
      await devices.put(replacement)
      expect(await devices.get('d')).toEqual(replacement)
      expect(ids(await devices.list())).toEqual(['d'])
    }))

    it('hands out copies: changing a returned or a put record changes nothing stored', () => using(async ({ devices }) => {
      const d = device('d', { attributes: { a: '1' } })
      await devices.put(d)
      d.attributes.a = 'changed by the caller'
      const got = await devices.get('d')
      expect(got?.attributes).toEqual({ a: '1' })
      if (got !== undefined) got.attributes.a = 'changed again'
      expect((await devices.list())[0]?.attributes).toEqual({ a: '1' })
    }))

    it('lists in id order (code-unit order) whatever the order of puts', () => using(async ({ devices }) => {
      for (const id of ['b', 'a-2', 'A', 'a_1', 'a.1', 'a:1', '0', 'a']) await devices.put(device(id))
      expect(ids(await devices.list())).toEqual(['0', 'A', 'a', 'a-2', 'a.1', 'a:1', 'a_1', 'b'])
    }))

    it('lists an empty store as empty', () => using(async ({ devices }) => {
      expect(await devices.list()).toEqual([])
      expect(await devices.list({ after: 'x', limit: 3 })).toEqual([])
    }))

    it('pages with after and limit, neither skipping nor repeating', () => using(async ({ devices }) => {
      const all = Array.from({ length: 7 }, (_, i) => `dev-${i}`)
      for (const id of [...all].reverse()) await devices.put(device(id))
      expect(ids(await devices.list({ limit: 3 }))).toEqual(['dev-0', 'dev-1', 'dev-2'])
      expect(ids(await devices.list({ after: 'dev-2', limit: 3 }))).toEqual(['dev-3', 'dev-4', 'dev-5'])
      expect(ids(await devices.list({ after: 'dev-5', limit: 3 }))).toEqual(['dev-6'])
      expect(ids(await devices.list({ after: 'dev-6' }))).toEqual([])
      // `after` need not be a stored id.
      expect(ids(await devices.list({ after: 'dev-3x' }))).toEqual(['dev-4', 'dev-5', 'dev-6'])
      const paged: string[] = []
      for (let page = await devices.list({ limit: 2 }); page.length > 0; page = await devices.list({ after: page.at(-1)?.id, limit: 2 })) paged.push(...ids(page))
      expect(paged).toEqual(all)
    }))

    it('removes a record, saying whether there was one', () => using(async ({ devices }) => {
      await devices.put(device('a'))
      await devices.put(device('b'))
      expect(await devices.remove('a')).toBe(true)
      expect(await devices.get('a')).toBeUndefined()
      expect(ids(await devices.list())).toEqual(['b'])
      expect(await devices.remove('a')).toBe(false)
      expect(await devices.remove('never-there')).toBe(false)
    }))

    it('puts a removed id again as a new record', () => using(async ({ devices }) => {
      await devices.put(device('a', { attributes: { old: 'yes' } }))
      await devices.remove('a')
      await devices.put(device('a', { hash: 'scrypt$new' }))
      expect(await devices.get('a')).toEqual(device('a', { hash: 'scrypt$new' }))
    }))

    it('touch sets lastSeen and nothing else', () => using(async ({ devices }) => {
      const d = device('a', { attributes: { site: 'north' } })
      await devices.put(d)
      await devices.touch('a', '2026-03-01T00:00:00.000Z')
      expect(await devices.get('a')).toEqual({ ...d, lastSeen: '2026-03-01T00:00:00.000Z' })
      await devices.touch('a', '2026-03-02T00:00:00.000Z')
      expect((await devices.get('a'))?.lastSeen).toBe('2026-03-02T00:00:00.000Z')
    }))

    it('touches of many devices at once each set their own lastSeen, and create nothing', () => using(async ({ devices }) => {
      const n = 300
      for (let i = 0; i < n; i += 2) await devices.put(device(`d${i}`, { attributes: { i: String(i) } }))
      // Every id touched, the odd ones unknown; the known ones twice, the second time later.
      await Promise.all(Array.from({ length: n }, async (_, i) => {
        await devices.touch(`d${i}`, '2026-03-01T00:00:00.000Z')
        if (i % 2 === 0) await devices.touch(`d${i}`, `2026-03-02T00:00:${String(i % 60).padStart(2, '0')}.000Z`)
      }))
      const listed = await devices.list()
      expect(listed).toHaveLength(n / 2)
      for (const d of listed) {
        const i = Number(d.id.slice(1))
        expect(d).toEqual(device(d.id, { attributes: { i: String(i) }, lastSeen: `2026-03-02T00:00:${String(i % 60).padStart(2, '0')}.000Z` }))
      }
    }))

    it('touch of an unknown id creates nothing', () => using(async ({ devices }) => {
      await devices.touch('ghost', '2026-03-01T00:00:00.000Z')
      expect(await devices.get('ghost')).toBeUndefined()
      expect(await devices.list()).toEqual([])
    }))

    it('applies writes to one id in call order', () => using(async ({ devices }) => {
      await devices.put(device('a'))
      const last = device('a', { attributes: { v: '3' } })
      await Promise.all([
        devices.put(device('a', { attributes: { v: '1' } })),
        devices.touch('a', '2026-03-01T00:00:00.000Z'),
        devices.put(device('a', { attributes: { v: '2' } })),
        devices.put(last)
      ])
      expect(await devices.get('a')).toEqual(last)
    }))

    it('a touch racing a remove does not bring the device back', () => using(async ({ devices, another }) => {
      const other = another()
      for (const [toucher, remover] of [[devices, devices], [devices, other], [other, devices]] as const) {
        await remover.put(device('a'))
        await Promise.all([toucher.touch('a', '2026-03-01T00:00:00.000Z'), remover.remove('a')])
        expect(await devices.get('a')).toBeUndefined()
        expect(await other.get('a')).toBeUndefined()
      }
    }))

    it('a touch racing a put keeps the put\'s attributes', () => using(async ({ devices, another }) => {
      const other = another()
      await devices.put(device('a', { attributes: { v: 'old' } }))
      await Promise.all([other.touch('a', '2026-03-01T00:00:00.000Z'), devices.put(device('a', { attributes: { v: 'new' } }))])
      expect((await devices.get('a'))?.attributes).toEqual({ v: 'new' })
      expect((await other.get('a'))?.attributes).toEqual({ v: 'new' })
    }))

    it('another store over the same data sees every write', () => using(async ({ devices, another }) => {
      const other = another()
      await devices.put(device('a'))
      await devices.put(device('b'))
      expect(ids(await other.list())).toEqual(['a', 'b'])
      await other.touch('a', '2026-03-01T00:00:00.000Z')
      expect((await devices.get('a'))?.lastSeen).toBe('2026-03-01T00:00:00.000Z')
      expect(await other.remove('b')).toBe(true)
      expect(await devices.get('b')).toBeUndefined()
    }))

    it.runIf(factory.durable)('keeps puts, touches and removes across a reopen', () => using(async ({ devices, reopen }) => {
      await devices.put(device('a', { attributes: { site: 'north' } }))
      await devices.put(device('b'))
      await devices.put(device('c'))
      await devices.touch('a', '2026-03-01T00:00:00.000Z')
      await devices.remove('b')
      if (reopen === undefined) throw new Error(`${engineName} is durable but its fixture cannot reopen`)
      const reopened = await reopen()
      expect(await reopened.list()).toEqual([device('a', { attributes: { site: 'north' }, lastSeen: '2026-03-01T00:00:00.000Z' }), device('c')])
    }))
  })
}
