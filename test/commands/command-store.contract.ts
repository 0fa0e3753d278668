import { describe, expect, it } from 'vitest'
import type { Command, CommandStatus } from '../../src/commands/lifecycle.js'
import type { CommandStore } from '../../src/commands/store.js'
import type { TopicLog } from '../../src/log/types.js'

// What every engine's CommandStore must do (the guarantees in src/commands/store.ts): whole
// commands by id, each device's listing newest first with a status filter and paging, the
// open ones for a restart, and a store-wide seq that orders them.

export interface CommandStoreFactory {
  /** Whether what is written survives a reopen (the restart case runs only then). */
  durable: boolean
  /**
   * A store on a fresh location, with the namespace topics of the same store (transition
   * events go there); `reopen` (durable engines only) is a restart of the same location.
   */
  open: () => Promise<{ store: CommandStore, log: TopicLog, reopen?: () => Promise<{ store: CommandStore, log: TopicLog }>, cleanup: () => Promise<void> }>
}

const T0 = Date.UTC(2026, 0, 1)

/** Adds a command with a seq from the store, as the commands module does. */
async function add (store: CommandStore, deviceId: string, extra: Partial<Command> = {}): Promise<Command> {
  const seq = await store.nextSeq()
  const c: Command = {
    id: `cmd-${seq}`,
    deviceId,
    name: 'set-point',
    payload: { target: seq, nested: { unit: 'C' } },
    timeoutSeconds: 30,
    ttlSeconds: 3600,
    status: 'pending',
    result: null,
    error: null,
    createdAt: T0 + seq,
    updatedAt: T0 + seq,
    sentAt: null,
    sendCount: 0,
    seq,
    ...extra
  }
  await store.add(c)
  return c
}

async function to (store: CommandStore, c: Command, status: CommandStatus): Promise<Command> {
  const next = { ...c, status, updatedAt: c.updatedAt + 1, sendCount: status === 'pending' ? 0 : 1 }
  await store.update(next)
  return next
}

const seqs = (commands: Command[]): number[] => commands.map((c) => c.seq)
const newestFirst = (commands: Command[]): number[] => seqs(commands).sort((a, b) => b - a)

export function runCommandStoreContract (engineName: string, factory: CommandStoreFactory): void {
  describe(`CommandStore contract: ${engineName}`, () => {
    async function withStore (test: (store: CommandStore) => Promise<void>): Promise<void> {
      const { store, cleanup } = await factory.open()
      try { await test(store) } finally { await cleanup() }
    }

    it('gets an added command back whole, by device and id only', () => withStore(async (store) => {
      const c = await add(store, 'meter-1')
      expect(await store.get('meter-1', c.id)).toEqual(c)
      expect(await store.get('meter-2', c.id)).toBeUndefined()
      expect(await store.get('meter-1', 'no-such-command')).toBeUndefined()
    }))

    it('replaces a command whole on update, keeping its place in the listing', () => withStore(async (store) => {
      const first = await add(store, 'meter-1')
      const second = await add(store, 'meter-1')
      const done = await to(store, first, 'succeeded')
      expect(await store.get('meter-1', first.id)).toEqual(done)
      expect((await store.list('meter-1', { limit: 10 })).commands).toEqual([second, done])
    }))

    it('keeps its own copies: changing objects passed in or returned changes nothing stored', () => withStore(async (store) => {
      const c = await add(store, 'meter-1')
      const original = structuredClone(c);
      (c.payload as { target: number }).target = -1
      const read = await store.get('meter-1', c.id) as Command
      read.status = 'failed'
      expect(await store.get('meter-1', c.id)).toEqual(original)
      expect((await store.list('meter-1', { limit: 1 })).commands).toEqual([original])
    }))

    it('lists only the device\'s own commands, newest first', () => withStore(async (store) => {
      const mine: Command[] = []
      for (let i = 0; i < 5; i++) {
        mine.push(await add(store, 'meter-1'))
        await add(store, i % 2 === 0 ? 'meter-10' : 'meter')
      }
      const { commands, next } = await store.list('meter-1', { limit: 10 })
      expect(commands).toEqual([...mine].reverse())
      expect(next).toBeUndefined()
      expect(await store.list('meter-9', { limit: 10 })).toEqual({ commands: [], next: undefined })
    }))

    it('filters the listing by the status a command is in now', () => withStore(async (store) => {
      const all: Command[] = []
      for (let i = 0; i < 6; i++) all.push(await add(store, 'meter-1'))
      const [a, b, c, d] = all as [Command, Command, Command, Command]
      const failed = [await to(store, a, 'failed'), await to(store, c, 'failed')]
      await to(store, d, 'sent')
      await to(store, await to(store, b, 'sent'), 'delivered')
      expect((await store.list('meter-1', { status: 'failed', limit: 10 })).commands).toEqual(failed.reverse())
      expect(seqs((await store.list('meter-1', { status: 'pending', limit: 10 })).commands)).toEqual(newestFirst(all.slice(4)))
      expect(seqs((await store.list('meter-1', { status: 'delivered', limit: 10 })).commands)).toEqual([b.seq])
      expect((await store.list('meter-1', { status: 'expired', limit: 10 })).commands).toEqual([])
    }))

    it('pages with beforeSeq: each match once, newest first, and no next after the last match', () => withStore(async (store) => {
      const all: Command[] = []
      for (let i = 0; i < 11; i++) all.push(await add(store, 'meter-1'))
      // Every third one ends: the filtered pages skip them.
      for (const c of all.filter((_, i) => i % 3 === 0)) await to(store, c, 'canceled')
      for (const status of [undefined, 'pending'] as const) {
        const expected = newestFirst(all.filter((_, i) => status === undefined || i % 3 !== 0))
        const got: number[] = []
        let beforeSeq: number | undefined
        let pages = 0
        do {
          const page = await store.list('meter-1', { status, limit: 3, beforeSeq })
          expect(page.commands.length).toBeGreaterThan(0)
          expect(page.commands.length).toBeLessThanOrEqual(3)
          got.push(...seqs(page.commands))
          beforeSeq = page.next
          pages++
        } while (beforeSeq !== undefined)
        expect(got).toEqual(expected)
        expect(pages).toBe(Math.ceil(expected.length / 3))
      }
      // beforeSeq is exclusive.
      const pivot = all[5] as Command
      expect(seqs((await store.list('meter-1', { limit: 2, beforeSeq: pivot.seq })).commands)).toEqual([all[4]?.seq, all[3]?.seq])
    }))

    it('loads every command not in an end state, of every device, in seq order', () => withStore(async (store) => {
      const open: Command[] = []
      open.push(await add(store, 'meter-2'))
      const ends: CommandStatus[] = ['succeeded', 'failed', 'timedOut', 'expired', 'canceled']
      for (const status of ends) await to(store, await add(store, 'meter-1'), status)
      open.push(await to(store, await add(store, 'meter-1'), 'sent'))
      open.push(await to(store, await add(store, 'meter-3'), 'delivered'))
      open.push(await add(store, 'meter-1'))
      expect(await store.loadOpen()).toEqual(open)
    }))

    it('gives unique, increasing seqs under concurrent adds, and lists them all in seq order', () => withStore(async (store) => {
      const added = await Promise.all(Array.from({ length: 200 }, async (_, i) => await add(store, i % 2 === 0 ? 'meter-1' : 'meter-2')))
      const all = seqs(added)
      expect(new Set(all).size).toBe(200)
      const { commands } = await store.list('meter-1', { limit: 1000 })
      expect(commands.length).toBe(100)
      expect(seqs(commands)).toEqual(newestFirst(added.filter((c) => c.deviceId === 'meter-1')))
      expect(seqs(await store.loadOpen())).toEqual([...all].sort((a, b) => a - b))
      const later = await store.nextSeq()
      expect(later).toBeGreaterThan(Math.max(...all))
      expect(await store.nextSeq()).toBeGreaterThan(later)
    }))

    it('refuses an add it cannot write whole: neither the command nor its listing entry appears', () => withStore(async (store) => {
      const before = await add(store, 'meter-1')
      const seq = await store.nextSeq()
      // A value no engine can serialise makes the write fail.
      const bad = { ...before, id: 'unwritable', seq, payload: { n: 1n } }
      await expect(store.add(bad)).rejects.toThrow()
      expect(await store.get('meter-1', 'unwritable')).toBeUndefined()
      expect((await store.list('meter-1', { limit: 10 })).commands).toEqual([before])
      expect(await store.loadOpen()).toEqual([before])
      const after = await add(store, 'meter-1')
      expect(after.seq).toBeGreaterThan(seq)
      expect(seqs((await store.list('meter-1', { limit: 10 })).commands)).toEqual([after.seq, before.seq])
    }))

    it('writes a transition event with its state: both are there once the write resolves, in call order', async () => {
      const { store, log, cleanup } = await factory.open()
      try {
        await log.createTopic('commands')
        const seq = await store.nextSeq()
        const c: Command = { id: 'ev-1', deviceId: 'meter-1', name: 'reboot', payload: null, timeoutSeconds: 30, ttlSeconds: 3600, status: 'pending', result: null, error: null, createdAt: T0, updatedAt: T0, sentAt: null, sendCount: 0, seq }
        await store.add(c, { topic: 'commands', bytes: Buffer.from('{"n":1}') })
        const sent = { ...c, status: 'sent' as const, sendCount: 1 }
        await store.update(sent, { topic: 'commands', bytes: Buffer.from('{"n":2}') })
        await store.update({ ...sent, sendCount: 2 }) // a state change without an event
        expect(await store.get('meter-1', 'ev-1')).toEqual({ ...sent, sendCount: 2 })
        const { records } = await log.read('commands', { offset: 0 }, 10)
        expect(records.map((r) => r.bytes.toString())).toEqual(['{"n":1}', '{"n":2}'])
      } finally { await cleanup() }
    })

    it('stores neither the state nor the event when the event cannot be appended', async () => {
      const { store, log, cleanup } = await factory.open()
      try {
        const seq = await store.nextSeq()
        const c: Command = { id: 'ev-2', deviceId: 'meter-1', name: 'reboot', payload: null, timeoutSeconds: 30, ttlSeconds: 3600, status: 'pending', result: null, error: null, createdAt: T0, updatedAt: T0, sentAt: null, sendCount: 0, seq }
        await expect(store.add(c, { topic: 'no-such-topic', bytes: Buffer.from('{}') })).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' })
        expect(await store.get('meter-1', 'ev-2')).toBeUndefined()
        expect(await store.loadOpen()).toEqual([])
        expect(await log.listTopics()).toEqual([])
      } finally { await cleanup() }
    })

    if (!factory.durable) return
    it('keeps commands, listings and open state across a restart, and never reuses a seq', async () => {
      const { store, reopen, cleanup } = await factory.open()
      try {
        if (reopen === undefined) throw new Error(`durable engine ${engineName} has no reopen`)
        const a = await add(store, 'meter-1')
        const b = await to(store, await add(store, 'meter-1'), 'succeeded')
        const c = await to(store, await add(store, 'meter-2'), 'sent')
        // Seqs handed out in one order, added in the other: the highest still counts.
        const low = await store.nextSeq()
        const high = await store.nextSeq()
        const d = { ...a, id: 'late-high', seq: high }
        const e = { ...a, id: 'late-low', seq: low }
        await store.add(d)
        await store.add(e)
        const { store: again } = await reopen()
        expect(await again.get('meter-1', b.id)).toEqual(b)
        expect((await again.list('meter-1', { limit: 10 })).commands).toEqual([d, e, b, a])
        expect((await again.list('meter-1', { status: 'succeeded', limit: 10 })).commands).toEqual([b])
        expect(await again.loadOpen()).toEqual([a, c, e, d])
        expect(await again.nextSeq()).toBeGreaterThan(high)
      } finally { await cleanup() }
    })
  })
}
