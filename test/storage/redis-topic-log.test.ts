import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import type { TopicLog } from '../../src/log/types.js'
import { openRedisEngine } from '../../src/storage/redis/engine.js'
import { openRedisTopicLogs, type RedisTopicLogs } from '../../src/storage/redis/redis-topic-log.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// What the redis engine adds to the contract suites (which run on it too): several nodes with
// clocks that disagree, notices across a dropped subscriber connection, sweeps on two nodes at
// once, and keys that stay under their prefix.

const redis = useRedisServer()
const teardown = useTeardown()
const ev = (i: number | string, size = 0): Buffer => Buffer.from(JSON.stringify({ id: String(i), data: 'x'.repeat(size) }))
/** An event with a source and an id: what deduplication keys on. */
const ce = (id: number | string): Buffer => Buffer.from(JSON.stringify({ specversion: '1.0', id: String(id), source: '/s', type: 't' }))

/** A TopicLog core on its own connections, as one node opens it. */
async function node (prefix: string, clock: ManualClock, cacheBytes = 1 << 20): Promise<{ logs: RedisTopicLogs, log: TopicLog }> {
  const conn = await redis.connect(prefix)
  const logs = await openRedisTopicLogs({ redis: conn, clock, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes })
  teardown(async () => { await logs.close(); await conn.close() })
  return { logs, log: logs.view() }
}

describe('redis topic log across nodes', () => {
  it('never lets append times go back along a topic when a node\'s clock is behind', async () => {
    const prefix = redis.freshPrefix()
    const ahead = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 10))
    const behind = new ManualClock(Date.UTC(2026, 0, 1))
    const a = await node(prefix, ahead)
    const b = await node(prefix, behind)
    await a.log.createTopic('t')
    const first = await a.log.append('t', [ev(0)])
    const second = await b.log.append('t', [ev(1), ev(2)])
    expect(second.time).toBe(first.time)
    behind.advance(20_000) // now past the other node's time: its own clock counts again
    const third = await b.log.append('t', [ev(3)])
    expect(third.time).toBe(behind.now())
    // The same times through the writer's cache, and from Redis on a node that cached nothing.
    const fresh = await node(prefix, behind, 0)
    for (const reader of [b.log, fresh.log]) {
      const { records } = await reader.read('t', { offset: 0 }, 10)
      expect(records.map((r) => [r.offset, r.time])).toEqual([[0, first.time], [1, first.time], [2, first.time], [3, third.time]])
    }
    expect((await fresh.log.read('t', { time: first.time + 1 }, 10)).records.map((r) => r.offset)).toEqual([3])
  })

  it('tells a node of every topic\'s position after its notice connection was dropped', async () => {
    const prefix = redis.freshPrefix()
    const clock = new ManualClock()
    const a = await node(prefix, clock)
    const b = await node(prefix, clock)
    await a.log.createTopic('busy')
    await a.log.createTopic('quiet')
    await a.log.append('quiet', [ev(0)])
    const heard: Array<[string, number]> = []
    b.log.onAppend((topic, next) => heard.push([topic, next]))
    const removals: Array<string | undefined> = []
    b.log.onRemove?.((topic) => removals.push(topic))
    // Drop every subscriber connection of the server: notices published meanwhile are lost.
    const admin = await redis.connect(prefix)
    teardown(() => admin.close())
    await admin.client.call('CLIENT', 'KILL', 'TYPE', 'pubsub')
    await a.log.append('busy', [ev(1), ev(2)])
    // Once resubscribed, b announces where every topic stands, also the one nobody appended to.
    await until(() => heard.some(([t, n]) => t === 'quiet' && n === 1) && heard.some(([t, n]) => t === 'busy' && n === 2), { timeoutMs: 10_000, what: 'notices after the reconnect' })
    // Removals it may have missed too: readers drop what they read ahead of any topic.
    expect(removals).toContain(undefined)
    // And hears new appends again.
    await a.log.append('busy', [ev(3)])
    await until(() => heard.some(([t, n]) => t === 'busy' && n === 3), { timeoutMs: 5000, what: 'a notice after the reconnect' })
  })

  it('removes each segment once when two nodes sweep at the same time', async () => {
    const prefix = redis.freshPrefix()
    const clock = new ManualClock()
    const a = await node(prefix, clock)
    const b = await node(prefix, clock)
    await a.log.createTopic('t', { maxAgeSeconds: 60 })
    for (let i = 0; i < 20; i++) await (i % 2 === 0 ? a : b).log.append('t', [ev(i, 100)])
    clock.advance(61_000)
    await a.log.append('t', [ev('kept', 100)])
    const [x, y] = await Promise.all([a.log.enforceRetention(), b.log.enforceRetention()])
    expect(x + y).toBe(20)
    const after = await b.log.getTopic('t')
    expect(after).toMatchObject({ firstOffset: 20, nextOffset: 21, events: 1 })
    expect(after?.bytes).toBe(13 + 4 + ev('kept', 100).length) // one segment: header, length, event
    expect((await a.log.read('t', { offset: 0 }, 10)).records.map((r) => r.offset)).toEqual([20])
  })

  it('deduplicates on a node that has not yet heard the topic deduplicates, and across nodes in one batch each', async () => {
    const prefix = redis.freshPrefix()
    const clock = new ManualClock()
    const a = await node(prefix, clock)
    const b = await node(prefix, clock)
    await a.log.createTopic('t')
    await b.log.append('t', [ce('before')]) // b learns: no deduplication
    await a.log.createTopic('t', undefined, { windowSeconds: 60 })
    // b sends no keys at first; the script refuses and b goes again with them.
    expect((await b.log.append('t', [ce(1), ce(2)])).duplicates).toBeUndefined()
    const [x, y] = await Promise.all([a.log.append('t', [ce(1), ce(3), ce(3)]), b.log.append('t', [ce(2), ce(3)])])
    // 1 and 2 were taken before, and of the three 3s one is appended.
    expect((x.duplicates?.length ?? 0) + (y.duplicates?.length ?? 0)).toBe(4)
    const { records } = await a.log.read('t', { offset: 0 }, 100)
    expect(records.map((r) => (JSON.parse(r.bytes.toString()) as { id: string }).id)).toEqual(['before', '1', '2', '3'])
  })

  it('holds no more deduplication keys than the window needs', async () => {
    const prefix = redis.freshPrefix()
    const clock = new ManualClock()
    const a = await node(prefix, clock)
    await a.log.createTopic('t', undefined, { windowSeconds: 10 })
    await a.log.append('t', [ce(1), ce(2)])
    clock.advance(10_000)
    await a.log.append('t', [ce(3)]) // expires 1 and 2 on the way
    const admin = await redis.connect(prefix)
    teardown(() => admin.close())
    expect(await admin.client.zcard(`${prefix}log:t:t:dedup`)).toBe(1)
    clock.advance(10_000)
    await a.log.enforceRetention() // an idle topic: the sweep expires them
    expect(await admin.client.zcard(`${prefix}log:t:t:dedup`)).toBe(0)
    await a.log.createTopic('t', undefined, { windowSeconds: 0 })
    await a.log.deleteTopic('t')
    expect(await admin.client.keys(`${prefix}log:t:*`)).toEqual([])
  })

  it('keeps every key under its prefix, and two prefixes apart', async () => {
    const prefix = redis.freshPrefix()
    const other = redis.freshPrefix()
    const clock = new ManualClock()
    const { url } = await redis.server()
    const options = { engine: 'redis' as const, dataDir: '/nonexistent', clock, sync: true, log: { maxBatchEvents: 100, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } } }
    const engine = await openRedisEngine(options, { url, keyPrefix: prefix })
    teardown(() => engine.close())
    await engine.topics.createTopic('commands')
    await engine.topics.append('commands', [ev(0)])
    await engine.subscriptions.put('commands', 's', { spec: { mode: 'Queue', filters: {}, startAt: { kind: 'end' } }, startOffset: 0, createdAt: new Date(0).toISOString() })
    await engine.subscriptions.queue('commands', 's').write([{ kind: 'cursor', offset: 1 }])
    await engine.devices.put({ id: 'd:1', hash: 'h', attributes: {}, createdAt: new Date(0).toISOString(), lastSeen: null })
    await engine.devices.touch('d:1', new Date(1).toISOString())
    const seq = await engine.commands.nextSeq()
    await engine.commands.add({ id: 'c1', deviceId: 'd:1', name: 'n', payload: null, timeoutSeconds: 1, ttlSeconds: 1, status: 'pending', result: null, error: null, createdAt: 0, updatedAt: 0, sentAt: null, sendCount: 0, seq }, { topic: 'commands', bytes: ev(1) })
    const second = await openRedisEngine(options, { url, keyPrefix: other })
    teardown(() => second.close())
    expect(await second.topics.listTopics()).toEqual([])
    expect(await second.devices.list()).toEqual([])
    expect(await second.subscriptions.list()).toEqual([])
    // Every key the engine wrote is under its prefix (the server holds only this file's prefixes).
    const admin = await redis.connect(prefix)
    teardown(() => admin.close())
    const keys = await admin.client.keys('*')
    expect(keys.filter((k) => k.startsWith(prefix)).length).toBeGreaterThan(8)
    expect(keys.filter((k) => !k.startsWith('gg-test-'))).toEqual([])
    expect((await engine.topics.read('commands', { offset: 0 }, 10)).records).toHaveLength(2)
  })

  it('reads a topic of large segments in pages of 100 with a few fetches, not one fetch per segment', async () => {
    const prefix = redis.freshPrefix()
    const clock = new ManualClock()
    const writer = await node(prefix, clock)
    await writer.log.createTopic('t')
    for (let s = 0; s < 20; s++) await writer.log.append('t', Array.from({ length: 1000 }, (_, i) => ev(s * 1000 + i, 50)))
    const reader = await node(prefix, clock, 64 << 20)
    const admin = await redis.connect(prefix)
    teardown(() => admin.close())
    const fetches = async (): Promise<number> => Number(/cmdstat_xrange:calls=(\d+)/.exec(await admin.client.info('commandstats'))?.[1] ?? 0)
    const before = await fetches()
    for (let offset = 0; offset < 20_000;) {
      const { records, nextOffset } = await reader.log.read('t', { offset }, 100)
      expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => offset + i))
      offset = nextOffset
    }
    // Segments fetched beyond a page are kept for the next pages (a page used to fetch a hundred
    // segments, keep the one it read from and fetch them again at the next segment: 20 fetches).
    expect(await fetches() - before).toBeLessThanOrEqual(3)
  })
})
