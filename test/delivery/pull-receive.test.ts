import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { receive, settle } from '../../src/delivery/pull.js'
import type { Delivery, SubscriptionQueue } from '../../src/delivery/queue.js'
import type { Subscription } from '../../src/delivery/subscriptions.js'
import { openStorageEngine, type StorageEngine } from '../../src/storage/engine.js'
import { openOrdersQueue } from '../helpers/queue.js'

// Concurrent receives of one pull subscription take turns waiting on the log: an append wakes
// one of them, which hands its place on before it takes, so the others stay asleep instead of
// all waking to find nothing. In process, over the memory engine's log and queue state, with
// a manual clock for the receives' deadlines.

let engine: StorageEngine | undefined
afterEach(async () => { await engine?.close() })

const WAIT_MS = 60_000

async function setup () {
  const clock = new ManualClock(Date.now())
  engine = await openStorageEngine({ engine: 'memory', dataDir: '/nonexistent', clock, sync: false, log: { maxBatchEvents: 100, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 86_400, maxBytes: 0 } } })
  const log = engine.topics
  await log.createTopic('orders')
  const real = await openOrdersQueue(engine.subscriptions.queue('orders', 's1'), log, clock)
  // The queue itself, its takes counted (what the gate saves is takes that find nothing).
  const takes: number[] = []
  const queue: SubscriptionQueue = Object.create(real) as SubscriptionQueue
  queue.take = async (max, lockMs) => {
    const got = await real.take(max, lockMs)
    takes.push(got.length)
    return got
  }
  const sub = { topic: 'orders', name: 's1', spec: { mode: 'Queue', queue: { receiveLockDurationInSeconds: 300 } }, queue } as unknown as Subscription
  let next = 0
  const append = async (n: number): Promise<void> => {
    await log.append('orders', Array.from({ length: n }, () => Buffer.from(JSON.stringify({ id: `e${next++}` }))))
  }
  /** Starts a receive; `result` is filled when it answers. */
  const start = (maxEvents: number, gone: () => boolean = () => false) => {
    const r: { result: Delivery[] | undefined, done: Promise<Delivery[]> } = { result: undefined, done: undefined as unknown as Promise<Delivery[]> }
    r.done = receive(sub, log, clock, maxEvents, WAIT_MS, gone).then((got) => { r.result = got; return got })
    return r
  }
  return { clock, takes, append, start, sub }
}

const settled = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve)) }
const offsets = (got: Delivery[] | undefined): number[] => (got ?? []).map((d) => d.offset)

describe('pull receive', () => {
  it('an append wakes one of five waiting receives: it gets the events and the other four stay asleep, none taking', async () => {
    const { takes, append, start } = await setup()
    const waiting = Array.from({ length: 5 }, () => start(10))
    await settled()
    expect(takes).toEqual([0, 0, 0, 0, 0]) // each took once on arrival
    takes.length = 0

    await append(3)
    await settled()
    const answered = waiting.filter((w) => w.result !== undefined)
    expect(answered).toHaveLength(1)
    expect(offsets(answered[0]?.result)).toEqual([0, 1, 2])
    expect(takes).toEqual([3])

    // The next append wakes the receive that took over the place on the log.
    takes.length = 0
    await append(2)
    await settled()
    const second = waiting.filter((w) => w.result !== undefined && w !== answered[0])
    expect(second).toHaveLength(1)
    expect(offsets(second[0]?.result)).toEqual([3, 4])
    expect(takes).toEqual([2])
  })

  it('more events than one receive takes go to the next receives at once, each event to exactly one', async () => {
    const { takes, append, start } = await setup()
    const waiting = Array.from({ length: 3 }, () => start(10))
    await settled()
    takes.length = 0

    await append(25)
    await settled()
    const got = waiting.map((w) => offsets(w.result))
    expect(got.map((o) => o.length).sort((a, b) => a - b)).toEqual([5, 10, 10])
    expect(got.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 25 }, (_, i) => i))
    expect(takes).toEqual([10, 10, 5])
  })

  it('a waiting receive answers empty at its deadline and leaves the line; later appends still wake the others', async () => {
    const { clock, append, start } = await setup()
    const early = start(10)
    await settled()
    clock.advance(WAIT_MS / 2)
    const late = start(10)
    await settled()

    clock.advance(WAIT_MS / 2) // the first receive's deadline: it held the place on the log
    await settled()
    expect(early.result).toEqual([])
    expect(late.result).toBeUndefined()

    await append(1)
    await settled()
    expect(offsets(late.result)).toEqual([0])

    // A receive that waited its turn past its deadline answers empty too.
    const a = start(10)
    await settled()
    const b = start(10)
    await settled()
    clock.advance(WAIT_MS)
    await settled()
    expect(a.result).toEqual([])
    expect(b.result).toEqual([])
  })

  it('a receive whose caller hung up takes nothing when woken and hands the events to the next', async () => {
    const { append, start } = await setup()
    let hungUp = false
    const holder = start(10, () => hungUp)
    await settled()
    const next = start(10)
    await settled()

    hungUp = true
    await append(2)
    await settled()
    expect(holder.result).toEqual([])
    expect(offsets(next.result)).toEqual([0, 1])
  })

  it('an event released with no delay goes at once to the receive waiting on the log', async () => {
    const { append, start, sub } = await setup()
    await append(1)
    const first = start(10)
    await settled()
    const token = first.result?.[0]?.lockToken as string
    expect(first.result?.map((d) => d.deliveryCount)).toEqual([1])

    const waiting = start(10) // the event is locked: it waits on the log
    await settled()
    expect(waiting.result).toBeUndefined()
    expect((await settle(sub, 'release', [token])).succeededLockTokens).toEqual([token])
    await settled()
    expect(waiting.result?.map((d) => [d.offset, d.deliveryCount])).toEqual([[0, 2]])
  })

  it('an event released with a delay goes to the waiting receive when the delay has passed', async () => {
    const { clock, append, start, sub } = await setup()
    await append(1)
    const first = start(10)
    await settled()
    const token = first.result?.[0]?.lockToken as string

    const waiting = start(10)
    await settled()
    await settle(sub, 'release', [token], 10)
    await settled()
    clock.advance(9_999)
    await settled()
    expect(waiting.result).toBeUndefined()
    clock.advance(1)
    await settled()
    expect(waiting.result?.map((d) => [d.offset, d.deliveryCount])).toEqual([[0, 2]])
  })
})
