import { randomBytes } from 'node:crypto'
import type { Clock, TimerHandle } from '../core/clock.js'
import { TimeHeap } from '../core/time-heap.js'
import type { LogRecord, TopicLog } from '../log/types.js'
import type { EventMatcher } from '../core/filters.js'
import { createReadAhead } from './read-ahead.js'
import { dueAt, holdsLock, lockFor, makeLockToken, offsetOfToken, REASON_TTL, unlock, verdict, type PendingEntry } from './pending.js'
import type { DeadLetter, DeliveryCounts, QueueChange, QueueStore } from './store.js'

// One subscription's position in its topic: a cursor into the log plus state only for the
// events taken but not settled (cursors, not copies: fan-out writes no event twice). Both
// pull and push deliver through take() and settle through the token calls. Every change is
// written to the subscription's QueueStore (one atomic write per call) before the caller
// hears of it, so a restart resumes where it was. The counters count only what was written.
// Where the store keeps counts (a cluster: the subscription moves between nodes), they start
// from its totals and what this node adds is sent in batches, COUNTS_FLUSH_MS after the first
// change and when the queue closes, off the path of every call.

export interface Delivery {
  offset: number
  /** When the log accepted the event (for eventTimeToLive). */
  appendTime: number
  lockToken: string
  deliveryCount: number
  /** The CloudEvent as stored. */
  bytes: Buffer
}

export type { DeadLetter }

export interface QueueLimits {
  maxDeliveryCount: number
  ttlMs: number
  /** Most events held pending (locked or waiting) before take() stops reading the log. */
  maxPending: number
}

export type SettleOutcome = { ok: true } | { ok: false, code: 'LOCK_TOKEN_INVALID', message: string }

export interface QueueCounters {
  /** Acknowledged (pull) or delivered (push); with a store that keeps counts, since the subscription was created. */
  delivered: number
  /** Failed push attempts; the same. */
  failed: number
  /** Dead-lettered since the queue was opened here. */
  deadLettered: number
  lastError?: string
}

export interface SubscriptionQueue {
  readonly cursor: number
  readonly counters: QueueCounters
  /** Locks and returns up to `max` deliverable events; dead-letters what is out of attempts or time. */
  take: (max: number, lockMs: number) => Promise<Delivery[]>
  /** Earliest time a waiting entry becomes deliverable (for long polls and the push loop). */
  nextWakeAt: () => number | undefined
  acknowledge: (tokens: readonly string[]) => Promise<SettleOutcome[]>
  /** Unlocks for delivery again after `delayMs`. */
  release: (tokens: readonly string[], delayMs: number, result?: { status?: number, error?: string }) => Promise<SettleOutcome[]>
  reject: (tokens: readonly string[], reason: string, result?: { status?: number, error?: string }) => Promise<SettleOutcome[]>
  renew: (tokens: readonly string[], lockMs: number) => Promise<SettleOutcome[]>
  stats: () => { pending: number, locked: number, waiting: number, deadLettered: number }
  deadLetters: (limit: number) => Promise<DeadLetter[]>
  /** Puts dead letters (all, or those at `offsets`) back for delivery; returns how many. */
  redeliver: (offsets?: readonly number[]) => Promise<number>
  /** Removes every key of this subscription. */
  destroy: () => Promise<void>
  /** Closes it here (another node, or none, delivers it now): the counts not yet stored are stored. */
  close: () => Promise<void>
}

export interface QueueOptions {
  store: QueueStore
  log: TopicLog
  topic: string
  name: string
  matcher: EventMatcher
  /** True when the matcher matches everything: events are then never parsed. */
  matchesAll: boolean
  clock: Clock
  limits: QueueLimits
  /** Parses an event once for all subscriptions of its topic. */
  parse: (topic: string, record: LogRecord) => Record<string, unknown> | undefined
  onDeadLetter?: (count: number) => void
  /**
   * Push: a lock only stands for a request in flight, which no restart survives. So events
   * in flight are kept in memory only, and the stored cursor is the lowest offset not yet
   * settled: after a crash everything from there is taken again (at least once), and a
   * delivered event costs no LevelDB write of its own. Retries and dead letters are stored.
   * Pull: locks are held by receivers, so every lock is stored and stays valid until it expires.
   */
  push: boolean
}

/** How long a node's added counts may wait before they are stored (store.counts). */
export const COUNTS_FLUSH_MS = 1000

interface Tally { delivered: number, failed: number, deadLettered: number, lastError?: string }
const noTally = (): Tally => ({ delivered: 0, failed: 0, deadLettered: 0 })
const errorOf = (result: { status?: number, error?: string }): string | undefined =>
  result.error ?? (result.status === undefined ? undefined : `HTTP ${result.status}`)

const SCAN_PER_TAKE = 5000
/** Records a take reads (and filters) in one turn of the event loop before it lets ingest run. */
const SCAN_PER_SLICE = 500
const nextTurn = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

export async function openQueue (opts: QueueOptions, startOffset: number): Promise<SubscriptionQueue> {
  const { store, log, topic, clock, limits } = opts
  const pending = new Map<number, PendingEntry>()
  // The entries by the moment they come due (dueAt), so that a take or a wake-up looks at what
  // is due instead of every entry held: a pull subscription holds thousands of locked events,
  // and scanning them all on every receive took 9 % of the ingest thread's samples at 5,000
  // msg/s. Lazy: an entry that changes or is settled leaves its node behind, told apart by
  // identity (every change makes a new entry object), and the heaps are rebuilt when such
  // nodes outnumber the live ones. `ready` holds, by offset, the entries found due and not
  // taken yet (a take stops at `max`), so takes hand them out oldest first.
  const due = new TimeHeap<PendingEntry>()
  const ready = new TimeHeap<PendingEntry>()
  const live = (e: PendingEntry): boolean => pending.get(e.offset) === e
  function hold (e: PendingEntry): void {
    pending.set(e.offset, e)
    due.push(dueAt(e, limits), e)
    if (due.size + ready.size > 2 * pending.size + 1024) {
      due.retain(live)
      ready.retain(live)
    }
  }
  /** Moves what has come due by `now` into `ready`; returns the oldest live ready entry. */
  function nextReady (now: number): PendingEntry | undefined {
    while (due.size > 0 && due.minTime() <= now) {
      const e = due.pop().value
      if (live(e)) ready.push(e.offset, e)
    }
    while (ready.size > 0 && !live(ready.peek() as PendingEntry)) ready.pop()
    return ready.peek()
  }
  const counters: QueueCounters = { delivered: 0, failed: 0, deadLettered: 0 }
  let deadCount = 0
  // Store-kept counts: the totals so far, plus what this node adds, sent in batches.
  const counts = store.counts
  let unsent: DeliveryCounts = { delivered: 0, failed: 0 }
  let flushTimer: TimerHandle | undefined
  let flushing: Promise<void> = Promise.resolve()
  let closed = false
  if (counts !== undefined) {
    const total = await counts.load()
    counters.delivered = total.delivered
    counters.failed = total.failed
    if (total.lastError !== undefined) counters.lastError = total.lastError
  }
  function flush (): Promise<void> {
    flushTimer = undefined
    if (counts === undefined || (unsent.delivered === 0 && unsent.failed === 0 && unsent.lastError === undefined)) return flushing
    const delta = unsent
    unsent = { delivered: 0, failed: 0 }
    flushing = flushing.then(async () => {
      try {
        await counts.add(delta)
      } catch (err) {
        // Lost the lease, or the subscription was deleted: these counts are nobody's now.
        if ((err as { code?: unknown }).code === 'SUBSCRIPTION_NOT_OWNED') return
        // Otherwise (Redis unreachable) they go with the next batch.
        unsent = { delivered: unsent.delivered + delta.delivered, failed: unsent.failed + delta.failed, lastError: unsent.lastError ?? delta.lastError }
        if (!closed) flushTimer ??= clock.setTimer(COUNTS_FLUSH_MS, () => { void flush() })
      }
    })
    return flushing
  }
  /** Counts what a call wrote (only once its write succeeded). */
  function count (t: Tally): void {
    counters.delivered += t.delivered
    counters.failed += t.failed
    counters.deadLettered += t.deadLettered
    if (t.lastError !== undefined) counters.lastError = t.lastError
    if (counts === undefined || (t.delivered === 0 && t.failed === 0 && t.lastError === undefined)) return
    unsent.delivered += t.delivered
    unsent.failed += t.failed
    if (t.lastError !== undefined) unsent.lastError = t.lastError
    if (!closed) flushTimer ??= clock.setTimer(COUNTS_FLUSH_MS, () => { void flush() })
  }

  const loaded = await store.load()
  let cursor = loaded.cursor ?? startOffset
  let storedCursor = cursor
  for (const e of loaded.pending) hold(opts.push && e.lockToken !== undefined ? unlock(e, e.availableAt) : e)
  deadCount = loaded.deadOffsets.length
  // Push: offsets at or past the stored cursor that already ended as dead letters; the log
  // scan after a restart passes them by instead of delivering them again.
  const settledAhead = new Set<number>()
  if (opts.push) {
    for (const offset of loaded.deadOffsets) if (offset >= cursor) settledAhead.add(offset)
  }
  // Push: offsets taken from the log and in flight, in increasing order; `settledVolatile`
  // marks those settled, so the lowest unsettled one is found without a scan.
  const inFlight: number[] = []
  let inFlightHead = 0
  const settledVolatile = new Set<number>()
  function lowWatermark (): number {
    while (inFlightHead < inFlight.length && settledVolatile.has(inFlight[inFlightHead] as number)) {
      settledVolatile.delete(inFlight[inFlightHead] as number)
      inFlightHead++
    }
    if (inFlightHead > 1024 && inFlightHead * 2 > inFlight.length) {
      inFlight.splice(0, inFlightHead)
      inFlightHead = 0
    }
    return inFlightHead < inFlight.length ? inFlight[inFlightHead] as number : cursor
  }
  /** Push: stores the low watermark as the cursor when it moved. */
  function cursorOp (): QueueChange[] {
    const at = opts.push ? lowWatermark() : cursor
    if (at === storedCursor) return []
    storedCursor = at
    return [{ kind: 'cursor', offset: at }]
  }
  function forgetVolatile (e: PendingEntry): void {
    if (e.volatile === true) settledVolatile.add(e.offset)
  }

  // Calls on one subscription run one at a time: each reads and changes the state in memory,
  // then hands its changes to the group commit below and lets the next call run while they
  // are written. A call answers once its changes are written.
  let chain: Promise<unknown> = Promise.resolve()
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => undefined)
    return run
  }

  // Group commit: the changes of the calls made while a write is in flight go together in the
  // next write, in call order (a later change of an entry wins), so concurrent receivers wait
  // for one round trip to the store, not one each (on Redis with appendfsync always, each is
  // an fsync). A failed write fails every call in it; their changes stay in memory, as a
  // failed call's always did (a lock handed out nowhere expires, the cursor goes with the next).
  let queued: QueueChange[] = []
  let waiting: Array<{ resolve: () => void, reject: (err: unknown) => void }> = []
  let writing: Promise<void> | undefined
  async function writeAll (): Promise<void> {
    while (waiting.length > 0) {
      const ops = queued
      const calls = waiting
      queued = []
      waiting = []
      try {
        await store.write(ops)
        for (const c of calls) c.resolve()
      } catch (err) {
        for (const c of calls) c.reject(err)
      }
    }
    writing = undefined
  }
  function write (ops: readonly QueueChange[]): Promise<void> {
    for (const op of ops) queued.push(op)
    const done = new Promise<void>((resolve, reject) => { waiting.push({ resolve, reject }) })
    writing ??= writeAll()
    return done
  }

  const put = (e: PendingEntry): QueueChange => ({ kind: 'pending', offset: e.offset, entry: e })
  const drop = (offset: number): QueueChange => ({ kind: 'pending', offset, entry: null })
  // One random draw per take that locks something, not per event: tokens are
  // `{offset}.{takeNonce}{n}`. Drawn with the take's first token: a take that finds nothing
  // (each receive's first, on arrival) needs none.
  let nonce = ''
  let n = 0
  const token = (offset: number): string => {
    if (nonce === '') nonce = randomBytes(12).toString('base64url')
    return makeLockToken(offset, `${nonce}${(n++).toString(36)}`)
  }

  // Records past the cursor read in the background (read-ahead.ts).
  const ahead = createReadAhead(log, topic, () => cursor)

  async function readOne (offset: number): Promise<LogRecord | undefined> {
    const { records } = await log.read(topic, { offset }, 1)
    const r = records[0]
    return r?.offset === offset ? r : undefined
  }

  function deadLetterOp (e: PendingEntry, bytes: Buffer | undefined, reason: string, now: number): QueueChange {
    const record: DeadLetter = {
      offset: e.offset,
      event: bytes?.toString('utf8') ?? 'null',
      deadLetterReason: reason,
      deliveryAttempts: e.deliveryCount,
      lastHttpStatusCode: e.lastStatus,
      lastError: e.lastError,
      publishedAt: new Date(e.appendTime).toISOString(),
      deadLetteredAt: new Date(now).toISOString()
    }
    return { kind: 'dead', offset: e.offset, letter: record }
  }

  async function settle (tokens: readonly string[], apply: (e: PendingEntry, now: number, ops: QueueChange[], tally: Tally) => Promise<void> | void): Promise<SettleOutcome[]> {
    const call = await serially(async () => {
      const now = clock.now()
      const ops: QueueChange[] = []
      const tally = noTally()
      const outcomes: SettleOutcome[] = []
      const seen = new Set<string>()
      for (const t of tokens) {
        const offset = typeof t === 'string' ? offsetOfToken(t) : undefined
        const e = offset === undefined ? undefined : pending.get(offset)
        if (typeof t !== 'string' || seen.has(t) || !holdsLock(e, t, now)) {
          outcomes.push({ ok: false, code: 'LOCK_TOKEN_INVALID', message: 'the lock token is unknown, already settled, or its lock expired' })
          continue
        }
        seen.add(t)
        await apply(e, now, ops, tally)
        outcomes.push({ ok: true })
      }
      if (opts.push) ops.push(...cursorOp())
      return { outcomes, tally, written: write(ops) }
    })
    await call.written
    count(call.tally)
    return call.outcomes
  }

  return {
    get cursor () { return cursor },
    counters,

    take: async (max, lockMs) => {
      const call = await serially(async () => {
        const now = clock.now()
        nonce = ''
        n = 0
        const out: Delivery[] = []
        const ops: QueueChange[] = []
        let dead = 0
        // Settled-but-unfinished first: released, retried or lock-expired events, oldest first.
        for (let e = nextReady(now); e !== undefined && out.length < max; e = nextReady(now)) {
          ready.pop()
          const v = verdict(e, now, limits)
          if (v.kind === 'wait') { // only when the clock went back
            due.push(dueAt(e, limits), e)
            continue
          }
          const record = await readOne(e.offset)
          if (record === undefined) { // removed by retention meanwhile
            pending.delete(e.offset)
            ops.push(drop(e.offset))
            continue
          }
          if (v.kind === 'deadletter') {
            pending.delete(e.offset)
            forgetVolatile(e)
            ops.push(drop(e.offset), deadLetterOp(e, record.bytes, v.reason, now))
            dead++
            continue
          }
          const locked = lockFor(e, token(e.offset), now, lockMs)
          hold(locked)
          if (locked.volatile !== true) ops.push(put(locked))
          out.push({ offset: e.offset, appendTime: e.appendTime, lockToken: locked.lockToken as string, deliveryCount: locked.deliveryCount, bytes: record.bytes })
        }
        // Then new events from the log, through the filter.
        let scanned = 0
        const startCursor = cursor
        let firstSize = 0 // of this take's first read: what the read-ahead reads per step
        let more = false // the last read filled its size: the log likely holds more
        while (out.length < max && pending.size < limits.maxPending && scanned < SCAN_PER_TAKE) {
        // A filtered scan parses what it reads: in slices, so it never holds the ingest loop long.
          if (scanned > 0) await nextTurn()
          // Without a filter every record read is delivered: read no more than needed.
          const want = max - out.length
          const size = Math.min(SCAN_PER_SLICE, opts.matchesAll ? want : Math.max(want, 100))
          if (firstSize === 0) firstSize = size
          const records = await ahead.readFrom(cursor, size)
          more = records.length === size
          if (records.length === 0) break
          for (const r of records) {
            if (out.length >= max || pending.size >= limits.maxPending) break
            cursor = r.offset + 1
            scanned++
            // Push after a restart: taken again from the stored cursor; skip what is already settled or waiting.
            if (pending.has(r.offset)) continue
            if (settledAhead.delete(r.offset)) continue
            if (!opts.matchesAll) {
              const ev = opts.parse(topic, r)
              if (ev === undefined || !opts.matcher(ev)) continue
            }
            const fresh: PendingEntry = { offset: r.offset, appendTime: r.time, deliveryCount: 0, availableAt: now }
            if (now >= fresh.appendTime + limits.ttlMs) {
              ops.push(deadLetterOp(fresh, r.bytes, REASON_TTL, now))
              dead++
              continue
            }
            const locked = lockFor(fresh, token(r.offset), now, lockMs)
            if (opts.push) {
              locked.volatile = true
              inFlight.push(r.offset)
            } else {
              ops.push(put(locked))
            }
            hold(locked)
            out.push({ offset: r.offset, appendTime: r.time, lockToken: locked.lockToken as string, deliveryCount: 1, bytes: r.bytes })
          }
        }
        if (cursor !== startCursor || opts.push) ops.push(...cursorOp())
        if (firstSize > 0) {
          ahead.consume(cursor)
          if ((more || ahead.count > 0) && pending.size < limits.maxPending) ahead.fill(firstSize)
        }
        return { out, dead, written: write(ops) }
      })
      await call.written
      deadCount += call.dead
      count({ ...noTally(), deadLettered: call.dead })
      if (call.dead > 0) opts.onDeadLetter?.(call.dead)
      return call.out
    },

    nextWakeAt: () => {
      const now = clock.now()
      if (nextReady(now) !== undefined) return now
      while (due.size > 0 && !live(due.peek() as PendingEntry)) due.pop()
      return due.size === 0 ? undefined : due.minTime()
    },

    acknowledge: (tokens) => settle(tokens, (e, _now, ops, tally) => {
      pending.delete(e.offset)
      if (e.volatile === true) forgetVolatile(e)
      else ops.push(drop(e.offset))
      tally.delivered++
    }),

    release: (tokens, delayMs, result) => settle(tokens, (e, now, ops, tally) => {
      forgetVolatile(e) // a retry is stored from now on
      const next = unlock(e, now + delayMs, result)
      hold(next)
      ops.push(put(next))
      if (result !== undefined) {
        tally.failed++
        tally.lastError = errorOf(result)
      }
    }),

    reject: (tokens, reason, result) => settle(tokens, async (e, now, ops, tally) => {
      const record = await readOne(e.offset)
      pending.delete(e.offset)
      forgetVolatile(e)
      const last = { ...e, lastStatus: result?.status ?? e.lastStatus, lastError: result?.error ?? e.lastError }
      if (e.volatile !== true) ops.push(drop(e.offset))
      ops.push(deadLetterOp(last, record?.bytes, reason, now))
      deadCount++
      tally.deadLettered++
      if (result !== undefined) {
        tally.failed++
        tally.lastError = errorOf(result)
      }
      opts.onDeadLetter?.(1)
    }),

    renew: (tokens, lockMs) => settle(tokens, (e, now, ops) => {
      const next = { ...e, lockedUntil: now + lockMs }
      hold(next)
      ops.push(put(next))
    }),

    stats: () => {
      const now = clock.now()
      let locked = 0
      for (const e of pending.values()) if (e.lockedUntil !== undefined && e.lockedUntil > now) locked++
      return { pending: pending.size, locked, waiting: pending.size - locked, deadLettered: deadCount }
    },

    deadLetters: (limit) => store.deadLetters(limit),

    redeliver: (offsets) => serially(async () => {
      // Dead letters of calls still being written are in the store once they are.
      await writing
      const now = clock.now()
      const wanted = offsets === undefined ? undefined : new Set(offsets)
      const ops: QueueChange[] = []
      let n = 0
      for (const d of await store.deadLetters()) {
        if (wanted !== undefined && !wanted.has(d.offset)) continue
        const e: PendingEntry = { offset: d.offset, appendTime: now, deliveryCount: 0, availableAt: now }
        hold(e)
        ops.push({ kind: 'dead', offset: d.offset, letter: null }, put(e))
        n++
      }
      await write(ops)
      deadCount -= n
      return n
    }),

    destroy: () => serially(async () => {
      closed = true
      ahead.close()
      flushTimer?.cancel()
      unsent = { delivered: 0, failed: 0 }
      pending.clear()
      due.clear()
      ready.clear()
      await writing
      await flushing
      await store.destroy()
    }),

    close: () => serially(async () => {
      if (closed) return
      closed = true
      ahead.close()
      flushTimer?.cancel()
      await writing
      await flush()
    })
  }
}
