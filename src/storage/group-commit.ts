import { GridgateError } from '../core/errors.js'

// Group commit: concurrent callers queue their items; one write at a time takes everything
// queued (up to the limits) and turns it into a single LevelDB batch. Each caller's promise
// settles only after that batch is written, so an acknowledgement is never earlier than the
// data. Engine-neutral: the ops and the write are the engine's. While one batch is being written the next one fills up, which is what makes batches
// large under load and small (low latency) when idle.
//
// Commit delay. Every fsync costs this machine's kernel and LevelDB's writer thread about as
// much CPU whether it carries 4 events or 40, and at 5,000 messages a second, one at a time
// from 1,000 devices, each write carried about 4: those fsyncs were a fifth of the gateway's
// CPU. So when a write ends and only a few items (fewer than delayUntilItems) have queued
// meanwhile, the next one waits until the oldest of them is delayMs old, or until that many
// have queued (PostgreSQL's commit_delay with commit_siblings). A write that starts from idle
// never waits, and under fan-in the queue is long: only a busy writer with short batches pays.

export interface BatchPlan<R, O = unknown> {
  /** The operations for the items that can be written (opaque to this module). */
  ops: O[]
  /** One entry per item, in order: its result once written, or why it was refused. */
  outcomes: Array<{ ok: true, value: R } | { ok: false, error: Error }>
  /** Called after the write succeeded (or at once when there are no ops), before callers are resolved. */
  commit?: () => void
  /** Called instead of `commit` when the write failed (undoes what planning took, e.g. deduplication keys). */
  abort?: () => void
}

export interface GroupCommitOptions<T, R, O = unknown> {
  /** Turns the queued items into one batch; runs when the batch is about to be written. */
  plan: (items: T[]) => BatchPlan<R, O>
  /** Writes the ops durably. */
  write: (ops: O[]) => Promise<void>
  /** Size of one item in bytes, for the batch limit. */
  sizeOf: (item: T) => number
  maxItems: number
  maxBytes: number
  /** Observes each written batch (metrics). */
  onBatch?: (items: number, bytes: number, ms: number, ok: boolean) => void
  /** Milliseconds; with delayMs and setTimer, a test's manual clock. */
  now?: () => number
  /** The commit delay in ms (0 or absent: none). */
  delayMs?: number
  /** A batch with this many items queued goes without the delay. */
  delayUntilItems?: number
  setTimer?: (ms: number, fn: () => void) => void
}

/** The default of GroupCommitOptions.delayUntilItems. */
export const DELAY_UNTIL_ITEMS = 64

export interface GroupCommit<T, R> {
  submit: (item: T) => Promise<R>
  /** Resolves when everything submitted so far has been written or refused. */
  drain: () => Promise<void>
  /** Refuses new items; waits for queued ones. */
  close: () => Promise<void>
  readonly queued: number
}

interface Pending<T, R> {
  /** When it was submitted (only with a commit delay). */
  at: number
  item: T
  size: number
  resolve: (r: R) => void
  reject: (e: Error) => void
}

export function createGroupCommit<T, R, O = unknown> (opts: GroupCommitOptions<T, R, O>): GroupCommit<T, R> {
  const now = opts.now ?? (() => performance.now())
  let queue: Array<Pending<T, R>> = []
  let writing = false
  let scheduled = false
  let closed = false
  let idleWaiters: Array<() => void> = []
  const delayMs = opts.delayMs ?? 0
  const delayUntil = opts.delayUntilItems ?? DELAY_UNTIL_ITEMS
  const setTimer = opts.setTimer ?? ((ms: number, fn: () => void) => { setTimeout(fn, ms) })
  /** Ends the commit delay under way, if any. */
  let endDelay: (() => void) | undefined

  function take (): Array<Pending<T, R>> {
    let bytes = 0
    let n = 0
    while (n < queue.length && n < opts.maxItems) {
      const size = (queue[n] as Pending<T, R>).size
      // An item larger than the limit still goes, alone.
      if (n > 0 && bytes + size > opts.maxBytes) break
      bytes += size
      n++
    }
    // The usual case takes the whole queue: hand the array over instead of copying it.
    if (n === queue.length) {
      const batch = queue
      queue = []
      return batch
    }
    const batch = queue.slice(0, n)
    queue = queue.slice(n)
    return batch
  }

  async function writeOne (batch: Array<Pending<T, R>>): Promise<void> {
    let plan: BatchPlan<R, O>
    try {
      plan = opts.plan(batch.map((p) => p.item))
    } catch (err) {
      for (const p of batch) p.reject(err as Error)
      return
    }
    const bytes = batch.reduce((s, p) => s + p.size, 0)
    const started = now()
    if (plan.ops.length > 0) {
      try {
        await opts.write(plan.ops)
      } catch (cause) {
        opts.onBatch?.(batch.length, bytes, now() - started, false)
        plan.abort?.()
        const error = new GridgateError('STORAGE_WRITE_FAILED', undefined, { cause })
        for (const p of batch) p.reject(error)
        return
      }
      plan.commit?.()
      opts.onBatch?.(batch.length, bytes, now() - started, true)
    } else {
      // Nothing to write (e.g. every event a duplicate): the plan's bookkeeping still happens.
      plan.commit?.()
    }
    batch.forEach((p, i) => {
      const outcome = plan.outcomes[i]
      if (outcome === undefined) p.reject(new GridgateError('INTERNAL', 'group commit plan lost an item'))
      else if (outcome.ok) p.resolve(outcome.value)
      else p.reject(outcome.error)
    })
  }

  async function run (): Promise<void> {
    scheduled = false
    if (writing) return
    writing = true
    try {
      let fromIdle = true
      while (queue.length > 0) {
        if (!fromIdle && delayMs > 0 && queue.length < delayUntil) {
          const wait = delayMs - (now() - (queue[0] as Pending<T, R>).at)
          if (wait > 0) {
            await new Promise<void>((resolve) => {
              endDelay = resolve
              setTimer(wait, resolve)
            })
            endDelay = undefined
          }
        }
        fromIdle = false
        await writeOne(take())
      }
    } finally {
      writing = false
      const waiters = idleWaiters
      idleWaiters = []
      for (const w of waiters) w()
    }
  }

  function schedule (): void {
    if (scheduled || writing) return
    scheduled = true
    // setImmediate, not a microtask: requests parsed in the same I/O phase join one batch.
    setImmediate(() => { void run() })
  }

  return {
    submit (item) {
      if (closed) return Promise.reject(new GridgateError('SHUTTING_DOWN'))
      return new Promise<R>((resolve, reject) => {
        queue.push({ at: delayMs > 0 ? now() : 0, item, size: opts.sizeOf(item), resolve, reject })
        if (endDelay !== undefined && queue.length >= delayUntil) endDelay()
        schedule()
      })
    },
    drain () {
      if (!writing && !scheduled && queue.length === 0) return Promise.resolve()
      return new Promise<void>((resolve) => { idleWaiters.push(resolve) })
    },
    async close () {
      closed = true
      await this.drain()
    },
    get queued () { return queue.length }
  }
}
