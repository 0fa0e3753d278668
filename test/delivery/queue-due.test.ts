import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import type { SubscriptionQueue } from '../../src/delivery/queue.js'
import { openStorageEngine, type StorageEngine } from '../../src/storage/engine.js'
import { openOrdersQueue } from '../helpers/queue.js'

// Entries the queue holds come due (lock ended, release delay over) through its heaps, not a
// scan of every entry: what comes due is handed out oldest first, before new events, and
// settled entries leave nothing behind that a take or a wake-up would see. In process, on a
// manual clock, over the memory engine.

let engine: StorageEngine | undefined
afterEach(async () => { await engine?.close() })

async function setup (events: number): Promise<{ queue: SubscriptionQueue, clock: ManualClock }> {
  const clock = new ManualClock(1_000_000)
  engine = await openStorageEngine({ engine: 'memory', dataDir: '/nonexistent', clock, sync: false, log: { maxBatchEvents: 1000, maxBatchBytes: 1 << 24, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 86_400, maxBytes: 0 } } })
  await engine.topics.createTopic('orders')
  if (events > 0) await engine.topics.append('orders', Array.from({ length: events }, (_, i) => Buffer.from(JSON.stringify({ i }))))
  const queue = await openOrdersQueue(engine.subscriptions.queue('orders', 's1'), engine.topics, clock)
  return { queue, clock }
}

const offsets = (ds: ReadonlyArray<{ offset: number }>): number[] => ds.map((d) => d.offset)

describe('queue: entries coming due', () => {
  it('hands out released events oldest first, before new ones, and only once their delay is over', async () => {
    const { queue, clock } = await setup(8)
    const first = await queue.take(5, 60_000)
    expect(offsets(first)).toEqual([0, 1, 2, 3, 4])
    const token = (o: number): string => (first.find((d) => d.offset === o) as { lockToken: string }).lockToken
    await queue.release([token(3)], 0)
    await queue.release([token(1)], 0)
    await queue.release([token(4)], 2_000)
    expect(offsets(await queue.take(3, 60_000))).toEqual([1, 3, 5])
    expect(offsets(await queue.take(10, 60_000))).toEqual([6, 7])
    expect(queue.nextWakeAt()).toBe(clock.now() + 2_000)
    clock.advance(2_000)
    expect(offsets(await queue.take(10, 60_000))).toEqual([4])
  })

  it('takes what came due in offset order across takes that stop at max', async () => {
    const { queue, clock } = await setup(6)
    await queue.take(6, 1_000)
    clock.advance(1_000) // every lock ended
    const got: number[] = []
    for (let i = 0; i < 3; i++) got.push(...offsets(await queue.take(2, 1_000)))
    expect(got).toEqual([0, 1, 2, 3, 4, 5])
    expect((await queue.take(2, 1_000))).toEqual([])
    expect(queue.nextWakeAt()).toBe(clock.now() + 1_000)
  })

  it('wakes at the earliest lock end or delay, and not at all once everything is settled', async () => {
    const { queue, clock } = await setup(3)
    const [a, b, c] = await queue.take(3, 10_000)
    expect(queue.nextWakeAt()).toBe(clock.now() + 10_000)
    await queue.renew([(a as { lockToken: string }).lockToken], 30_000)
    await queue.release([(b as { lockToken: string }).lockToken], 4_000)
    expect(queue.nextWakeAt()).toBe(clock.now() + 4_000)
    await queue.acknowledge([(c as { lockToken: string }).lockToken])
    clock.advance(5_000)
    expect(queue.nextWakeAt()).toBe(clock.now())
    const again = await queue.take(10, 10_000)
    expect(offsets(again)).toEqual([1])
    await queue.acknowledge([(again[0] as { lockToken: string }).lockToken, (a as { lockToken: string }).lockToken])
    expect(queue.nextWakeAt()).toBeUndefined()
    clock.advance(60_000)
    expect(await queue.take(10, 10_000)).toEqual([])
    expect(queue.stats()).toMatchObject({ pending: 0 })
  })

  it('settles thousands of events and keeps handing out only what is due', async () => {
    const { queue, clock } = await setup(5000)
    for (let round = 0; round < 10; round++) {
      const got = await queue.take(500, 60_000)
      expect(got).toHaveLength(500)
      // Nine in ten settled, the rest left to expire (the queue holds at most 1,000).
      const outcomes = await queue.acknowledge(got.filter((d) => d.offset % 10 !== 9).map((d) => d.lockToken))
      expect(outcomes.every((o) => o.ok)).toBe(true)
    }
    expect(queue.stats()).toMatchObject({ pending: 500, locked: 500 })
    expect(await queue.take(10, 60_000)).toEqual([])
    clock.advance(60_000)
    const expired = await queue.take(5000, 60_000)
    expect(offsets(expired)).toEqual(Array.from({ length: 500 }, (_, i) => 10 * i + 9))
    expect(expired.every((d) => d.deliveryCount === 2)).toBe(true)
  })
})
