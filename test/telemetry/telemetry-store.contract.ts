import { describe, expect, it } from 'vitest'
import type { AggregateJSON, StreamCheckpoint, TelemetryChange, TelemetryStore } from '../../src/telemetry/store.js'

// The behaviour every engine's TelemetryStore must have. An engine's test calls
// runTelemetryStoreContract with a factory that opens the store on a fresh location.

export interface TelemetryStoreFactory {
  /** Whether what is committed survives `reopen`. */
  durable: boolean
  /** A store on a fresh location; `reopen` opens the same location again (a restart; durable engines only). */
  open: () => Promise<{ store: TelemetryStore, reopen: () => Promise<TelemetryStore>, cleanup: () => Promise<void> }>
}

const S = 1000
const T0 = Date.UTC(2026, 0, 1)
const agg = (count: number): AggregateJSON => ({ count, sum: count, min: 1, max: 1, mean: 1, m2: 0, firstTime: T0, first: 1, lastTime: T0, last: 1 })
const bytes = (s: string): Buffer => Buffer.from(s)
const checkpoint = (cursor: number): StreamCheckpoint => ({ cursor, outputFrom: { out: cursor * 2 }, unsent: [{ topic: 'out', id: `w/d/${cursor}/m`, json: '{"id":"w/d/1/m"}' }] })
const bucket = (deviceId: string, metric: string, end: number, count = 1): TelemetryChange => ({ kind: 'bucket', deviceId, metric, end, agg: agg(count) })
const operator = (source: string, window: string, deviceId: string, metric: string, state = 'op'): TelemetryChange => ({ kind: 'operator', source, window, deviceId, metric, state: bytes(state) })
const ops = (xs: Array<{ window: string, deviceId: string, metric: string, state: Buffer }>): string[] => xs.map((o) => `${o.window}/${o.deviceId}/${o.metric}=${o.state.toString()}`).sort()

export function runTelemetryStoreContract (engineName: string, factory: TelemetryStoreFactory): void {
  describe(`TelemetryStore contract: ${engineName}`, () => {
    async function withStore (fn: (store: TelemetryStore, reopen: () => Promise<TelemetryStore>) => Promise<void>): Promise<void> {
      const h = await factory.open()
      try { await fn(h.store, h.reopen) } finally { await h.cleanup() }
    }

    it('stores, lists in name order, replaces and removes window definitions', async () => {
      await withStore(async (store) => {
        expect(await store.listWindows()).toEqual([])
        await store.putWindow('b', { definition: { name: 'b', window: { kind: 'sliding', sizeSeconds: 1 } }, createdAt: 't1' })
        await store.putWindow('a.1', { definition: { name: 'a.1' }, createdAt: 't2' })
        await store.putWindow('a', { definition: { name: 'a' }, createdAt: 't3' })
        expect((await store.listWindows()).map((w) => w.name)).toEqual(['a', 'a.1', 'b'])
        await store.putWindow('b', { definition: { name: 'b', window: { kind: 'sliding', sizeSeconds: 2 } }, createdAt: 't4' })
        expect((await store.listWindows()).find((w) => w.name === 'b')?.stored).toEqual({ definition: { name: 'b', window: { kind: 'sliding', sizeSeconds: 2 } }, createdAt: 't4' })
        await store.removeWindow('a')
        await store.removeWindow('never-stored')
        expect((await store.listWindows()).map((w) => w.name)).toEqual(['a.1', 'b'])
      })
    })

    it('has no state for a source stream that never committed', async () => {
      await withStore(async (store) => {
        expect(await store.loadStream('telemetry')).toEqual({ checkpoint: undefined, policies: [], operators: [] })
        expect(await store.loadWindowState('telemetry', 'w')).toEqual([])
      })
    })

    it('commits checkpoint, snapshots and rollups together and returns the snapshot bytes as given', async () => {
      await withStore(async (store) => {
        const raw = Buffer.from([0, 255, 10, 0x7b])
        await store.commit([
          { kind: 'policy', source: 'telemetry', deviceId: 'd:1', state: raw },
          operator('telemetry', 'w', 'd:1', 'a.b', 'op1'),
          bucket('d:1', 'a.b', T0 + S),
          { kind: 'last', deviceId: 'd:1', metric: 'a.b', value: 7, time: T0 + 500 },
          { kind: 'checkpoint', source: 'telemetry', checkpoint: checkpoint(5) }
        ], { sync: true })
        const s = await store.loadStream('telemetry')
        expect(s.checkpoint).toEqual(checkpoint(5))
        expect(s.policies).toHaveLength(1)
        expect(s.policies[0]?.deviceId).toBe('d:1')
        expect(Buffer.compare(s.policies[0]?.state as Buffer, raw)).toBe(0)
        expect(ops(s.operators)).toEqual(['w/d:1/a.b=op1'])
        expect(await store.readBuckets('d:1', 'a.b', T0, T0 + S)).toEqual([{ end: T0 + S, agg: agg(1) }])
        expect(await store.lastValue('d:1', 'a.b')).toEqual({ value: 7, time: T0 + 500 })
      })
    })

    it('applies a commit in order: a later change of the same thing wins, and so does a later commit', async () => {
      await withStore(async (store) => {
        await store.commit([
          { kind: 'checkpoint', source: 't', checkpoint: checkpoint(1) },
          operator('t', 'w', 'd', 'm', 'first'),
          bucket('d', 'm', T0 + S, 1),
          operator('t', 'w', 'd', 'm', 'second'),
          bucket('d', 'm', T0 + S, 2),
          { kind: 'checkpoint', source: 't', checkpoint: checkpoint(2) }
        ])
        expect((await store.loadStream('t')).checkpoint?.cursor).toBe(2)
        expect(ops(await store.loadWindowState('t', 'w'))).toEqual(['w/d/m=second'])
        expect((await store.readBuckets('d', 'm', T0, T0 + S))[0]?.agg.count).toBe(2)
        await store.commit([{ kind: 'checkpoint', source: 't', checkpoint: checkpoint(3) }, bucket('d', 'm', T0 + S, 3)])
        expect((await store.loadStream('t')).checkpoint?.cursor).toBe(3)
        expect((await store.readBuckets('d', 'm', T0, T0 + S))[0]?.agg.count).toBe(3)
        await store.commit([])
        expect((await store.loadStream('t')).checkpoint?.cursor).toBe(3)
      })
    })

    it('makes none of a commit visible when it fails', async () => {
      await withStore(async (store) => {
        await store.commit([{ kind: 'checkpoint', source: 't', checkpoint: checkpoint(1) }, bucket('d', 'm', T0 + S, 1)])
        // The last change cannot be stored (a BigInt has no JSON): the whole commit fails.
        const bad = { ...agg(1), count: 1n } as unknown as AggregateJSON
        await expect(store.commit([
          operator('t', 'w', 'd', 'm'),
          bucket('d', 'm', T0 + S, 9),
          { kind: 'checkpoint', source: 't', checkpoint: checkpoint(2) },
          { kind: 'bucket', deviceId: 'd', metric: 'm', end: T0 + 2 * S, agg: bad }
        ])).rejects.toThrow()
        expect((await store.loadStream('t')).checkpoint?.cursor).toBe(1)
        expect(await store.loadWindowState('t', 'w')).toEqual([])
        expect(await store.readBuckets('d', 'm', T0, T0 + 9 * S)).toEqual([{ end: T0 + S, agg: agg(1) }])
      })
    })

    it('never shows a reader part of a commit', async () => {
      await withStore(async (store) => {
        const changes: TelemetryChange[] = Array.from({ length: 500 }, (_, i) => operator('t', 'w', `d${i}`, 'm'))
        changes.push({ kind: 'checkpoint', source: 't', checkpoint: checkpoint(1) })
        const seen = new Set<number>()
        const state = { done: false }
        const commit = store.commit(changes).finally(() => { state.done = true })
        // Reads while the commit is under way, each of which must see all of it or none.
        for (let reads = 0; !state.done && reads < 10_000; reads++) {
          const s = await store.loadStream('t')
          seen.add(s.operators.length + (s.checkpoint === undefined ? 0 : 1))
        }
        await commit
        seen.add((await store.loadWindowState('t', 'w')).length + 1)
        expect([...seen].every((n) => n === 0 || n === 501)).toBe(true)
      })
    })

    it('keeps each source stream and each window apart, and clears one window of one stream', async () => {
      await withStore(async (store) => {
        await store.commit([
          { kind: 'checkpoint', source: 't', checkpoint: checkpoint(1) },
          { kind: 'checkpoint', source: 't2', checkpoint: checkpoint(2) },
          { kind: 'policy', source: 't', deviceId: 'd', state: bytes('p') },
          operator('t', 'w', 'd', 'm'), operator('t', 'w', 'e', 'm.x'), operator('t', 'w.2', 'd', 'm'),
          operator('t', 'v', 'd', 'm'), operator('t2', 'w', 'd', 'm')
        ])
        expect(ops(await store.loadWindowState('t', 'w'))).toEqual(['w/d/m=op', 'w/e/m.x=op'])
        expect(ops((await store.loadStream('t2')).operators)).toEqual(['w/d/m=op'])
        await store.clearWindowState('t', 'w')
        const s = await store.loadStream('t')
        expect(ops(s.operators)).toEqual(['v/d/m=op', 'w.2/d/m=op'])
        expect(s.policies.map((p) => p.deviceId)).toEqual(['d'])
        expect(s.checkpoint?.cursor).toBe(1)
        expect(ops((await store.loadStream('t2')).operators)).toEqual(['w/d/m=op'])
        await store.clearWindowState('t', 'never-stored')
      })
    })

    it('reads rollup ranges oldest first, bounds included, one (device, metric) only', async () => {
      await withStore(async (store) => {
        // Ends of different digit counts: the order must be numeric.
        const ends = [T0 + 5 * S, 999_000, T0 + S, 1_000_000, T0 + 3 * S, T0 + 2 * S]
        await store.commit(ends.map((end, i) => bucket('d', 'm', end, i + 1)))
        await store.commit([bucket('d', 'm.x', T0 + 2 * S), bucket('d.x', 'm', T0 + 2 * S), bucket('e', 'm', T0 + 2 * S)])
        expect((await store.readBuckets('d', 'm', 0, T0 + 10 * S)).map((b) => b.end)).toEqual([999_000, 1_000_000, T0 + S, T0 + 2 * S, T0 + 3 * S, T0 + 5 * S])
        expect((await store.readBuckets('d', 'm', T0 + 2 * S, T0 + 5 * S)).map((b) => [b.end, b.agg.count])).toEqual([[T0 + 2 * S, 6], [T0 + 3 * S, 5], [T0 + 5 * S, 1]])
        expect(await store.readBuckets('d', 'm', T0 + 6 * S, T0 + 9 * S)).toEqual([])
        expect(await store.readBuckets('nobody', 'm', 0, T0 + 9 * S)).toEqual([])
        expect((await store.getBuckets([{ deviceId: 'd', metric: 'm', end: T0 + S }, { deviceId: 'd', metric: 'm', end: T0 + 4 * S }, { deviceId: 'e', metric: 'm', end: T0 + 2 * S }])).map((a) => a?.count))
          .toEqual([3, undefined, 1])
      })
    })

    it('reads more rollup buckets than one page holds', async () => {
      await withStore(async (store) => {
        await store.commit(Array.from({ length: 2500 }, (_, i) => bucket('d', 'm', T0 + (i + 1) * S)))
        const got = await store.readBuckets('d', 'm', T0, T0 + 3000 * S)
        expect(got).toHaveLength(2500)
        expect(got.every((b, i) => b.end === T0 + (i + 1) * S)).toBe(true)
      })
    })

    it('lists a device\'s last values in metric order', async () => {
      await withStore(async (store) => {
        await store.commit([
          { kind: 'last', deviceId: 'd', metric: 'temp', value: 1, time: T0 },
          { kind: 'last', deviceId: 'd', metric: 'hum', value: 2, time: T0 + S },
          { kind: 'last', deviceId: 'd', metric: 'temp', value: 3, time: T0 + 2 * S },
          { kind: 'last', deviceId: 'd.x', metric: 'temp', value: 4, time: T0 }
        ])
        expect(await store.lastValues('d')).toEqual([{ metric: 'hum', value: 2, time: T0 + S }, { metric: 'temp', value: 3, time: T0 + 2 * S }])
        expect(await store.lastValues('nobody')).toEqual([])
        expect(await store.lastValue('d', 'temp')).toEqual({ value: 3, time: T0 + 2 * S })
        expect(await store.lastValue('d', 'nothing')).toBeUndefined()
      })
    })

    it('removes rollups through a cutoff: older buckets of every series, and last values read by then', async () => {
      await withStore(async (store) => {
        await store.commit([
          ...[1, 2, 3, 4].map((s) => bucket('d', 'm', T0 + s * S)),
          ...[1, 2].map((s) => bucket('e', 'm', T0 + s * S)),
          { kind: 'last', deviceId: 'd', metric: 'm', value: 4, time: T0 + 3500 },
          { kind: 'last', deviceId: 'e', metric: 'm', value: 2, time: T0 + 1500 }
        ])
        expect(await store.removeRollupsThrough(T0 + 2 * S)).toBe(2)
        expect((await store.readBuckets('d', 'm', 0, T0 + 9 * S)).map((b) => b.end)).toEqual([T0 + 3 * S, T0 + 4 * S])
        expect(await store.readBuckets('e', 'm', 0, T0 + 9 * S)).toEqual([])
        expect(await store.lastValue('d', 'm')).toEqual({ value: 4, time: T0 + 3500 })
        expect(await store.lastValue('e', 'm')).toBeUndefined()
        expect(await store.removeRollupsThrough(T0 + 2 * S)).toBe(1)
      })
    })

    if (factory.durable) {
      it('keeps definitions, stream state and rollups across a reopen', async () => {
        await withStore(async (store, reopen) => {
          await store.putWindow('w', { definition: { name: 'w' }, createdAt: 't' })
          await store.commit([
            { kind: 'policy', source: 't', deviceId: 'd', state: bytes('p') },
            operator('t', 'w', 'd', 'm'),
            bucket('d', 'm', T0 + S),
            { kind: 'last', deviceId: 'd', metric: 'm', value: 1, time: T0 },
            { kind: 'checkpoint', source: 't', checkpoint: checkpoint(7) }
          ], { sync: true })
          const again = await reopen()
          expect(await again.listWindows()).toEqual([{ name: 'w', stored: { definition: { name: 'w' }, createdAt: 't' } }])
          const s = await again.loadStream('t')
          expect(s.checkpoint).toEqual(checkpoint(7))
          expect(s.policies.map((p) => [p.deviceId, p.state.toString()])).toEqual([['d', 'p']])
          expect(ops(s.operators)).toEqual(['w/d/m=op'])
          expect(await again.readBuckets('d', 'm', T0, T0 + S)).toEqual([{ end: T0 + S, agg: agg(1) }])
          expect(await again.lastValues('d')).toEqual([{ metric: 'm', value: 1, time: T0 }])
        })
      })
    }
  })
}
