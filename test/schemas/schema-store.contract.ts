import { describe, expect, it } from 'vitest'
import type { SchemaStore } from '../../src/schemas/store.js'

// The behaviour every SchemaStore implementation must have (src/schemas/store.ts). An
// engine's test calls runSchemaStoreContract with a factory that opens the store on fresh data.

export interface SchemaStoreFixture {
  schemas: SchemaStore
  /** Another store over the same data, as a second gateway process (node) would open it. */
  another: () => SchemaStore
  /** Closes the data and opens it again: a restart. Durable engines only. */
  reopen?: () => Promise<SchemaStore>
  cleanup: () => Promise<void>
}

export interface SchemaStoreFactory {
  durable: boolean
  open: () => Promise<SchemaStoreFixture>
}

const T0 = '2026-12-01T00:00:00.000Z'
const T1 = '2026-12-02T00:00:00.000Z'
const entry = (id: string, schema: unknown = { type: 'object', title: id }, createdAt = T0) => ({ id, schema: schema as Record<string, unknown>, createdAt })

export function runSchemaStoreContract (engineName: string, factory: SchemaStoreFactory): void {
  describe(`SchemaStore contract: ${engineName}`, () => {
    async function using (test: (f: SchemaStoreFixture) => Promise<void>): Promise<void> {
      const f = await factory.open()
      try { await test(f) } finally { await f.cleanup() }
    }

    it('creates a subject with version 1 and the given mode, and reads it back', () => using(async ({ schemas }) => {
      expect(await schemas.subject('orders')).toBeUndefined()
      expect(await schemas.append('orders', 0, entry('a', { type: 'object', properties: { n: { type: 'number' } } }), 'full')).toEqual({ outcome: 'created', version: 1 })
      expect(await schemas.subject('orders')).toEqual({ subject: 'orders', compatibility: 'full', latest: 1, createdAt: T0, updatedAt: T0 })
      expect(await schemas.version('orders', 1)).toEqual({ subject: 'orders', version: 1, id: 'a', schema: { type: 'object', properties: { n: { type: 'number' } } }, createdAt: T0 })
      expect(await schemas.version('orders', 2)).toBeUndefined()
      expect(await schemas.version('other', 1)).toBeUndefined()
    }))

    it('defaults the mode to backward and keeps it when a later append gives none', () => using(async ({ schemas }) => {
      await schemas.append('s', 0, entry('a'))
      await schemas.append('s', 1, entry('b', undefined, T1))
      expect(await schemas.subject('s')).toEqual({ subject: 's', compatibility: 'backward', latest: 2, createdAt: T0, updatedAt: T1 })
      await schemas.append('s', 2, entry('c', undefined, T1), 'none')
      expect((await schemas.subject('s'))?.compatibility).toBe('none')
    }))

    it('refuses an append whose expected latest is stale, saying the latest', () => using(async ({ schemas }) => {
      await schemas.append('s', 0, entry('a'))
      expect(await schemas.append('s', 0, entry('b'))).toEqual({ outcome: 'conflict', latest: 1 })
      expect(await schemas.append('s', 5, entry('b'))).toEqual({ outcome: 'conflict', latest: 1 })
      expect(await schemas.version('s', 2)).toBeUndefined()
      expect((await schemas.subject('s'))?.latest).toBe(1)
    }))

    it('answers exists for content it holds, in any version, writing only the mode', () => using(async ({ schemas }) => {
      await schemas.append('s', 0, entry('a'))
      await schemas.append('s', 1, entry('b'))
      expect(await schemas.append('s', 2, entry('a'), 'forward')).toEqual({ outcome: 'exists', version: 1 })
      // even with a stale expectation: identical content is never a new version
      expect(await schemas.append('s', 0, entry('b'))).toEqual({ outcome: 'exists', version: 2 })
      expect(await schemas.subject('s')).toMatchObject({ latest: 2, compatibility: 'forward' })
    }))

    it('of concurrent appends expecting one latest, exactly one creates the version, on any instance', () => using(async ({ schemas, another }) => {
      const other = another()
      await schemas.append('race', 0, entry('v1'))
      const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? schemas : other).append('race', 1, entry(`v2-${i}`))))
      expect(outcomes.filter((o) => o.outcome === 'created')).toEqual([{ outcome: 'created', version: 2 }])
      expect(outcomes.filter((o) => o.outcome === 'conflict')).toHaveLength(7)
      expect((await other.subject('race'))?.latest).toBe(2)
      expect(await schemas.version('race', 3)).toBeUndefined()
    }))

    it('keeps versions gap-free when writers retry after conflicts', () => using(async ({ schemas, another }) => {
      const other = another()
      const register = async (store: SchemaStore, id: string): Promise<number> => {
        for (;;) {
          const latest = (await store.subject('s'))?.latest ?? 0
          const o = await store.append('s', latest, entry(id))
          if (o.outcome !== 'conflict') return o.version
        }
      }
      const got = await Promise.all(Array.from({ length: 10 }, (_, i) => register(i % 2 === 0 ? schemas : other, `id-${i}`)))
      expect([...got].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      for (let v = 1; v <= 10; v++) expect((await schemas.version('s', v))?.version).toBe(v)
    }))

    it('lists subjects in name order', () => using(async ({ schemas }) => {
      for (const s of ['b', 'a-2', 'A', 'a_1', 'a.1', '0', 'a']) await schemas.append(s, 0, entry(s))
      expect((await schemas.listSubjects()).map((s) => s.subject)).toEqual(['0', 'A', 'a', 'a-2', 'a.1', 'a_1', 'b'])
    }))

    it('keeps subjects whose names prefix each other apart', () => using(async ({ schemas }) => {
      await schemas.append('a', 0, entry('x'))
      await schemas.append('a.b', 0, entry('y'))
      await schemas.append('a.b', 1, entry('z'))
      expect((await schemas.subject('a'))?.latest).toBe(1)
      expect((await schemas.version('a', 2))).toBeUndefined()
      expect((await schemas.version('a.b', 2))?.id).toBe('z')
    }))

    it('hands out copies', () => using(async ({ schemas }) => {
      const schema = { type: 'object', properties: {} as Record<string, unknown> }
      await schemas.append('s', 0, { id: 'a', schema, createdAt: T0 })
      schema.properties.x = { type: 'string' }
      const got = await schemas.version('s', 1)
      expect(got?.schema).toEqual({ type: 'object', properties: {} })
      ;((got?.schema as { properties: Record<string, unknown> }).properties).y = 1
      expect((await schemas.version('s', 1))?.schema).toEqual({ type: 'object', properties: {} })
    }))

    it('stores, replaces and removes a topic\'s bindings', () => using(async ({ schemas, another }) => {
      expect(await schemas.topicSchemas('orders')).toBeUndefined()
      await schemas.putTopicSchemas('orders', { 'order.created': { subject: 'orders' }, 'order.paid': { subject: 'payments', version: 2 } })
      expect(await another().topicSchemas('orders')).toEqual({ 'order.created': { subject: 'orders' }, 'order.paid': { subject: 'payments', version: 2 } })
      await schemas.putTopicSchemas('orders', { 'order.sent': { subject: 'orders' } })
      expect(await schemas.topicSchemas('orders')).toEqual({ 'order.sent': { subject: 'orders' } })
      await schemas.putTopicSchemas('orders', {})
      expect(await schemas.topicSchemas('orders')).toBeUndefined()
    }))

    it.runIf(factory.durable)('keeps subjects, versions and bindings across a reopen', () => using(async ({ schemas, reopen }) => {
      await schemas.append('s', 0, entry('a'), 'full')
      await schemas.append('s', 1, entry('b', undefined, T1))
      await schemas.putTopicSchemas('t', { e: { subject: 's', version: 1 } })
      if (reopen === undefined) throw new Error(`${engineName} is durable but its fixture cannot reopen`)
      const again = await reopen()
      expect(await again.subject('s')).toEqual({ subject: 's', compatibility: 'full', latest: 2, createdAt: T0, updatedAt: T1 })
      expect((await again.version('s', 2))?.id).toBe('b')
      expect(await again.topicSchemas('t')).toEqual({ e: { subject: 's', version: 1 } })
      expect(await again.append('s', 2, entry('a'))).toEqual({ outcome: 'exists', version: 1 })
    }))
  })
}
