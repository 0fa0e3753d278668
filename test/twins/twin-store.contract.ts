import { describe, expect, it } from 'vitest'
import type { TopicLog } from '../../src/log/types.js'
import { foldEvent } from '../../src/twins/fold.js'
import { historyOf, reportedAt } from '../../src/twins/history.js'
import { emptyReported, type DesiredState, type ReportedState, type SourceEvent, type TwinChange } from '../../src/twins/model.js'
import { encodeCommit, type TwinStore } from '../../src/twins/store.js'

// What every engine's TwinStore must do (the guarantees in src/twins/store.ts), and the
// queries over it (twins/history.ts): the twin at a time or offset from snapshots plus
// history, and a field's changes.

export interface TwinStoreFactory {
  durable: boolean
  /** A store on a fresh location, with the topic log of the same store (events go to `twins`, created). */
  open: () => Promise<{ store: TwinStore, log: TopicLog, reopen?: () => Promise<{ store: TwinStore, log: TopicLog }>, cleanup: () => Promise<void> }>
}

const T0 = Date.UTC(2026, 0, 1)
const EVERY = 4

/** Folds events into the store the way the projection does, one commit per call. */
async function project (store: TwinStore, events: SourceEvent[], cursors: Record<string, number> = {}, withEvents?: string): Promise<TwinChange[]> {
  const states = new Map<string, ReportedState>()
  const changes: TwinChange[] = []
  const snapshots: ReportedState[] = []
  for (const ev of events) {
    const state = states.get(ev.deviceId) ?? await store.reported(ev.deviceId) ?? emptyReported(ev.deviceId)
    const f = foldEvent(state, ev)
    states.set(ev.deviceId, f.state)
    if (f.change === undefined) continue
    changes.push(f.change)
    if (f.state.version % EVERY === 0) snapshots.push(f.state)
  }
  await store.commit(encodeCommit({ states: [...states.values()], changes, snapshots, cursors, ...(withEvents === undefined ? {} : { events: { topic: withEvents, events: changes.map((c) => Buffer.from(JSON.stringify({ v: c.version }))) } }) }))
  return changes
}

const reading = (deviceId: string, offset: number, data: Record<string, unknown>, topic = 'telemetry'): SourceEvent =>
  ({ deviceId, eventId: `${topic}-${offset}`, time: T0 + offset * 1000, topic, offset, data })

export function runTwinStoreContract (engineName: string, factory: TwinStoreFactory): void {
  describe(`TwinStore contract: ${engineName}`, () => {
    async function withStore (test: (store: TwinStore, log: TopicLog) => Promise<void>): Promise<void> {
      const { store, log, cleanup } = await factory.open()
      try { await test(store, log) } finally { await cleanup() }
    }

    it('commits states, history, snapshots and cursors together, and reads them back per device', () => withStore(async (store) => {
      expect(await store.cursors()).toEqual({})
      expect(await store.reported('d1')).toBeUndefined()
      const events = Array.from({ length: 10 }, (_, i) => reading(i % 2 === 0 ? 'd1' : 'd2', i, { n: i }))
      await project(store, events, { telemetry: 10, events: 3 })
      expect(await store.cursors()).toEqual({ telemetry: 10, events: 3 })
      const d1 = await store.reported('d1') as ReportedState
      expect(d1).toMatchObject({ deviceId: 'd1', version: 5, fields: { n: { value: 8, offset: 8, eventId: 'telemetry-8' } } })
      expect((await store.changes('d1', 0, 100)).map((c) => c.version)).toEqual([1, 2, 3, 4, 5])
      expect((await store.changes('d1', 2, 2)).map((c) => c.offset)).toEqual([4, 6])
      expect((await store.snapshot('d1', 4))?.fields.n?.value).toBe(6)
      expect(await store.snapshot('d1', 3)).toBeUndefined()
      expect((await store.changes('d3', 0, 10))).toEqual([])
    }))

    it('appends the step\'s events to the topic in the same write', () => withStore(async (store, log) => {
      await project(store, [reading('d1', 0, { a: 1 }), reading('d1', 1, { a: 2 })], { telemetry: 2 }, 'twins')
      const read = await log.read('twins', { offset: 0 }, 10)
      expect(read.records.map((r) => JSON.parse(r.bytes.toString()))).toEqual([{ v: 1 }, { v: 2 }])
      expect(await store.cursors()).toEqual({ telemetry: 2 })
    }))

    it('finds the twin as it was at a time or an offset from a snapshot and the changes after it', () => withStore(async (store) => {
      // 30 readings of d1 (a changes every time, b every third), interleaved with an events topic.
      const events: SourceEvent[] = []
      for (let i = 0; i < 30; i++) {
        events.push(reading('d1', i, i % 3 === 0 ? { a: i, b: i } : { a: i }))
        if (i % 10 === 5) events.push(reading('d1', i, { alarm: i }, 'events'))
      }
      await project(store, events.slice(0, 17))
      await project(store, events.slice(17))
      const current = await store.reported('d1') as ReportedState
      // The reference: fold the events up to the cut in memory.
      const expected = (cut: (e: SourceEvent) => boolean): ReportedState => {
        let s = emptyReported('d1')
        for (const e of events) { if (!cut(e)) break; s = foldEvent(s, e).state }
        return s
      }
      for (const at of [-1, 0, 3, 4, 5, 13, 29, 40]) {
        const time = T0 + at * 1000
        expect(await reportedAt(store, current, { time }, EVERY), `asOf ${at}`).toEqual(expected((e) => e.time <= time))
      }
      for (const at of [0, 7, 15, 28]) {
        const got = await reportedAt(store, current, { topic: 'telemetry', offset: at }, EVERY)
        expect(got, `atOffset ${at}`).toEqual(expected((e) => !(e.topic === 'telemetry' && e.offset > at)))
      }
    }))

    it('lists the changes of one field within a time range, in pages', () => withStore(async (store) => {
      await project(store, Array.from({ length: 20 }, (_, i) => reading('d1', i, i % 2 === 0 ? { a: i } : { b: i })))
      const current = await store.reported('d1') as ReportedState
      const { entries } = await historyOf(store, current, { field: 'a', from: T0 + 5000, to: T0 + 12_000, limit: 100 }, EVERY)
      expect(entries.map((e) => e.value)).toEqual([6, 8, 10, 12])
      const first = await historyOf(store, current, { limit: 3 }, EVERY)
      expect(first.entries.map((e) => e.value)).toEqual([0, 1, 2])
      const second = await historyOf(store, current, { limit: 3, after: first.next as number }, EVERY)
      expect(second.entries.map((e) => e.value)).toEqual([3, 4, 5])
    }))

    it('writes desired state only over the version it was read at, and finds the one in force at a time', () => withStore(async (store, log) => {
      const d = (version: number, time: number, doc: Record<string, unknown>): DesiredState => ({ deviceId: 'd1', version, time: T0 + time, doc })
      expect(await store.putDesired(d(1, 10, { a: 1 }), 0)).toBe(true)
      expect(await store.putDesired(d(1, 11, { a: 2 }), 0)).toBe(false)
      expect(await store.putDesired(d(2, 20, { a: 3 }), 1, { topic: 'twins', events: [Buffer.from('{"x":1}')] })).toBe(true)
      expect(await store.desired('d1')).toEqual(d(2, 20, { a: 3 }))
      expect((await log.read('twins', { offset: 0 }, 10)).records).toHaveLength(1)
      expect(await store.desiredAt('d1', T0 + 9)).toBeUndefined()
      expect((await store.desiredAt('d1', T0 + 10))?.doc).toEqual({ a: 1 })
      expect((await store.desiredAt('d1', T0 + 19))?.doc).toEqual({ a: 1 })
      expect((await store.desiredAt('d1', T0 + 99))?.doc).toEqual({ a: 3 })
      // Concurrent writers over one version: exactly one wins.
      const results = await Promise.all([1, 2, 3, 4].map(async (n) => await store.putDesired(d(3, 30 + n, { n }), 2)))
      expect(results.filter(Boolean)).toHaveLength(1)
    }))

    it('keeps its own copies: changing objects passed in or returned changes nothing stored', () => withStore(async (store) => {
      await project(store, [reading('d1', 0, { o: { x: 1 } })])
      const got = await store.reported('d1') as ReportedState;
      (got.fields.o?.value as { x: number }).x = 9
      expect((await store.reported('d1'))?.fields.o?.value).toEqual({ x: 1 })
    }))

    it.runIf(factory.durable)('keeps states, history, cursors and desired state across a restart', async () => {
      const { store, reopen, cleanup } = await factory.open()
      try {
        await project(store, [reading('d1', 0, { a: 1 }), reading('d1', 1, { a: 2 })], { telemetry: 2 })
        await store.putDesired({ deviceId: 'd1', version: 1, time: T0, doc: { a: 2 } }, 0)
        const again = await (reopen as () => Promise<{ store: TwinStore }>)()
        expect(await again.store.cursors()).toEqual({ telemetry: 2 })
        expect((await again.store.reported('d1'))?.version).toBe(2)
        expect(await again.store.changes('d1', 0, 10)).toHaveLength(2)
        expect((await again.store.desired('d1'))?.doc).toEqual({ a: 2 })
      } finally {
        await cleanup()
      }
    })
  })
}
