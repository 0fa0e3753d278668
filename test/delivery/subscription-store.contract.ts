import { describe, expect, it } from 'vitest'
import type { PendingEntry } from '../../src/delivery/pending.js'
import type { DeadLetter, StoredSubscription, SubscriptionStore } from '../../src/delivery/store.js'

// What every engine's SubscriptionStore must do: definitions, and per subscription a cursor,
// the events taken and not settled, and dead letters, each write atomic and in order.

export interface SubscriptionStoreFactory {
  /** Whether what is written survives a reopen. */
  durable: boolean
  /** A store on a fresh location; `reopen` (durable engines only) is a restart of the same location. */
  open: () => Promise<{ store: SubscriptionStore, reopen?: () => Promise<SubscriptionStore>, cleanup: () => Promise<void> }>
}

const stored = (n: number): StoredSubscription => ({
  spec: { mode: 'Queue', filters: {}, startAt: { kind: 'end' } },
  startOffset: n,
  createdAt: new Date(1_767_225_600_000 + n).toISOString()
})
const entry = (offset: number, extra: Partial<PendingEntry> = {}): PendingEntry => ({ offset, appendTime: 1000 + offset, deliveryCount: 1, availableAt: 0, ...extra })
const letter = (offset: number): DeadLetter => ({
  offset,
  event: JSON.stringify({ id: String(offset) }),
  deadLetterReason: 'Maximum delivery attempts was exceeded.',
  deliveryAttempts: 3,
  lastHttpStatusCode: 500,
  publishedAt: new Date(1000).toISOString(),
  deadLetteredAt: new Date(2000).toISOString()
})

export function runSubscriptionStoreContract (name: string, factory: SubscriptionStoreFactory): void {
  describe(`SubscriptionStore contract: ${name}`, () => {
    it('lists definitions ordered by topic, then name, and forgets removed ones', async () => {
      const { store, cleanup } = await factory.open()
      try {
        await store.put('orders', 'b', stored(2))
        await store.put('alerts', 'z', stored(3))
        await store.put('orders', 'a', stored(1))
        await store.put('orders', 'a', stored(4)) // an update replaces
        expect((await store.list()).map((s) => [s.topic, s.name, s.stored.startOffset])).toEqual([['alerts', 'z', 3], ['orders', 'a', 4], ['orders', 'b', 2]])
        expect((await store.list())[1]?.stored).toEqual(stored(4))
        await store.remove('orders', 'a')
        expect((await store.list()).map((s) => s.name)).toEqual(['z', 'b'])
      } finally { await cleanup() }
    })

    it('starts a queue with no cursor, nothing pending and no dead letters', async () => {
      const { store, cleanup } = await factory.open()
      try {
        expect(await store.queue('t', 's').load()).toEqual({ cursor: undefined, pending: [], deadOffsets: [] })
        expect(await store.queue('t', 's').deadLetters()).toEqual([])
      } finally { await cleanup() }
    })

    it('applies a write\'s changes in order: the last change to an offset wins', async () => {
      const { store, cleanup } = await factory.open()
      try {
        const q = store.queue('t', 's')
        await q.write([
          { kind: 'cursor', offset: 5 },
          { kind: 'pending', offset: 3, entry: entry(3) },
          { kind: 'pending', offset: 3, entry: entry(3, { deliveryCount: 2 }) },
          { kind: 'pending', offset: 4, entry: entry(4) },
          { kind: 'pending', offset: 4, entry: null },
          { kind: 'cursor', offset: 7 }
        ])
        expect(await q.load()).toEqual({ cursor: 7, pending: [entry(3, { deliveryCount: 2 })], deadOffsets: [] })
        await q.write([])
        expect((await q.load()).cursor).toBe(7)
      } finally { await cleanup() }
    })

    it('loads pending entries and dead letters in offset order, however they were written', async () => {
      const { store, cleanup } = await factory.open()
      try {
        const q = store.queue('t', 's')
        const offsets = [1000, 9, 10, 2 ** 40, 0, 99]
        await q.write(offsets.map((o) => ({ kind: 'pending' as const, offset: o, entry: entry(o) })))
        await q.write(offsets.map((o) => ({ kind: 'dead' as const, offset: o + 1, letter: letter(o + 1) })))
        const sorted = [...offsets].sort((a, b) => a - b)
        const loaded = await q.load()
        expect(loaded.pending.map((e) => e.offset)).toEqual(sorted)
        expect(loaded.deadOffsets).toEqual(sorted.map((o) => o + 1))
        expect((await q.deadLetters()).map((d) => d.offset)).toEqual(sorted.map((o) => o + 1))
        expect(await q.deadLetters(2)).toEqual([letter(1), letter(10)])
      } finally { await cleanup() }
    })

    it('keeps each subscription\'s state apart, also for names that prefix each other', async () => {
      const { store, cleanup } = await factory.open()
      try {
        const a = store.queue('t', 'a')
        const ab = store.queue('t', 'a.b')
        const other = store.queue('t2', 'a')
        await a.write([{ kind: 'cursor', offset: 1 }, { kind: 'pending', offset: 1, entry: entry(1) }, { kind: 'dead', offset: 2, letter: letter(2) }])
        await ab.write([{ kind: 'cursor', offset: 10 }, { kind: 'pending', offset: 10, entry: entry(10) }])
        await other.write([{ kind: 'dead', offset: 20, letter: letter(20) }])
        expect(await a.load()).toEqual({ cursor: 1, pending: [entry(1)], deadOffsets: [2] })
        await a.destroy()
        expect(await a.load()).toEqual({ cursor: undefined, pending: [], deadOffsets: [] })
        expect(await ab.load()).toEqual({ cursor: 10, pending: [entry(10)], deadOffsets: [] })
        expect(await other.load()).toEqual({ cursor: undefined, pending: [], deadOffsets: [20] })
      } finally { await cleanup() }
    })

    it('gives two handles on one subscription the same state', async () => {
      const { store, cleanup } = await factory.open()
      try {
        await store.queue('t', 's').write([{ kind: 'cursor', offset: 3 }, { kind: 'dead', offset: 1, letter: letter(1) }])
        expect(await store.queue('t', 's').load()).toEqual({ cursor: 3, pending: [], deadOffsets: [1] })
      } finally { await cleanup() }
    })

    it.skipIf(!factory.durable)('keeps definitions, cursors, pending entries and dead letters across a reopen', async () => {
      const { store, reopen, cleanup } = await factory.open()
      try {
        if (reopen === undefined) throw new Error('a durable engine reopens')
        await store.put('t', 's', stored(1))
        await store.queue('t', 's').write([{ kind: 'cursor', offset: 8 }, { kind: 'pending', offset: 7, entry: entry(7, { lockToken: '7.x', lockedUntil: 99 }) }, { kind: 'dead', offset: 6, letter: letter(6) }])
        const again = await reopen()
        expect(await again.list()).toEqual([{ topic: 't', name: 's', stored: stored(1) }])
        expect(await again.queue('t', 's').load()).toEqual({ cursor: 8, pending: [entry(7, { lockToken: '7.x', lockedUntil: 99 })], deadOffsets: [6] })
        expect(await again.queue('t', 's').deadLetters()).toEqual([letter(6)])
      } finally { await cleanup() }
    })
  })
}
