import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import type { RetentionPolicy, TopicLog } from '../../src/log/types.js'
import { until } from '../helpers/wait.js'

// The behaviour every log engine must have. An engine's test calls runTopicLogContract with
// a factory that opens the log on a fresh store with a given clock.

export interface LogFactory {
  /**
   * Opens a log on a fresh store. `another` opens a second TopicLog instance over the same
   * store (as another process would on a shared engine); `reopen` (durable engines only)
   * closes the store and opens the same location again: a restart.
   */
  open: (clock: ManualClock, defaults?: Partial<RetentionPolicy>) => Promise<{
    log: TopicLog
    another: () => Promise<TopicLog>
    reopen?: () => Promise<TopicLog>
    cleanup: () => Promise<void>
  }>
}

const ev = (i: number | string, size = 0): Buffer => Buffer.from(JSON.stringify({ specversion: '1.0', id: String(i), source: '/c', type: 't', data: 'x'.repeat(size) }))
const ids = (records: Array<{ bytes: Buffer }>): string[] => records.map((r) => (JSON.parse(r.bytes.toString()) as { id: string }).id)

export function runTopicLogContract (name: string, factory: LogFactory, durable: boolean): void {
  describe(`TopicLog contract: ${name}`, () => {
    async function setup (defaults?: Partial<RetentionPolicy>) {
      const clock = new ManualClock()
      const h = await factory.open(clock, defaults)
      return { clock, ...h }
    }

    it('gives concurrent appends gap-free, strictly increasing offsets and loses none', async () => {
      const { log, cleanup } = await setup()
      try {
        await log.createTopic('t')
        const results = await Promise.all(Array.from({ length: 200 }, (_, i) => log.append('t', [ev(`${i}a`), ev(`${i}b`)])))
        const firsts = results.map((r) => r.firstOffset).sort((a, b) => a - b)
        expect(firsts).toEqual(Array.from({ length: 200 }, (_, i) => i * 2))
        for (const r of results) expect(r.nextOffset).toBe(r.firstOffset + 2)
        const { records, nextOffset } = await log.read('t', { offset: 0 }, 1000)
        expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 400 }, (_, i) => i))
        expect(nextOffset).toBe(400)
        // Each append's two events are adjacent and in order.
        for (const r of results) {
          const pair = records.slice(r.firstOffset, r.firstOffset + 2)
          expect(ids(pair)[0]?.endsWith('a')).toBe(true)
          expect(ids(pair)[1]?.endsWith('b')).toBe(true)
        }
      } finally { await log.close(); await cleanup() }
    })

    it('reads from an offset inside a batch, with a limit', async () => {
      const { log, cleanup } = await setup()
      try {
        await log.createTopic('t')
        await log.append('t', [ev(0), ev(1), ev(2), ev(3)])
        await log.append('t', [ev(4), ev(5)])
        const page = await log.read('t', { offset: 2 }, 3)
        expect(ids(page.records)).toEqual(['2', '3', '4'])
        expect(page.nextOffset).toBe(5)
        expect((await log.read('t', { offset: 6 }, 10)).records).toEqual([])
      } finally { await log.close(); await cleanup() }
    })

    it('reads from the first event appended at or after a time', async () => {
      const { log, clock, cleanup } = await setup()
      try {
        await log.createTopic('t')
        await log.append('t', [ev(0)])
        clock.advance(1000)
        const t1 = clock.now()
        await log.append('t', [ev(1), ev(2)])
        clock.advance(1000)
        await log.append('t', [ev(3)])
        expect(ids((await log.read('t', { time: t1 }, 10)).records)).toEqual(['1', '2', '3'])
        expect(ids((await log.read('t', { time: t1 + 1 }, 10)).records)).toEqual(['3'])
        expect((await log.read('t', { time: t1 + 5000 }, 10))).toEqual({ records: [], nextOffset: 4 })
        const [first] = (await log.read('t', { time: 0 }, 1)).records
        expect(first?.time).toBe(t1 - 1000)
      } finally { await log.close(); await cleanup() }
    })

    it.skipIf(!durable)('keeps topics, offsets and events across a close and reopen', async () => {
      const { log, reopen, cleanup } = await setup()
      if (reopen === undefined) throw new Error('a durable engine reopens')
      await log.createTopic('a', { maxAgeSeconds: 10 })
      await log.createTopic('b')
      await log.append('a', [ev(0), ev(1)])
      await log.append('b', [ev('b0')])
      await log.close()
      const again = await reopen()
      try {
        expect((await again.listTopics()).map((t) => [t.name, t.firstOffset, t.nextOffset])).toEqual([['a', 0, 2], ['b', 0, 1]])
        expect((await again.getTopic('a'))?.retention.maxAgeSeconds).toBe(10)
        expect((await again.append('a', [ev(2)])).firstOffset).toBe(2)
        expect(ids((await again.read('a', { offset: 0 }, 10)).records)).toEqual(['0', '1', '2'])
      } finally { await again.close(); await cleanup() }
    })

    it(`removes the oldest events by age, and keeps offsets after everything expired${durable ? ' and a reopen' : ''}`, async () => {
      const { log, clock, reopen, cleanup } = await setup()
      await log.createTopic('t', { maxAgeSeconds: 60 })
      await log.append('t', [ev(0), ev(1)])
      clock.advance(30_000)
      await log.append('t', [ev(2)])
      clock.advance(31_000) // the first batch is now 61 s old, the second 31 s
      expect(await log.enforceRetention()).toBe(2)
      expect((await log.getTopic('t'))?.firstOffset).toBe(2)
      expect(ids((await log.read('t', { offset: 0 }, 10)).records)).toEqual(['2'])
      clock.advance(60_000)
      expect(await log.enforceRetention()).toBe(1)
      expect(await log.getTopic('t')).toMatchObject({ firstOffset: 3, nextOffset: 3, events: 0, bytes: 0 })
      await log.close()
      const again = await (reopen ?? (async () => { await log.close(); return log }))()
      if (reopen === undefined) { await cleanup(); return }
      try {
        expect(await again.getTopic('t')).toMatchObject({ firstOffset: 3, nextOffset: 3, bytes: 0 })
        expect((await again.append('t', [ev(3)])).firstOffset).toBe(3)
      } finally { await again.close(); await cleanup() }
    })

    it('removes the oldest events while a topic is over its byte limit', async () => {
      const { log, reopen, cleanup } = await setup()
      await log.createTopic('t', { maxBytes: 5000 })
      for (let i = 0; i < 10; i++) await log.append('t', [ev(i, 1000)])
      const before = (await log.getTopic('t'))?.bytes ?? 0
      expect(before).toBeGreaterThan(10_000)
      const removed = await log.enforceRetention()
      const after = await log.getTopic('t')
      expect(after?.bytes).toBeLessThanOrEqual(5000)
      expect(after?.bytes).toBeGreaterThan(5000 - 1200) // no more than needed went
      expect(after?.firstOffset).toBe(removed)
      expect(ids((await log.read('t', { offset: 0 }, 100)).records)[0]).toBe(String(removed))
      await log.close()
      if (reopen === undefined) { await cleanup(); return }
      const again = await reopen()
      try {
        expect((await again.getTopic('t'))?.bytes).toBe(after?.bytes)
      } finally { await again.close(); await cleanup() }
    })

    it('applies the default retention to topics that set none', async () => {
      const { log, clock, cleanup } = await setup({ maxAgeSeconds: 10, maxBytes: 0 })
      try {
        await log.createTopic('t')
        await log.append('t', [ev(0)])
        clock.advance(11_000)
        expect(await log.enforceRetention()).toBe(1)
      } finally { await log.close(); await cleanup() }
    })

    it('refuses appends and reads on unknown or deleted topics', async () => {
      const { log, cleanup } = await setup()
      try {
        await expect(log.append('nope', [ev(0)])).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' })
        await log.createTopic('t')
        await log.append('t', [ev(0)])
        expect(await log.deleteTopic('t')).toBe(true)
        await expect(log.read('t', { offset: 0 }, 1)).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' })
        expect(await log.deleteTopic('t')).toBe(false)
        await log.createTopic('t')
        expect((await log.read('t', { offset: 0 }, 10)).records).toEqual([])
      } finally { await log.close(); await cleanup() }
    })

    it('wakes a waiting reader when an event is appended, and times out on the clock', async () => {
      const { log, clock, cleanup } = await setup()
      try {
        await log.createTopic('t')
        const woken = log.waitForAppend('t', 0, 30_000)
        await log.append('t', [ev(0)])
        expect(await woken).toBe(true)
        const timedOut = log.waitForAppend('t', 1, 5_000)
        clock.advance(5_000)
        expect(await timedOut).toBe(false)
      } finally { await log.close(); await cleanup() }
    })

    it('refuses appends after close', async () => {
      const { log, cleanup } = await setup()
      await log.createTopic('t')
      await log.close()
      await expect(log.append('t', [ev(0)])).rejects.toMatchObject({ code: 'SHUTTING_DOWN' })
      await cleanup()
    })

    describe('deduplication', () => {
      const src = (source: string, id: string): Buffer => Buffer.from(JSON.stringify({ specversion: '1.0', id, source, type: 't' }))

      it('appends an event whose (source, id) the topic took within its window only once, and again after the window', async () => {
        const { log, clock, cleanup } = await setup()
        try {
          const { topic } = await log.createTopic('t', undefined, { windowSeconds: 60 })
          expect(topic.deduplication).toEqual({ windowSeconds: 60 })
          expect(await log.append('t', [ev(1)])).toMatchObject({ firstOffset: 0, nextOffset: 1 })
          clock.advance(59_999)
          const again = await log.append('t', [ev(1), ev(2)])
          expect(again).toMatchObject({ firstOffset: 1, nextOffset: 2, duplicates: [0] })
          // Another source with the same id is another event.
          expect((await log.append('t', [src('/other', '1')])).duplicates).toBeUndefined()
          clock.advance(1) // the first append is 60 s old: its window has passed
          expect(await log.append('t', [ev(1)])).toMatchObject({ firstOffset: 3, nextOffset: 4 })
          expect((await log.append('t', [ev(1)])).duplicates).toEqual([0])
          expect(ids((await log.read('t', { offset: 0 }, 10)).records)).toEqual(['1', '2', '1', '1'])
          expect((await log.getTopic('t'))?.nextOffset).toBe(4)
        } finally { await log.close(); await cleanup() }
      })

      it('keeps the first of repeated keys within one append and among concurrent appends', async () => {
        const { log, cleanup } = await setup()
        try {
          await log.createTopic('t', undefined, { windowSeconds: 60 })
          const batch = await log.append('t', [ev(1), ev(2), ev(1), ev(3), ev(2)])
          expect(batch).toMatchObject({ firstOffset: 0, nextOffset: 3, duplicates: [2, 4] })
          const results = await Promise.all(Array.from({ length: 20 }, () => log.append('t', [ev('x')])))
          expect(results.filter((r) => r.duplicates === undefined)).toHaveLength(1)
          expect(results.filter((r) => r.duplicates !== undefined).every((r) => r.firstOffset === r.nextOffset)).toBe(true)
          expect(ids((await log.read('t', { offset: 0 }, 100)).records)).toEqual(['1', '2', '3', 'x'])
        } finally { await log.close(); await cleanup() }
      })

      it('uses the keys a caller gives, and indexes no event whose key is left undefined', async () => {
        const { log, cleanup } = await setup()
        try {
          await log.createTopic('t', undefined, { windowSeconds: 60 })
          await log.append('t', [ev(1), ev(2)], ['k1', undefined])
          expect((await log.append('t', [ev(9)], ['k1'])).duplicates).toEqual([0])
          expect((await log.append('t', [ev(2)])).duplicates).toBeUndefined()
          expect((await log.append('t', [ev(2)], [undefined])).duplicates).toBeUndefined()
          expect((await log.getTopic('t'))?.nextOffset).toBe(4)
        } finally { await log.close(); await cleanup() }
      })

      it('is off by default, and turning it off or on applies from then on', async () => {
        const { log, cleanup } = await setup()
        try {
          const { topic } = await log.createTopic('t')
          expect(topic.deduplication).toBeUndefined()
          await log.append('t', [ev(1)])
          await log.createTopic('t', undefined, { windowSeconds: 10 })
          expect((await log.append('t', [ev(1)])).duplicates).toBeUndefined() // not indexed before
          expect((await log.append('t', [ev(1)])).duplicates).toEqual([0])
          await log.createTopic('t', { maxAgeSeconds: 5 }) // deduplication kept
          expect((await log.getTopic('t'))?.deduplication).toEqual({ windowSeconds: 10 })
          await log.createTopic('t', undefined, { windowSeconds: 0 })
          expect((await log.getTopic('t'))?.deduplication).toBeUndefined()
          expect((await log.append('t', [ev(1)])).duplicates).toBeUndefined()
          expect((await log.getTopic('t'))?.nextOffset).toBe(3)
        } finally { await log.close(); await cleanup() }
      })

      it('starts a topic deleted and created again with an empty index', async () => {
        const { log, cleanup } = await setup()
        try {
          await log.createTopic('t', undefined, { windowSeconds: 60 })
          await log.append('t', [ev(1)])
          await log.deleteTopic('t')
          await log.createTopic('t', undefined, { windowSeconds: 60 })
          expect((await log.append('t', [ev(1)])).duplicates).toBeUndefined()
        } finally { await log.close(); await cleanup() }
      })

      it('appends one of two concurrent appends of one key made through two instances', async () => {
        const { log, another, cleanup } = await setup()
        const other = await another()
        try {
          await log.createTopic('t', undefined, { windowSeconds: 60 })
          expect((await other.getTopic('t'))?.deduplication).toEqual({ windowSeconds: 60 })
          const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? log : other).append('t', [ev('same'), ev(`own${i}`)])))
          expect(results.filter((r) => r.duplicates === undefined)).toHaveLength(1)
          expect((await other.getTopic('t'))?.nextOffset).toBe(11)
          expect((await log.append('t', [ev('same')])).duplicates).toEqual([0])
          expect((await other.append('t', [ev('own3')])).duplicates).toEqual([0])
        } finally { await other.close(); await log.close(); await cleanup() }
      })

      it.skipIf(!durable)('keeps the window across a close and reopen, and forgets keys once it has passed', async () => {
        const { log, clock, reopen, cleanup } = await setup()
        if (reopen === undefined) throw new Error('a durable engine reopens')
        await log.createTopic('t', undefined, { windowSeconds: 60 })
        await log.append('t', [ev(1), ev(2)])
        clock.advance(30_000)
        await log.append('t', [ev(3)])
        await log.close()
        const again = await reopen()
        try {
          expect((await again.getTopic('t'))?.deduplication).toEqual({ windowSeconds: 60 })
          expect((await again.append('t', [ev(1), ev(3), ev(4)])).duplicates).toEqual([0, 1])
          clock.advance(30_000) // 1 and 2 are 60 s old, 3 is 30 s old
          expect(await again.enforceRetention()).toBe(0)
          expect((await again.append('t', [ev(1), ev(2), ev(3)])).duplicates).toEqual([2])
          expect(ids((await again.read('t', { offset: 0 }, 10)).records)).toEqual(['1', '2', '3', '4', '1', '2'])
        } finally { await again.close(); await cleanup() }
      })
    })

    describe('two instances over one store', () => {
      it('see each other\'s topics, created, updated and deleted', async () => {
        const { log, another, cleanup } = await setup()
        const other = await another()
        try {
          await log.createTopic('a', { maxAgeSeconds: 10 })
          expect((await other.getTopic('a'))?.retention.maxAgeSeconds).toBe(10)
          await other.createTopic('a', { maxAgeSeconds: 20 })
          await other.createTopic('b')
          expect((await log.listTopics()).map((t) => [t.name, t.retention.maxAgeSeconds])).toEqual([['a', 20], ['b', 0]])
          expect(await other.deleteTopic('a')).toBe(true)
          expect(await log.getTopic('a')).toBeUndefined()
          await expect(log.append('a', [ev(0)])).rejects.toMatchObject({ code: 'TOPIC_NOT_FOUND' })
        } finally { await other.close(); await log.close(); await cleanup() }
      })

      it('give concurrent appends through both instances dense, gap-free offsets', async () => {
        const { log, another, cleanup } = await setup()
        const other = await another()
        try {
          await log.createTopic('t')
          const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? log : other).append('t', [ev(`${i}a`), ev(`${i}b`)])))
          expect(results.map((r) => r.firstOffset).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i * 2))
          for (const reader of [log, other]) {
            const { records } = await reader.read('t', { offset: 0 }, 1000)
            expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 200 }, (_, i) => i))
          }
          expect((await other.getTopic('t'))?.nextOffset).toBe(200)
        } finally { await other.close(); await log.close(); await cleanup() }
      })

      it('tell a reader on one instance of appends made through the other', async () => {
        const { log, another, cleanup } = await setup()
        const other = await another()
        try {
          await log.createTopic('t')
          const heard: Array<[string, number]> = []
          const stop = other.onAppend((topic, next) => heard.push([topic, next]))
          const woken = other.waitForAppend('t', 0, 30_000)
          await log.append('t', [ev(0), ev(1)])
          expect(await woken).toBe(true)
          expect(heard.at(-1)).toEqual(['t', 2])
          stop()
          await log.append('t', [ev(2)])
          expect(heard.at(-1)).toEqual(['t', 2])
        } finally { await other.close(); await log.close(); await cleanup() }
      })

      it('tell a reader on one instance of events removed and topics deleted through the other', async () => {
        const { clock, log, another, cleanup } = await setup()
        const other = await another()
        try {
          // Optional in the port: a log without it (over a message port) gives its queues no read-ahead.
          if (other.onRemove === undefined) return
          await log.createTopic('t', { maxAgeSeconds: 10 })
          await log.createTopic('u')
          await log.append('t', [ev(0)])
          clock.advance(11_000)
          await log.append('t', [ev(1)])
          const heard: Array<string | undefined> = []
          const stop = other.onRemove((topic) => heard.push(topic))
          expect(await log.enforceRetention()).toBe(1)
          await until(() => heard.includes('t'), { what: 'the notice of the trim', timeoutMs: 5000, everyMs: 2 })
          expect(await log.deleteTopic('u')).toBe(true)
          await until(() => heard.includes('u'), { what: 'the notice of the delete', timeoutMs: 5000, everyMs: 2 })
          stop()
          await log.deleteTopic('t')
          await log.createTopic('t')
          expect(heard.filter((t) => t === 't')).toHaveLength(1)
        } finally { await other.close(); await log.close(); await cleanup() }
      })

      it('keep working through one instance after the other is closed', async () => {
        const { log, another, cleanup } = await setup()
        const other = await another()
        try {
          await log.createTopic('t')
          await other.close()
          await expect(other.append('t', [ev(0)])).rejects.toMatchObject({ code: 'SHUTTING_DOWN' })
          expect((await log.append('t', [ev(0)])).firstOffset).toBe(0)
        } finally { await log.close(); await cleanup() }
      })
    })
  })
}
