import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { GridgateError } from '../../src/core/errors.js'
import { COUNTS_FLUSH_MS, type SubscriptionQueue } from '../../src/delivery/queue.js'
import type { DeliveryCounts, QueueStore } from '../../src/delivery/store.js'
import { openStorageEngine, type StorageEngine } from '../../src/storage/engine.js'
import { openOrdersQueue } from '../helpers/queue.js'

// A queue whose store keeps its counts (the cluster's engine: the subscription moves between
// nodes, so its status counts are totals in the store): the queue starts from the stored
// totals, sends what it adds in batches off the path of each call, and counts only what it
// wrote. In process, on a manual clock, over the memory engine's queue state.

let engine: StorageEngine | undefined
afterEach(async () => { await engine?.close() })

const settled = async (): Promise<void> => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)) }

async function setup (stored: DeliveryCounts, opts: { add?: (delta: DeliveryCounts) => Promise<void>, failWrites?: () => boolean } = {}) {
  const clock = new ManualClock(Date.now())
  engine = await openStorageEngine({ engine: 'memory', dataDir: '/nonexistent', clock, sync: false, log: { maxBatchEvents: 100, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 86_400, maxBytes: 0 } } })
  const log = engine.topics
  await log.createTopic('orders')
  const adds: DeliveryCounts[] = []
  const base = engine.subscriptions.queue('orders', 's1')
  const store: QueueStore = {
    load: base.load,
    write: async (changes) => {
      if (opts.failWrites?.() === true) throw new GridgateError('STORAGE_UNAVAILABLE', 'storage unavailable')
      await base.write(changes)
    },
    deadLetters: base.deadLetters,
    destroy: base.destroy,
    counts: {
      load: async () => ({ ...stored }),
      add: opts.add ?? (async (delta) => { adds.push(delta) })
    }
  }
  const queue: SubscriptionQueue = await openOrdersQueue(store, log, clock)
  const publish = async (n: number): Promise<string[]> => {
    await log.append('orders', Array.from({ length: n }, (_, i) => Buffer.from(JSON.stringify({ id: `e${i}` }))))
    return (await queue.take(n, 60_000)).map((d) => d.lockToken)
  }
  return { clock, queue, adds, publish }
}

describe('delivery counts kept by the store', () => {
  it('start from the stored totals; what the queue adds is sent in one batch COUNTS_FLUSH_MS after its first change, and the rest when it closes', async () => {
    const { clock, queue, adds, publish } = await setup({ delivered: 5, failed: 1, lastError: 'HTTP 500' })
    expect(queue.counters).toMatchObject({ delivered: 5, failed: 1, lastError: 'HTTP 500' })
    const [a, b, c, d] = await publish(4) as [string, string, string, string]
    await queue.acknowledge([a, b])
    await queue.release([c], 0, { status: 503 })
    expect(queue.counters).toMatchObject({ delivered: 7, failed: 2, lastError: 'HTTP 503' })
    expect(adds).toEqual([])
    clock.advance(COUNTS_FLUSH_MS - 1)
    await settled()
    expect(adds).toEqual([])
    clock.advance(1)
    await settled()
    expect(adds).toEqual([{ delivered: 2, failed: 1, lastError: 'HTTP 503' }])
    await queue.acknowledge([d])
    await queue.close()
    expect(adds).toEqual([{ delivered: 2, failed: 1, lastError: 'HTTP 503' }, { delivered: 1, failed: 0 }])
    // Closed: nothing more is sent.
    clock.advance(10 * COUNTS_FLUSH_MS)
    await settled()
    expect(adds).toHaveLength(2)
  })

  it('counts nothing for a call whose write failed', async () => {
    let fail = false
    const { queue, publish } = await setup({ delivered: 0, failed: 0 }, { failWrites: () => fail })
    const [a] = await publish(1) as [string]
    fail = true
    await expect(queue.acknowledge([a])).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    expect(queue.counters.delivered).toBe(0)
  })

  it('a batch refused because the lease is lost is dropped; one that failed for another reason goes with the next', async () => {
    const answers: Array<'ok' | 'down' | 'not-owned'> = ['down', 'ok', 'not-owned']
    const sent: DeliveryCounts[] = []
    const { clock, queue, publish } = await setup({ delivered: 0, failed: 0 }, {
      add: async (delta) => {
        const answer = answers.shift()
        if (answer === 'down') throw new GridgateError('STORAGE_UNAVAILABLE', 'storage unavailable')
        if (answer === 'not-owned') throw new GridgateError('SUBSCRIPTION_NOT_OWNED', 'lease lost')
        sent.push(delta)
      }
    })
    const [a, b, c] = await publish(3) as [string, string, string]
    await queue.acknowledge([a])
    clock.advance(COUNTS_FLUSH_MS)
    await settled() // refused: Redis down
    await queue.acknowledge([b])
    clock.advance(COUNTS_FLUSH_MS)
    await settled()
    expect(sent).toEqual([{ delivered: 2, failed: 0 }])
    await queue.acknowledge([c])
    await queue.close() // refused: not the owner any more
    expect(sent).toEqual([{ delivered: 2, failed: 0 }])
    expect(queue.counters.delivered).toBe(3)
  })
})
