import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { createLocalLeases } from '../../src/core/leases.js'
import type { TopicLog } from '../../src/log/types.js'
import { openMemoryDb } from '../../src/storage/level/db.js'
import { openLevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { levelTwinStore } from '../../src/storage/level/twin-store.js'
import { foldEvent, sourceEvent } from '../../src/twins/fold.js'
import { emptyReported, type ReportedState } from '../../src/twins/model.js'
import { startProjection, type Projection, type ProjectionOptions } from '../../src/twins/projection.js'
import type { TwinStore } from '../../src/twins/store.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// The projection over a real log and store (the memory engine), on a manual clock: it folds
// every source topic, pages twins through a small cache, resumes from its cursor, and on a
// cluster projects only while it holds the lease.

const teardown = useTeardown()
const WAIT = { timeoutMs: 10_000 }
const T0 = Date.UTC(2026, 0, 1)
const SOURCES = ['telemetry', 'events']

async function setup (): Promise<{ log: TopicLog, store: TwinStore, clock: ManualClock }> {
  const db = await openMemoryDb()
  const clock = new ManualClock(T0)
  const logs = await openLevelTopicLogs({ storage: db, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
  teardown(async () => { await logs.close(); await db.close() })
  const log = logs.view()
  for (const t of [...SOURCES, 'twins', 'other']) await log.createTopic(t)
  return { log, store: levelTwinStore(db, { sync: false, logs }), clock }
}

const event = (n: number, deviceId: string, data: unknown): Buffer =>
  Buffer.from(JSON.stringify({ specversion: '1.0', id: `e${n}`, source: '/t', type: 't', time: new Date(T0 + n * 1000).toISOString(), deviceid: deviceId, data }))

function start (opts: Partial<ProjectionOptions> & Pick<ProjectionOptions, 'log' | 'store' | 'clock'>): Projection {
  const p = startProjection({ sources: SOURCES, snapshotEvery: 4, cacheDevices: 2, batchEvents: 7, stepIntervalMs: 0, events: { topic: 'twins', namespace: 'gw' }, onError: (err) => { throw err }, ...opts })
  teardown(() => p.close())
  return p
}

/** Appends `count` events over six devices and both topics; returns them as (topic, bytes) in append order. */
async function appendSome (log: TopicLog, from: number, count: number): Promise<void> {
  for (let n = from; n < from + count; n++) {
    const topic = SOURCES[n % 2] as string
    await log.append(topic, [event(n, `d${n % 6}`, n % 5 === 0 ? { same: true } : { n: n % 3, [`f${n % 4}`]: n })])
  }
  // Not device state: binary data, no deviceid, another topic.
  await log.append('telemetry', [Buffer.from(JSON.stringify({ id: 'x', deviceid: 'd1', data_base64: 'AA==' })), Buffer.from(JSON.stringify({ id: 'y', data: { n: 9 } }))])
  await log.append('other', [event(999, 'd1', { other: 1 })])
}

/**
 * The twins folding the stored events in memory. Each device's events are all in one topic
 * (d{n % 6} on SOURCES[n % 2]), so its twin depends only on that topic's order, not on how the
 * projection's steps interleaved the topics.
 */
async function reference (log: TopicLog): Promise<Map<string, ReportedState>> {
  const states = new Map<string, ReportedState>()
  const cursors: Record<string, number> = {}
  for (;;) {
    let any = false
    for (const topic of SOURCES) {
      const r = await log.read(topic, { offset: cursors[topic] ?? 0 }, 7)
      cursors[topic] = r.nextOffset
      for (const rec of r.records) {
        any = true
        const ev = sourceEvent(topic, rec.offset, rec.time, JSON.parse(rec.bytes.toString()))
        if (ev === undefined) continue
        states.set(ev.deviceId, foldEvent(states.get(ev.deviceId) ?? emptyReported(ev.deviceId), ev).state)
      }
    }
    if (!any) return states
  }
}

async function caughtUp (p: Projection, log: TopicLog): Promise<void> {
  await until(async () => {
    for (const t of SOURCES) if ((p.positions()[t] ?? 0) !== (await log.getTopic(t))?.nextOffset) return false
    return true
  }, { ...WAIT, what: 'the projection to read every source topic' })
}

describe('twin projection', () => {
  it('folds every source topic into the twins, paging twins through a cache smaller than the devices', async () => {
    const { log, store, clock } = await setup()
    await appendSome(log, 0, 40)
    const p = start({ log, store, clock })
    await caughtUp(p, log)
    await appendSome(log, 40, 40)
    await caughtUp(p, log)
    const expected = await reference(log)
    for (const [id, state] of expected) expect(await store.reported(id), id).toEqual(state)
    expect(await store.reported('nobody')).toBeUndefined()
    // The device.twin.changed events cover each device's versions once, in order.
    const covered = new Map<string, number[]>()
    for (const r of (await log.read('twins', { offset: 0 }, 10_000)).records) {
      const { data } = JSON.parse(r.bytes.toString()) as { data: { deviceId: string, fromVersion: number, version: number } }
      const list = covered.get(data.deviceId) ?? []
      for (let v = data.fromVersion; v <= data.version; v++) list.push(v)
      covered.set(data.deviceId, list)
    }
    for (const [id, state] of expected) expect(covered.get(id) ?? [], id).toEqual(Array.from({ length: state.version }, (_, i) => i + 1))
  })

  it('resumes from its stored cursor after a restart, applying each event once', async () => {
    const { log, store, clock } = await setup()
    await appendSome(log, 0, 30)
    const first = start({ log, store, clock })
    await caughtUp(first, log)
    await first.close()
    await appendSome(log, 30, 30)
    const second = start({ log, store, clock })
    await caughtUp(second, log)
    const expected = await reference(log)
    for (const [id, state] of expected) {
      expect(await store.reported(id), id).toEqual(state)
      expect((await store.changes(id, 0, 1000)).map((c) => c.version)).toEqual(Array.from({ length: state.version }, (_, i) => i + 1))
    }
  })

  it('on a cluster projects only while it holds the lease, and another node takes over when it stops', async () => {
    const { log, store, clock } = await setup()
    const leases = createLocalLeases(clock)
    const cluster = { leases, intervalMs: 100, leaseMs: 500 }
    const a = start({ log, store, clock, cluster: { ...cluster, node: 'a' } })
    await until(() => a.owner, { ...WAIT, what: 'node a to take the lease' })
    const b = start({ log, store, clock, cluster: { ...cluster, node: 'b' } })
    await appendSome(log, 0, 20)
    await caughtUp(a, log)
    clock.advance(100)
    expect(b.owner).toBe(false)
    expect(b.positions()).toEqual({})
    await a.close()
    clock.advance(100)
    await until(() => b.owner, { ...WAIT, what: 'node b to take the lease' })
    await appendSome(log, 20, 20)
    await caughtUp(b, log)
    const expected = await reference(log)
    for (const [id, state] of expected) expect(await store.reported(id), id).toEqual(state)
  })
})
