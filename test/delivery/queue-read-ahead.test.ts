import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { openQueue, type SubscriptionQueue } from '../../src/delivery/queue.js'
import type { QueueStore } from '../../src/delivery/store.js'
import type { TopicLog } from '../../src/log/types.js'
import { openStorageEngine, type StorageEngine } from '../../src/storage/engine.js'
import { openRedisTopicLogs } from '../../src/storage/redis/redis-topic-log.js'
import { openOrdersQueue } from '../helpers/queue.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

// A queue reads the records past its cursor ahead, outside its calls' turn (queue.ts), and a
// take starts from them. What it hands out must stay exactly what reading the log in the take
// would hand out: every event once to concurrent receivers, none passed by, events appended
// later found, and nothing served that retention or a delete removed. On each engine; on
// redis the queue's node reads while another node appends, trims and deletes, as in a cluster.

const redis = useRedisServer()
const teardown = useTeardown()

const LOCK_MS = 3_600_000
const ev = (tag: string, i: number): Buffer => Buffer.from(JSON.stringify({ id: `${tag}-${i}` }))
const idOf = (bytes: Buffer): string => (JSON.parse(bytes.toString('utf8')) as { id: string }).id
const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i)
const logOptions = { maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } }

interface Setup {
  clock: ManualClock
  /** Where events are appended, trimmed and deleted (on redis: another node). */
  writer: TopicLog
  queue: SubscriptionQueue
  /** Reads the queue made: started and answered. */
  reads: { started: number, done: number }
  /** Removal notices the queue's log has passed on. */
  removals: () => number
  /** Another queue on the same log, for push (`s2`, every event matching). */
  openPush: () => Promise<SubscriptionQueue>
}

async function memoryEngine (clock: ManualClock, engine: 'memory' | 'leveldb' = 'memory'): Promise<StorageEngine> {
  const dir = engine === 'leveldb' ? await tempDir() : undefined
  if (dir !== undefined) teardown(async () => { await dir.remove() })
  const e = await openStorageEngine({ engine, dataDir: dir?.path ?? '/nonexistent', clock, sync: false, log: logOptions })
  teardown(async () => { await e.close() })
  return e
}

/** The queue's log, counting its reads. */
function counted (log: TopicLog): { log: TopicLog, reads: Setup['reads'] } {
  const reads = { started: 0, done: 0 }
  return {
    reads,
    log: {
      ...log,
      read: async (topic, from, limit) => {
        reads.started++
        try { return await log.read(topic, from, limit) } finally { reads.done++ }
      }
    }
  }
}

async function setup (kind: 'memory' | 'leveldb' | 'redis', retention?: { maxAgeSeconds: number }): Promise<Setup> {
  const clock = new ManualClock(Date.UTC(2026, 0, 1))
  let writer: TopicLog
  let reader: TopicLog
  let store: QueueStore
  let pushStore: QueueStore
  if (kind === 'redis') {
    const prefix = redis.freshPrefix()
    const views: TopicLog[] = []
    for (let i = 0; i < 2; i++) {
      const conn = await redis.connect(prefix)
      const logs = await openRedisTopicLogs({ redis: conn, clock, ...logOptions })
      teardown(async () => { await logs.close(); await conn.close() })
      views.push(logs.view())
    }
    ;[writer, reader] = views as [TopicLog, TopicLog]
    const engine = await memoryEngine(clock)
    store = engine.subscriptions.queue('orders', 's1')
    pushStore = engine.subscriptions.queue('orders', 's2')
  } else {
    const engine = await memoryEngine(clock, kind)
    writer = reader = engine.topics
    store = engine.subscriptions.queue('orders', 's1')
    pushStore = engine.subscriptions.queue('orders', 's2')
  }
  await writer.createTopic('orders', retention)
  let removals = 0
  teardown(reader.onRemove?.(() => { removals++ }) ?? (() => {}))
  const { log, reads } = counted(reader)
  const queue = await openOrdersQueue(store, log, clock)
  teardown(async () => { await queue.close() })
  const openPush = async (): Promise<SubscriptionQueue> => {
    const push = await openQueue({
      store: pushStore,
      log,
      topic: 'orders',
      name: 's2',
      matcher: () => true,
      matchesAll: true,
      clock,
      limits: { maxDeliveryCount: 10, ttlMs: 86_400_000, maxPending: 1000 },
      parse: () => undefined,
      push: true
    }, 0)
    teardown(async () => { await push.close() })
    return push
  }
  return { clock, writer, queue, reads, removals: () => removals, openPush }
}

/** Every read the queue started has been answered (the read-ahead is in memory). */
const readsDone = async (s: Setup): Promise<void> => {
  await until(() => s.reads.done === s.reads.started, { what: 'the queue\'s reads to finish', timeoutMs: 5000, everyMs: 2 })
}

/** The queue's log has heard of a removal after `before` (on redis: another node's notice). */
const heardRemoval = async (s: Setup, before: number): Promise<void> => {
  await until(() => s.removals() > before, { what: 'the removal notice', timeoutMs: 5000, everyMs: 2 })
}

describe.each(['memory', 'leveldb', 'redis'] as const)('queue read-ahead on %s', (kind) => {
  it('serves the next take from what it read ahead, and finds the events appended after it', async () => {
    const s = await setup(kind)
    await s.writer.append('orders', range(0, 25).map((i) => ev('a', i)))
    expect((await s.queue.take(10, LOCK_MS)).map((d) => d.offset)).toEqual(range(0, 10))
    await readsDone(s)
    const before = s.reads.started
    const second = await s.queue.take(10, LOCK_MS)
    expect(second.map((d) => d.offset)).toEqual(range(10, 20))
    expect(second.map((d) => idOf(d.bytes))).toEqual(range(10, 20).map((i) => `a-${i}`))
    // At most the background read past them: the take itself read nothing.
    expect(s.reads.started - before).toBeLessThanOrEqual(1)
    await s.writer.append('orders', range(25, 45).map((i) => ev('a', i)))
    const rest = await s.queue.take(100, LOCK_MS)
    expect(rest.map((d) => d.offset)).toEqual(range(20, 45))
    expect(rest.map((d) => idOf(d.bytes))).toEqual(range(20, 45).map((i) => `a-${i}`))
    expect(await s.queue.take(100, LOCK_MS)).toEqual([])
  })

  it.each([false, true])('hands every event to concurrent takes exactly once while events are appended (push: %s)', async (push) => {
    const s = await setup(kind)
    const queue = push ? await s.openPush() : s.queue
    for (let i = 0; i < 30; i++) await s.writer.append('orders', range(i * 10, i * 10 + 10).map((j) => ev('a', j)))
    const total = 500
    const appending = (async () => {
      for (let from = 300; from < total; from += 20) {
        await s.writer.append('orders', range(from, from + 20).map((j) => ev('a', j)))
        await new Promise((resolve) => setImmediate(resolve))
      }
    })()
    const got: number[] = []
    const ids: string[] = []
    const receiver = async (max: number): Promise<void> => {
      for (let round = 0; round < 1000 && got.length < total; round++) {
        const batch = await queue.take(max, LOCK_MS)
        for (const d of batch) { got.push(d.offset); ids.push(idOf(d.bytes)) }
        // Acknowledged as a receiver would, so the queue keeps going (maxPending).
        await queue.acknowledge(batch.map((d) => d.lockToken))
        if (batch.length === 0) await new Promise((resolve) => setTimeout(resolve, 2))
      }
    }
    await Promise.all([appending, ...[17, 17, 30, 5, 100, 23].map(receiver)])
    expect(got).toHaveLength(total)
    expect([...got].sort((a, b) => a - b)).toEqual(range(0, total))
    expect(ids.sort()).toEqual(range(0, total).map((i) => `a-${i}`).sort())
    expect(queue.counters.delivered).toBe(total)
  })

  it('serves nothing retention removed after it was read ahead', async () => {
    const s = await setup(kind, { maxAgeSeconds: 60 })
    for (let i = 0; i < 5; i++) await s.writer.append('orders', [ev('a', 2 * i), ev('a', 2 * i + 1)])
    expect((await s.queue.take(4, LOCK_MS)).map((d) => d.offset)).toEqual(range(0, 4))
    await readsDone(s) // offsets 4..9 are read ahead now
    s.clock.advance(120_000)
    await s.writer.append('orders', range(10, 15).map((i) => ev('a', i)))
    const before = s.removals()
    expect(await s.writer.enforceRetention()).toBe(10)
    await heardRemoval(s, before)
    const next = await s.queue.take(10, LOCK_MS)
    expect(next.map((d) => d.offset)).toEqual(range(10, 15))
    expect(next.map((d) => idOf(d.bytes))).toEqual(range(10, 15).map((i) => `a-${i}`))
  })

  it('serves nothing of a deleted topic read ahead before it was created again', async () => {
    const s = await setup(kind)
    await s.writer.append('orders', range(0, 10).map((i) => ev('old', i)))
    expect((await s.queue.take(4, LOCK_MS)).map((d) => d.offset)).toEqual(range(0, 4))
    await readsDone(s)
    const before = s.removals()
    expect(await s.writer.deleteTopic('orders')).toBe(true)
    await heardRemoval(s, before)
    await s.writer.createTopic('orders')
    await s.writer.append('orders', range(0, 10).map((i) => ev('new', i)))
    const next = await s.queue.take(10, LOCK_MS)
    expect(next.map((d) => d.offset)).toEqual(range(4, 10))
    expect(next.map((d) => idOf(d.bytes))).toEqual(range(4, 10).map((i) => `new-${i}`))
  })
})
