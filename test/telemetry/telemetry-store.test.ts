import { describe, expect, it } from 'vitest'
import { levelTelemetryStore } from '../../src/storage/level/telemetry-store.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { aggregateFromBytes, isAggregateBytes } from '../../src/telemetry/aggregate-bytes.js'
import { redisSubscriptionLeases, SUBSCRIPTION_STORE_SCRIPTS } from '../../src/storage/redis/redis-subscription-store.js'
import { redisTelemetryStore } from '../../src/storage/redis/redis-telemetry-store.js'
import type { TelemetryStore } from '../../src/telemetry/store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runTelemetryStoreContract } from './telemetry-store.contract.js'

// The TelemetryStore contract on every embedded engine.
for (const engine of EMBEDDED_ENGINES) {
  runTelemetryStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      return {
        store: levelTelemetryStore(handle.store),
        reopen: async () => levelTelemetryStore(await handle.reopen()),
        cleanup: handle.cleanup
      }
    }
  })
}

// Data directories written before the port keep working: the adapter reads the layout that
// telemetry wrote into its sublevels itself.
describe('level telemetry store: the existing layout', () => {
  it('reads definitions, stream state and rollups as the previous code wrote them', async () => {
    const handle = await (EMBEDDED_ENGINES.find((e) => e.durable) ?? EMBEDDED_ENGINES[0])!.open()
    try {
      const json = handle.store.json('telemetry')
      const state = handle.store.binary('telemetry-state')
      const enc = (v: unknown): Buffer => Buffer.from(JSON.stringify(v))
      await json.put('w!w1', { definition: { name: 'w1' }, createdAt: '2026-01-01T00:00:00.000Z' })
      await json.put('r!d1!temp!001767225601000', { count: 2 })
      await json.put('l!d1!temp', { value: 21.5, time: 1767225600500 })
      await state.put('s!telemetry!c', enc({ cursor: 42, outputFrom: { 'telemetry-windows': 3 }, unsent: [] }))
      await state.put('s!telemetry!p!d1', enc({ seq: 1 }))
      await state.put('s!telemetry!o!w1!d1!temp', enc({ panes: [] }))
      const store = levelTelemetryStore(handle.store)
      expect(await store.listWindows()).toEqual([{ name: 'w1', stored: { definition: { name: 'w1' }, createdAt: '2026-01-01T00:00:00.000Z' } }])
      expect(await store.readBuckets('d1', 'temp', 0, 2e12)).toEqual([{ end: 1767225601000, agg: { count: 2 } }])
      expect(await store.lastValues('d1')).toEqual([{ metric: 'temp', value: 21.5, time: 1767225600500 }])
      const s = await store.loadStream('telemetry')
      expect(s.checkpoint).toEqual({ cursor: 42, outputFrom: { 'telemetry-windows': 3 }, unsent: [] })
      expect(s.policies.map((p) => [p.deviceId, p.state.toString()])).toEqual([['d1', '{"seq":1}']])
      expect(s.operators.map((o) => [o.window, o.deviceId, o.metric, o.state.toString()])).toEqual([['w1', 'd1', 'temp', '{"panes":[]}']])
      // And writes it the same way.
      await store.commit([{ kind: 'operator', source: 'telemetry', window: 'w1', deviceId: 'd2', metric: 'hum', state: enc({ panes: [1] }) }])
      expect((await state.get('s!telemetry!o!w1!d2!hum'))?.toString()).toBe('{"panes":[1]}')
      // Except rollup buckets: 0.11.0-0.18.0 wrote them as JSON records, this release as bytes;
      // all three forms are read.
      const agg = { count: 1, sum: 2, min: 2, max: 2, mean: 2, m2: 0, firstTime: 1767225601500, first: 2, lastTime: 1767225601500, last: 2, sketch: { z: 0, p: [35, 1], n: [] } }
      await json.put('r!d1!temp!001767225603000', [1, 3, 3, 3, 3, 0, 1767225602500, 3, 1767225602500, 3, 0, [36, 1], []])
      const recordAgg = { count: 1, sum: 3, min: 3, max: 3, mean: 3, m2: 0, firstTime: 1767225602500, first: 3, lastTime: 1767225602500, last: 3, sketch: { z: 0, p: [36, 1], n: [] } }
      await store.commit([{ kind: 'bucket', deviceId: 'd1', metric: 'temp', end: 1767225602000, agg }])
      const written = await handle.store.binary('telemetry').get('r!d1!temp!001767225602000')
      expect(written !== undefined && isAggregateBytes(written) ? aggregateFromBytes(written) : written).toEqual(agg)
      const all = [{ end: 1767225601000, agg: { count: 2 } }, { end: 1767225602000, agg }, { end: 1767225603000, agg: recordAgg }]
      expect(await store.readBuckets('d1', 'temp', 0, 2e12)).toEqual(all)
      expect(await store.getBuckets(all.map((b) => ({ deviceId: 'd1', metric: 'temp', end: b.end })))).toEqual(all.map((b) => b.agg))
    } finally {
      await handle.cleanup()
    }
  })
})

// The redis engine: a redis-server of this file, a fresh key prefix per case; `reopen` is a new
// client on the same server.
const redis = useRedisServer()
runTelemetryStoreContract('redis', {
  durable: true,
  open: async () => {
    const prefix = redis.freshPrefix()
    const conns: RedisConnection[] = []
    const open = async (): Promise<TelemetryStore> => {
      const conn = await redis.connect(prefix)
      conns.push(conn)
      return await redisTelemetryStore(conn)
    }
    return {
      store: await open(),
      reopen: open,
      cleanup: async () => { for (const c of conns) await c.close() }
    }
  }
})

// On a cluster a stream's commits carry its lease: a node that lost the stream writes nothing.
describe('redis telemetry store: commits fenced by the stream lease', () => {
  it('applies a fenced commit whole while the lease stands, and refuses it whole once another node took the stream', async () => {
    const prefix = redis.freshPrefix()
    const a = await redis.connect(prefix)
    const b = await redis.connect(prefix)
    try {
      for (const c of [a, b]) await c.loadScripts(SUBSCRIPTION_STORE_SCRIPTS)
      const store = await redisTelemetryStore(a)
      const key = '$telemetry!telemetry'
      const first = await redisSubscriptionLeases(a).acquire(key, 'node-a', 60_000)
      expect(first).toBeDefined()
      const fence = { key, lease: first! }
      // Large enough to be staged in several chunks: applied as one.
      const big = Array.from({ length: 3000 }, (_, i) => ({ kind: 'bucket' as const, deviceId: `d${i % 50}`, metric: 'temp', end: 1_000 * (i + 1), agg: { count: 1, sum: i } as never }))
      await store.commit([...big, { kind: 'checkpoint', source: 'telemetry', checkpoint: { cursor: 7, outputFrom: {}, unsent: [] } }], { fence })
      expect((await store.loadStream('telemetry')).checkpoint?.cursor).toBe(7)
      expect(await store.readBuckets('d0', 'temp', 0, 1e12)).toHaveLength(60)
      // The lease ends (as when it lapses) and node B takes the stream: A's next commit is refused with nothing written.
      await redisSubscriptionLeases(b).clear(key)
      const second = await redisSubscriptionLeases(b).acquire(key, 'node-b', 60_000)
      expect(second?.fence).toBe(first!.fence + 1)
      await expect(store.commit([
        { kind: 'policy', source: 'telemetry', deviceId: 'd1', state: Buffer.from('x') },
        { kind: 'checkpoint', source: 'telemetry', checkpoint: { cursor: 99, outputFrom: {}, unsent: [] } }
      ], { fence })).rejects.toMatchObject({ code: 'TELEMETRY_NOT_OWNED' })
      const after = await store.loadStream('telemetry')
      expect(after.checkpoint?.cursor).toBe(7)
      expect(after.policies).toEqual([])
      // The new owner's fenced commit goes through; nothing staged is left behind.
      await (await redisTelemetryStore(b)).commit([{ kind: 'checkpoint', source: 'telemetry', checkpoint: { cursor: 8, outputFrom: {}, unsent: [] } }], { fence: { key, lease: second! } })
      expect((await store.loadStream('telemetry')).checkpoint?.cursor).toBe(8)
      expect(await a.client.keys(`${prefix}tm:stage:*`)).toEqual([])
    } finally { await a.close(); await b.close() }
  })
})

// Rollup buckets are stored as positional records since 0.11.0; members written before still read.
describe('redis telemetry store: rollups stored before 0.11.0', () => {
  it('reads a bucket stored as an AggregateJSON object next to one stored as a record', async () => {
    const prefix = redis.freshPrefix()
    const conn = await redis.connect(prefix)
    try {
      const store = await redisTelemetryStore(conn)
      const old = { count: 2, sum: 4, min: 2, max: 2, mean: 2, m2: 0, firstTime: 500, first: 2, lastTime: 900, last: 2, sketch: { z: 0, p: [35, 2], n: [] } }
      const agg = { count: 1, sum: -1, min: -1, max: -1, mean: -1, m2: 0, firstTime: 1500, first: -1, lastTime: 1500, last: -1, sketch: { z: 0, p: [], n: [0, 1] } }
      await conn.client.zadd(`${prefix}tm:r:d1!temp`, 1000, `1000|${JSON.stringify(old)}`)
      await store.commit([{ kind: 'bucket', deviceId: 'd1', metric: 'temp', end: 2000, agg }])
      expect(await conn.client.zrangebyscore(`${prefix}tm:r:d1!temp`, 2000, 2000)).toEqual([`2000|${JSON.stringify([1, -1, -1, -1, -1, 0, 1500, -1, 1500, -1, 0, [], [0, 1]])}`])
      expect(await store.readBuckets('d1', 'temp', 0, 1e12)).toEqual([{ end: 1000, agg: old }, { end: 2000, agg }])
      expect(await store.getBuckets([{ deviceId: 'd1', metric: 'temp', end: 1000 }, { deviceId: 'd1', metric: 'temp', end: 2000 }])).toEqual([old, agg])
    } finally { await conn.close() }
  })
})
