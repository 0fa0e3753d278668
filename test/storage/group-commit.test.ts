import { describe, it, expect } from 'vitest'
import { createGroupCommit, type BatchPlan, type GroupCommit } from '../../src/storage/group-commit.js'
import { ManualClock } from '../../src/core/clock.js'
import { GridgateError } from '../../src/core/errors.js'

// The write function is a fake the test controls: each call waits until the test resolves
// or rejects it. It stands for the disk, whose timing and faults a unit test cannot cause.

interface Item {
  id: string
  size: number
  refuse?: boolean
}

interface WriteCall {
  ops: unknown[]
  resolve: () => void
  reject: (err: unknown) => void
}

interface Tracked<R> {
  state: 'pending' | 'resolved' | 'rejected'
  value?: R
  error?: unknown
}

function track<R> (promise: Promise<R>): Tracked<R> {
  const t: Tracked<R> = { state: 'pending' }
  promise.then(
    (value) => { t.state = 'resolved'; t.value = value },
    (error: unknown) => { t.state = 'rejected'; t.error = error }
  )
  return t
}

/** Lets queued setImmediate callbacks and promise reactions run; no timers involved. */
async function turn (times = 3): Promise<void> {
  for (let i = 0; i < times; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

function item (id: string, size = 10, refuse = false): Item {
  return { id, size, refuse }
}

function plan (items: Item[]): BatchPlan<string> {
  return {
    ops: items.filter((i) => i.refuse !== true).map((i) => i.id),
    outcomes: items.map((i) => i.refuse === true
      ? { ok: false as const, error: new Error(`refused ${i.id}`) }
      : { ok: true as const, value: `stored ${i.id}` })
  }
}

interface Harness {
  gc: GroupCommit<Item, string>
  writes: WriteCall[]
  /** Resolves with the n-th write call (1-based) once it has been made. */
  write: (n: number) => Promise<WriteCall>
  commits: number[]
  aborts: number[]
  batches: Array<[number, number, number, boolean]>
}

function harness (limits: { maxItems?: number, maxBytes?: number, delayMs?: number, delayUntilItems?: number, clock?: ManualClock } = {}): Harness {
  const writes: WriteCall[] = []
  const commits: number[] = []
  const aborts: number[] = []
  const batches: Array<[number, number, number, boolean]> = []
  let waiters: Array<() => void> = []
  let clock = 0
  const gc = createGroupCommit<Item, string>({
    plan (items) {
      const p = plan(items)
      return { ...p, commit: () => { commits.push(items.length) }, abort: () => { aborts.push(items.length) } }
    },
    write (ops) {
      return new Promise<void>((resolve, reject) => {
        writes.push({ ops, resolve, reject })
        const ws = waiters
        waiters = []
        for (const w of ws) w()
      })
    },
    sizeOf: (i) => i.size,
    maxItems: limits.maxItems ?? 1000,
    maxBytes: limits.maxBytes ?? 1_000_000,
    onBatch: (items, bytes, ms, ok) => { batches.push([items, bytes, ms, ok]) },
    ...(limits.clock === undefined
      ? { now: () => (clock += 5) }
      : { now: () => (limits.clock as ManualClock).now(), setTimer: (ms: number, fn: () => void) => { (limits.clock as ManualClock).setTimer(ms, fn) } }),
    ...(limits.delayMs === undefined ? {} : { delayMs: limits.delayMs }),
    ...(limits.delayUntilItems === undefined ? {} : { delayUntilItems: limits.delayUntilItems })
  })
  function write (n: number): Promise<WriteCall> {
    return new Promise((resolve) => {
      const check = (): void => {
        const call = writes[n - 1]
        if (call !== undefined) resolve(call)
        else waiters.push(check)
      }
      check()
    })
  }
  return { gc, writes, write, commits, aborts, batches }
}

/** Submits the items, then resolves each write as it comes until all callers settle. */
async function runAll (h: Harness, items: Item[]): Promise<Array<Tracked<string>>> {
  const tracked = items.map((i) => track(h.gc.submit(i)))
  for (let n = 1; tracked.some((t) => t.state === 'pending'); n++) {
    ;(await h.write(n)).resolve()
    await turn()
  }
  return tracked
}

describe('createGroupCommit: gathering', () => {
  it('gathers 50 submits made in the same tick into at most 2 writes', async () => {
    const h = harness()
    const items = Array.from({ length: 50 }, (_, i) => item(`e${i}`))
    const tracked = await runAll(h, items)
    expect(h.writes.length).toBeGreaterThanOrEqual(1)
    expect(h.writes.length).toBeLessThanOrEqual(2)
    expect(h.writes.flatMap((w) => w.ops)).toEqual(items.map((i) => i.id))
    expect(tracked.map((t) => t.value)).toEqual(items.map((i) => `stored ${i.id}`))
  })

  it('resolves each caller with its own outcome, in submit order', async () => {
    const h = harness()
    const results = Promise.all(['a', 'b', 'c'].map((id) => h.gc.submit(item(id))))
    ;(await h.write(1)).resolve()
    expect(await results).toEqual(['stored a', 'stored b', 'stored c'])
  })

  it('settles no caller before its write resolves', async () => {
    const h = harness()
    const tracked = ['a', 'b', 'c'].map((id) => track(h.gc.submit(item(id))))
    const call = await h.write(1)
    await turn(5)
    expect(tracked.map((t) => t.state)).toEqual(['pending', 'pending', 'pending'])
    expect(h.commits).toEqual([])
    call.resolve()
    await turn()
    expect(tracked.map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved'])
    expect(h.commits).toEqual([3])
  })

  it('writes one batch at a time and gathers what arrives meanwhile into the next', async () => {
    const h = harness()
    const first = track(h.gc.submit(item('a')))
    const call1 = await h.write(1)
    const later = ['b', 'c', 'd'].map((id) => track(h.gc.submit(item(id))))
    await turn(5)
    expect(h.writes).toHaveLength(1)
    expect(h.gc.queued).toBe(3)
    call1.resolve()
    const call2 = await h.write(2)
    expect(call1.ops).toEqual(['a'])
    expect(call2.ops).toEqual(['b', 'c', 'd'])
    await turn()
    expect(first.state).toBe('resolved')
    expect(later.map((t) => t.state)).toEqual(['pending', 'pending', 'pending'])
    call2.resolve()
    await turn()
    expect(later.map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved'])
  })

  it('counts queued items until a batch takes them', async () => {
    const h = harness()
    expect(h.gc.queued).toBe(0)
    const tracked = ['a', 'b', 'c'].map((id) => track(h.gc.submit(item(id))))
    expect(h.gc.queued).toBe(3)
    const call = await h.write(1)
    expect(h.gc.queued).toBe(0)
    call.resolve()
    await turn()
    expect(tracked.every((t) => t.state === 'resolved')).toBe(true)
  })

  it('reports each written batch to onBatch with items, bytes, duration and success', async () => {
    const h = harness()
    await runAll(h, [item('a', 3), item('b', 4)])
    expect(h.batches).toEqual([[2, 7, 5, true]])
  })
})

describe('createGroupCommit: batch limits', () => {
  it.each([
    { maxItems: 1, count: 3, batches: [1, 1, 1] },
    { maxItems: 3, count: 7, batches: [3, 3, 1] },
    { maxItems: 5, count: 5, batches: [5] },
    { maxItems: 4, count: 12, batches: [4, 4, 4] }
  ])('with maxItems $maxItems splits $count submits into batches of $batches', async ({ maxItems, count, batches }) => {
    const h = harness({ maxItems })
    const items = Array.from({ length: count }, (_, i) => item(`e${i}`))
    const tracked = await runAll(h, items)
    expect(h.writes.map((w) => w.ops.length)).toEqual(batches)
    expect(h.writes.flatMap((w) => w.ops)).toEqual(items.map((i) => i.id))
    expect(tracked.every((t) => t.state === 'resolved')).toBe(true)
  })

  it.each([
    { name: 'fills each batch up to maxBytes', sizes: [40, 40, 40, 10, 90, 20], batches: [['a', 'b'], ['c', 'd'], ['e'], ['f']] },
    { name: 'takes an item that reaches maxBytes exactly', sizes: [60, 40, 1], batches: [['a', 'b'], ['c']] },
    { name: 'sends an item larger than maxBytes alone', sizes: [10, 500, 10], batches: [['a'], ['b'], ['c']] },
    { name: 'sends a first item larger than maxBytes alone', sizes: [500, 10, 10], batches: [['a'], ['b', 'c']] },
    { name: 'sends two oversized items one by one', sizes: [500, 600], batches: [['a'], ['b']] }
  ])('with maxBytes 100 $name', async ({ sizes, batches }) => {
    const h = harness({ maxBytes: 100 })
    const items = sizes.map((size, i) => item(String.fromCharCode(97 + i), size))
    const tracked = await runAll(h, items)
    expect(h.writes.map((w) => w.ops)).toEqual(batches)
    expect(tracked.map((t) => t.value)).toEqual(items.map((i) => `stored ${i.id}`))
  })

  it('applies whichever of maxItems and maxBytes is reached first', async () => {
    const h = harness({ maxItems: 3, maxBytes: 25 })
    const items = [item('a', 10), item('b', 10), item('c', 10), item('d', 1), item('e', 1), item('f', 1), item('g', 1)]
    await runAll(h, items)
    expect(h.writes.map((w) => w.ops)).toEqual([['a', 'b'], ['c', 'd', 'e'], ['f', 'g']])
  })
})

describe('createGroupCommit: failures', () => {
  it('rejects every caller of a failed write with STORAGE_WRITE_FAILED and the cause', async () => {
    const h = harness()
    const tracked = ['a', 'b', 'c'].map((id) => track(h.gc.submit(item(id))))
    const diskError = new Error('EIO: disk on fire')
    ;(await h.write(1)).reject(diskError)
    await turn()
    for (const t of tracked) {
      expect(t.state).toBe('rejected')
      expect(t.error).toBeInstanceOf(GridgateError)
      expect((t.error as GridgateError).code).toBe('STORAGE_WRITE_FAILED')
      expect((t.error as GridgateError).status).toBe(503)
      expect((t.error as GridgateError).cause).toBe(diskError)
    }
    expect(h.commits).toEqual([])
    expect(h.aborts).toEqual([3]) // what planning took is undone
    expect(h.batches).toEqual([[3, 30, 5, false]])
  })

  it('fails only the batch whose write failed; the next batch still succeeds', async () => {
    const h = harness({ maxItems: 2 })
    const tracked = ['a', 'b', 'c', 'd'].map((id) => track(h.gc.submit(item(id))))
    ;(await h.write(1)).reject(new Error('EIO'))
    ;(await h.write(2)).resolve()
    await turn()
    expect(tracked.map((t) => t.state)).toEqual(['rejected', 'rejected', 'resolved', 'resolved'])
    expect(tracked[2]?.value).toBe('stored c')
  })

  it('accepts and writes new submits after a failed write', async () => {
    const h = harness()
    const failed = track(h.gc.submit(item('a')))
    ;(await h.write(1)).reject(new Error('EIO'))
    await turn()
    expect(failed.state).toBe('rejected')
    const next = track(h.gc.submit(item('b')))
    const call = await h.write(2)
    expect(call.ops).toEqual(['b'])
    call.resolve()
    await turn()
    expect(next.state).toBe('resolved')
    expect(next.value).toBe('stored b')
  })

  it('rejects only the caller whose plan outcome is not ok', async () => {
    const h = harness()
    const tracked = [item('a'), item('b', 10, true), item('c')].map((i) => track(h.gc.submit(i)))
    const call = await h.write(1)
    expect(call.ops).toEqual(['a', 'c'])
    call.resolve()
    await turn()
    expect(tracked.map((t) => t.state)).toEqual(['resolved', 'rejected', 'resolved'])
    expect((tracked[1]?.error as Error).message).toBe('refused b')
    expect(tracked[1]?.error).not.toBeInstanceOf(GridgateError)
  })

  it('does not call write when the plan has no operations, and still settles the callers', async () => {
    const h = harness()
    const tracked = [item('a', 10, true), item('b', 10, true)].map((i) => track(h.gc.submit(i)))
    await h.gc.drain()
    await turn()
    expect(h.writes).toHaveLength(0)
    expect(h.batches).toEqual([])
    expect(tracked.map((t) => t.state)).toEqual(['rejected', 'rejected'])
    // The plan's bookkeeping still runs (a batch of duplicates only writes nothing).
    expect(h.commits).toEqual([2])
    expect(h.aborts).toEqual([])
  })
})

describe('createGroupCommit: drain and close', () => {
  it('drain() resolves at once when nothing was submitted', async () => {
    const h = harness()
    await h.gc.drain()
    expect(h.writes).toHaveLength(0)
  })

  it('drain() waits until every submitted item is written', async () => {
    const h = harness({ maxItems: 2 })
    const tracked = ['a', 'b', 'c'].map((id) => track(h.gc.submit(item(id))))
    const drained = track(h.gc.drain())
    ;(await h.write(1)).resolve()
    await turn()
    expect(drained.state).toBe('pending')
    ;(await h.write(2)).resolve()
    await turn()
    expect(drained.state).toBe('resolved')
    expect(tracked.map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved'])
  })

  it('drain() resolves after a failed write too', async () => {
    const h = harness()
    const tracked = track(h.gc.submit(item('a')))
    const drained = track(h.gc.drain())
    ;(await h.write(1)).reject(new Error('EIO'))
    await turn()
    expect(tracked.state).toBe('rejected')
    expect(drained.state).toBe('resolved')
  })

  it('close() refuses new submits with SHUTTING_DOWN and waits for queued ones', async () => {
    const h = harness()
    const queued = track(h.gc.submit(item('a')))
    const closed = track(h.gc.close())
    const refused = track(h.gc.submit(item('b')))
    const call = await h.write(1)
    await turn()
    expect(refused.state).toBe('rejected')
    expect((refused.error as GridgateError).code).toBe('SHUTTING_DOWN')
    expect(refused.error).toBeInstanceOf(GridgateError)
    expect(closed.state).toBe('pending')
    call.resolve()
    await turn()
    expect(queued.state).toBe('resolved')
    expect(closed.state).toBe('resolved')
    expect(h.writes.flatMap((w) => w.ops)).toEqual(['a'])
  })

  it('close() on an idle group commit resolves and refuses later submits', async () => {
    const h = harness()
    await h.gc.close()
    await expect(h.gc.submit(item('a'))).rejects.toMatchObject({ code: 'SHUTTING_DOWN' })
    await turn()
    expect(h.writes).toHaveLength(0)
  })
})

describe('createGroupCommit: commit delay', () => {
  /** A first write under way (from idle) and `ids` submitted while it runs. */
  async function busy (h: Harness, ids: string[]): Promise<{ first: WriteCall, later: Array<Tracked<string>> }> {
    track(h.gc.submit(item('first')))
    const first = await h.write(1)
    const later = ids.map((id) => track(h.gc.submit(item(id))))
    return { first, later }
  }

  it('writes a batch that starts from idle at once, without waiting for the delay', async () => {
    const clock = new ManualClock()
    const h = harness({ delayMs: 2, clock })
    const t = track(h.gc.submit(item('a')))
    ;(await h.write(1)).resolve()
    await turn()
    expect(t.state).toBe('resolved')
    expect(clock.pendingTimers()).toBe(0)
  })

  it('holds a short batch behind a busy write until its oldest item is delayMs old, gathering what comes meanwhile', async () => {
    const clock = new ManualClock()
    const h = harness({ delayMs: 2, clock })
    const { first, later } = await busy(h, ['b', 'c'])
    clock.advance(0.5)
    first.resolve()
    await turn(5)
    // b and c arrived 0.5 ms ago: 1.5 ms to go; d joins them meanwhile.
    expect(h.writes).toHaveLength(1)
    const d = track(h.gc.submit(item('d')))
    clock.advance(1.4)
    await turn(5)
    expect(h.writes).toHaveLength(1)
    clock.advance(0.1)
    const second = await h.write(2)
    expect(second.ops).toEqual(['b', 'c', 'd'])
    second.resolve()
    await turn()
    expect([...later, d].map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved'])
  })

  it('ends the delay as soon as delayUntilItems are queued', async () => {
    const clock = new ManualClock()
    const h = harness({ delayMs: 2, delayUntilItems: 4, clock })
    const { first } = await busy(h, ['b', 'c'])
    first.resolve()
    await turn(5)
    expect(h.writes).toHaveLength(1)
    for (const id of ['d', 'e']) track(h.gc.submit(item(id)))
    const second = await h.write(2)
    expect(second.ops).toEqual(['b', 'c', 'd', 'e'])
  })

  it('does not delay a batch that already has delayUntilItems queued, nor any batch with delayMs 0', async () => {
    for (const [delayMs, queued] of [[2, 4], [0, 1]] as const) {
      const clock = new ManualClock()
      const h = harness({ delayMs, delayUntilItems: 4, clock })
      const { first } = await busy(h, Array.from({ length: queued }, (_, i) => `q${i}`))
      first.resolve()
      const second = await h.write(2)
      expect(second.ops).toHaveLength(queued)
      expect(clock.pendingTimers()).toBe(0)
    }
  })
})
