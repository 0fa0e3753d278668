import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { GridgateError } from '../../src/core/errors.js'
import type { SubscriptionQueue } from '../../src/delivery/queue.js'
import type { QueueChange, QueueStore } from '../../src/delivery/store.js'
import { openStorageEngine, type StorageEngine } from '../../src/storage/engine.js'
import { openOrdersQueue } from '../helpers/queue.js'

// A pull queue's writes are group-committed: calls made while a write is in flight go to the
// store together in the next write, in call order, and each call answers only once its own
// changes are written. In process, over the memory engine's queue state; the store's writes
// are held until the test lets them go, as a slow store (Redis fsyncing) would hold them.

let engine: StorageEngine | undefined
afterEach(async () => { await engine?.close() })

async function setup () {
  const clock = new ManualClock(Date.now())
  engine = await openStorageEngine({ engine: 'memory', dataDir: '/nonexistent', clock, sync: false, log: { maxBatchEvents: 100, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 86_400, maxBytes: 0 } } })
  const log = engine.topics
  await log.createTopic('orders')
  await log.append('orders', Array.from({ length: 40 }, (_, i) => Buffer.from(JSON.stringify({ id: `e${i}` }))))
  const base = engine.subscriptions.queue('orders', 's1')
  const writes: QueueChange[][] = []
  // While holding, each write waits until release() lets it (and only it) go, oldest first.
  let holding = false
  const held: Array<() => void> = []
  let fail = false
  const hold = (): void => { holding = true }
  const store: QueueStore = {
    load: base.load,
    write: async (changes) => {
      writes.push([...changes])
      if (holding) await new Promise<void>((resolve) => { held.push(resolve) })
      if (fail) throw new GridgateError('STORAGE_UNAVAILABLE', 'storage unavailable')
      await base.write(changes)
    },
    deadLetters: base.deadLetters,
    destroy: base.destroy
  }
  const open = async (): Promise<SubscriptionQueue> => await openOrdersQueue(store, log, clock)
  return { queue: await open(), open, writes, hold, release: () => { held.shift()?.() }, unhold: () => { holding = false; for (const r of held.splice(0)) r() }, failWrites: (v: boolean) => { fail = v } }
}

const settled = async (): Promise<void> => { for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve)) }

describe('pull queue group commit', () => {
  it('receives made while a write is in flight share the next write, and each answers after its own changes are written', async () => {
    const { queue, open, writes, hold, release } = await setup()
    hold()
    const first = queue.take(5, 60_000)
    await settled()
    expect(writes).toHaveLength(1)
    // Three more receivers while the first write is held: their changes wait for it, together.
    let answered = 0
    const more = [queue.take(5, 60_000), queue.take(5, 60_000), queue.take(5, 60_000)].map(async (p) => { const r = await p; answered++; return r })
    await settled()
    expect(writes).toHaveLength(1)
    expect(answered).toBe(0)
    release() // the first write; the next one, of the three together, is held in turn
    const got = await first
    await settled()
    expect(writes).toHaveLength(2)
    expect(answered).toBe(0)
    release()
    const rest = await Promise.all(more)
    expect(answered).toBe(3)
    // Every event handed out once, in offset order, and the second write held all three calls' locks.
    expect([got, ...rest].flat().map((d) => d.offset)).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(writes[1]!.filter((c) => c.kind === 'pending')).toHaveLength(15)
    // What was answered is what the store holds: a queue opened again finds the 20 locks.
    const again = await open()
    expect(again.stats().locked).toBe(20)
  })

  it('acknowledgements of tokens whose locks are still being written go after them, in call order', async () => {
    const { queue, open, hold, unhold, writes } = await setup()
    const taken = await queue.take(10, 60_000)
    hold()
    const more = queue.take(10, 60_000)
    await settled()
    const acked = queue.acknowledge(taken.map((d) => d.lockToken))
    await settled()
    const before = writes.length
    unhold()
    const second = await more
    expect((await acked).every((o) => o.ok)).toBe(true)
    // The acknowledgement went in the write after the held one.
    expect(writes.length).toBe(before + 1)
    expect(second.map((d) => d.offset)).toEqual(Array.from({ length: 10 }, (_, i) => 10 + i))
    const again = await open()
    expect(again.stats()).toMatchObject({ pending: 10, locked: 10 })
  })

  it('a failed write fails every call in it; the queue goes on with the next', async () => {
    const { queue, hold, unhold, failWrites } = await setup()
    hold()
    const first = queue.take(5, 60_000)
    await settled()
    const second = queue.take(5, 60_000)
    const third = queue.take(5, 60_000)
    await settled()
    failWrites(true)
    unhold()
    await expect(first).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    await expect(second).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    await expect(third).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    failWrites(false)
    expect((await queue.take(5, 60_000)).map((d) => d.offset)).toEqual([15, 16, 17, 18, 19])
  })
})
