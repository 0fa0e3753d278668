import { randomBytes } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Clock } from '../../core/clock.js'
import { GridgateError } from '../../core/errors.js'
import { assertTopicName } from '../../core/topic-name.js'
import { keyAt } from '../../log/dedupe.js'
import { segmentsToRemove, type RetentionPolicy, type SegmentEntry } from '../../log/retention.js'
import { indexSegment, SegmentCache } from '../../log/segment-cache.js'
import { encodeSegment } from '../../log/segment.js'
import type { AppendResult, DedupeKeys, LogObserver, ReadFrom, TopicInfo, TopicLog } from '../../log/types.js'
import { storageError } from './availability.js'
import { redisLogReader } from './redis-log-reads.js'
import { num, type RedisArg, type RedisConnection } from './connection.js'
import { APPEND, CREATE, DELETE, TOPIC_LOG_SCRIPTS, TRIM } from './topic-log-scripts.js'

// Namespace topics on Redis. Keys under the engine's prefix P:
//   P log:topics            HASH    topic name → incarnation: the topic table every instance reads
//   P log:gen               STRING  counter of incarnations (a topic deleted and created again is a new one)
//   P log:t:{topic}:head    HASH    gen, created (ms), ret (the topic's own retention, JSON),
//                                   next (offset the next event gets), first (oldest retained),
//                                   bytes (retained), last (newest append time, ms),
//                                   dedup (deduplication window, seconds; 0 or absent: off)
//   P log:t:{topic}:seg     STREAM  one entry per group-commit batch of the topic: ID `{firstOffset}-1`,
//                                   field `s` = the segment (log/segment.ts): the offset index is the
//                                   stream ID, so the segment holding offset N is XREVRANGE `N-1` - COUNT 1
//   P log:t:{topic}:time    ZSET    score = append time (ms), member = `{firstOffset:016}:{count}:{bytes}`:
//                                   the time index (read from a time) and what retention reads; ordered
//                                   like the offsets, because append times never decrease along a topic
//   P log:t:{topic}:dedup   ZSET    score = append time (ms), member = deduplication key (log/dedupe.ts):
//                                   the keys appended within the window; the append script drops
//                                   what has passed the window, a retention sweep too
//   channel P log:appends           `{instance} {nextOffset} {topic}` after each committed segment,
//                                   `{instance} - {topic}` after a retention trim or a delete
//
// Appends. Each instance gathers concurrent appends into one batch (group commit) and writes the
// batch with ONE Lua script: for each topic in it, the script reads the topic's `next`, writes
// one stream entry holding all of the batch's events for the topic, indexes it, advances `next`
// by the number of events and publishes a notice. Offsets are thus assigned by Redis, inside an
// atomic step, from the stored counter: dense and gap-free across every instance and node, and
// never reused (a failed script writes nothing: it checks every topic first). The append time
// is the instance's clock, raised to the topic's last append time when that is later (another
// node's clock), so times never decrease along a topic; the script patches the segment header
// then. Deduplication is decided in the same script, before its first write (a ZSCORE per
// key, by append time, so it holds across nodes and under a manual clock): it names the
// duplicates and writes nothing, and the batch goes again without them (duplicates are the
// rare case: a device resending). Keys are sent only for topics this instance knows to
// deduplicate (from the script's last answer or a head it read), so a topic without it costs
// nothing; a deduplicating topic sent without keys is refused the same way and goes again
// with them. Other writes of the storage layer that must be atomic with events (a command's state)
// ride in the same script (`appendWith`). A batch resolves when Redis answered the script: with
// `appendfsync always` that is after the fsync (connection.ts).
//
// Notices. The script PUBLISHes on one channel per prefix; each TopicLog core holds a
// subscriber connection and calls its listeners for every notice of another instance (its own
// appends it announces directly). Pub/sub is at most once: after the subscriber reconnects,
// the core announces every topic's current next offset, so a reader that missed notices during
// the outage re-reads from its cursor. Notices carry no data: readers read from the stream.
//
// Reads go through a per-core cache of decoded segments, and otherwise read the holding
// segment and the ones after it in one MULTI (redis-log-reads.ts).
//
// Retention trims whole segments from the oldest end: one script per step, which first checks
// that the topic's incarnation and first offset are still what the sweep read (two nodes
// sweeping at once never both subtract the same bytes), then XTRIM MINID and ZREMRANGEBYRANK.

/** A write of another adapter that must land with the events (a key and its command's arguments). */
export interface RedisOp {
  cmd: string
  key: string
  args: readonly RedisArg[]
}

export interface RedisTopicLogOptions {
  redis: RedisConnection
  clock: Clock
  maxBatchEvents: number
  maxBatchBytes: number
  /** Applied where a topic sets no retention of its own. */
  defaultRetention: RetentionPolicy
  /** Bytes of recent segments kept decoded in memory for readers (0 turns it off). */
  cacheBytes: number
  observer?: LogObserver
}

/** One process' log on Redis: `view()` hands out TopicLog instances that share it. */
export interface RedisTopicLogs {
  view: () => TopicLog
  /**
   * Appends like TopicLog.append (no topic: only the ops), with other writes of this engine in
   * the same atomic script, in the order of the calls.
   */
  appendWith: (topic: string | undefined, events: readonly Buffer[], ops: readonly RedisOp[]) => Promise<AppendResult | undefined>
  close: () => Promise<void>
}

interface Head {
  gen: string
  createdAt: number
  retention: Partial<RetentionPolicy>
  first: number
  next: number
  bytes: number
  /** Deduplication window, seconds (0: off). */
  dedup: number
}

interface Pending {
  topic: string | undefined
  events: readonly Buffer[]
  keys: DedupeKeys | undefined
  /** Indexes of the events found duplicates so far (ascending), left out of the next try. */
  dups?: number[]
  ops: readonly RedisOp[]
  size: number
  resolve: (r: AppendResult | undefined) => void
  reject: (e: Error) => void
}

const notFound = (topic: string): GridgateError =>
  new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })

function headOf (fields: Record<string, string>): Head | undefined {
  if (fields.gen === undefined) return undefined
  return {
    gen: fields.gen,
    createdAt: Number(fields.created),
    retention: JSON.parse(fields.ret ?? '{}') as Partial<RetentionPolicy>,
    first: Number(fields.first),
    next: Number(fields.next),
    bytes: Number(fields.bytes),
    dedup: Number(fields.dedup ?? 0)
  }
}

/** A flat [field, value, ...] array (a script's HGETALL) as an object. */
function pairs (flat: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  const list = flat as string[]
  for (let i = 0; i + 1 < list.length; i += 2) out[list[i] as string] = list[i + 1] as string
  return out
}

export async function openRedisTopicLogs (opts: RedisTopicLogOptions): Promise<RedisTopicLogs> {
  const { redis, clock, observer } = opts
  const client: Redis = redis.client
  const P = redis.prefix
  const topicsKey = `${P}log:topics`
  const genKey = `${P}log:gen`
  const channel = `${P}log:appends`
  const keys = (topic: string): { head: string, seg: string, time: string, dedup: string } => {
    const base = `${P}log:t:${topic}:`
    return { head: base + 'head', seg: base + 'seg', time: base + 'time', dedup: base + 'dedup' }
  }
  // Topics this instance knows to deduplicate: their appends carry keys (see above).
  const deduplicating = new Set<string>()
  const learn = (topic: string, h: { dedup: number } | undefined): void => {
    if (h !== undefined && h.dedup > 0) deduplicating.add(topic)
    else deduplicating.delete(topic)
  }
  const instance = randomBytes(8).toString('hex')
  const cache = new SegmentCache(opts.cacheBytes)
  const cacheKey = (topic: string, gen: string): string => `${topic}\u0000${gen}`
  const listeners = new Set<(topic: string, nextOffset: number) => void>()
  const notify = (topic: string, next: number): void => {
    for (const l of [...listeners]) l(topic, next)
  }
  const removeListeners = new Set<(topic: string | undefined) => void>()
  const announceRemoval = (topic: string | undefined): void => {
    for (const l of [...removeListeners]) l(topic)
  }

  const { readFromOffset, offsetAtTime } = redisLogReader(client, cache, (topic, gen) => ({ cache: cacheKey(topic, gen), ...keys(topic) }))

  await redis.loadScripts(TOPIC_LOG_SCRIPTS)

  // The subscriber: notices of the other instances' appends.
  const subscriber = redis.duplicate()
  let subscribed = false
  subscriber.on('message', (ch: string, message: string) => {
    if (ch !== channel) return
    const a = message.indexOf(' ')
    const b = message.indexOf(' ', a + 1)
    if (a < 0 || b < 0 || message.slice(0, a) === instance) return
    const next = message.slice(a + 1, b)
    if (next === '-') announceRemoval(message.slice(b + 1))
    else notify(message.slice(b + 1), Number(next))
  })
  subscriber.on('ready', () => {
    // A reconnect: notices published while it was down are lost, so announce where every
    // topic stands; readers re-read from their own cursors and drop what they read ahead.
    if (!subscribed) return
    announceRemoval(undefined)
    void listTopics().then((list) => { for (const t of list) notify(t.name, t.nextOffset) }, () => {})
  })
  try {
    await subscriber.subscribe(channel)
    subscribed = true
  } catch (err) {
    subscriber.disconnect()
    throw err
  }

  async function readHead (topic: string): Promise<Head | undefined> {
    const h = headOf(await client.hgetall(keys(topic).head))
    learn(topic, h)
    return h
  }

  async function requireHead (topic: string): Promise<Head> {
    const h = await readHead(topic)
    if (h === undefined) throw notFound(topic)
    return h
  }

  function info (name: string, h: Head): TopicInfo {
    return {
      name,
      retention: { ...opts.defaultRetention, ...h.retention },
      createdAt: new Date(h.createdAt).toISOString(),
      firstOffset: h.first,
      nextOffset: h.next,
      events: h.next - h.first,
      bytes: h.bytes,
      ...(h.dedup > 0 ? { deduplication: { windowSeconds: h.dedup } } : {})
    }
  }

  async function listTopics (): Promise<TopicInfo[]> {
    const names = await client.hkeys(topicsKey)
    const heads = await Promise.all(names.map(readHead))
    const out: TopicInfo[] = []
    names.forEach((name, i) => {
      const h = heads[i]
      if (h !== undefined) out.push(info(name, h))
    })
    return out.sort((a, b) => a.name.localeCompare(b.name))
  }

  // ---- the group commit ----
  let queue: Pending[] = []
  let writing = false
  let scheduled = false
  let closed = false
  let idle: Array<() => void> = []

  function take (): Pending[] {
    let bytes = 0
    let events = 0
    let n = 0
    while (n < queue.length) {
      const p = queue[n] as Pending
      // An item over a limit still goes, alone.
      if (n > 0 && (bytes + p.size > opts.maxBatchBytes || events + p.events.length > opts.maxBatchEvents)) break
      bytes += p.size
      events += p.events.length
      n++
    }
    const batch = queue.slice(0, n)
    queue = queue.slice(n)
    return batch
  }

  async function writeBatch (batch: Pending[]): Promise<void> {
    const started = performance.now()
    const bytes = batch.reduce((s, p) => s + p.size, 0)
    let live = batch
    for (;;) {
      // All events of one topic in this batch become one segment, in queue order, without the
      // duplicates found so far; `origin` maps the segment's events back to their appends.
      const groups = new Map<string, { events: Buffer[], keys: string[] | undefined, origin: Array<[Pending, number]>, items: Array<[Pending, number]> }>()
      for (const p of live) {
        if (p.topic === undefined || p.events.length === 0) continue
        let g = groups.get(p.topic)
        if (g === undefined) groups.set(p.topic, g = { events: [], keys: deduplicating.has(p.topic) ? [] : undefined, origin: [], items: [] })
        g.items.push([p, g.events.length])
        let d = 0
        for (let i = 0; i < p.events.length; i++) {
          if (p.dups !== undefined && p.dups[d] === i) { d++; continue }
          g.events.push(p.events[i] as Buffer)
          if (g.keys === undefined) continue
          g.keys.push(keyAt(p.events, p.keys, i) ?? '')
          g.origin.push([p, i])
        }
      }
      const time = clock.now()
      const scriptKeys: string[] = []
      const args: RedisArg[] = [channel, instance, num(time), groups.size]
      const segments: Buffer[] = []
      for (const [topic, g] of groups) {
        const k = keys(topic)
        scriptKeys.push(k.head, k.seg, k.time, k.dedup)
        const segment = g.events.length > 0 ? encodeSegment(g.events, time) : Buffer.alloc(0)
        segments.push(segment)
        args.push(topic, g.events.length, segment, g.keys?.length ?? 0)
        if (g.keys !== undefined) args.push(...g.keys)
      }
      const ops = live.flatMap((p) => p.ops)
      args.push(ops.length)
      for (const op of ops) {
        scriptKeys.push(op.key)
        args.push(op.cmd, scriptKeys.length, op.args.length, ...op.args)
      }
      let reply: unknown
      try {
        reply = await APPEND.run(client, scriptKeys, args)
      } catch (cause) {
        observer?.batch?.(batch.length, bytes, performance.now() - started, false)
        // No answer (Redis unreachable, or lost with the script in flight, which it may or may
        // not have run): STORAGE_UNAVAILABLE; a refusal from Redis: STORAGE_WRITE_FAILED.
        const mapped = storageError(cause, redis.availability)
        const error = mapped instanceof GridgateError ? mapped : new GridgateError('STORAGE_WRITE_FAILED', undefined, { cause })
        for (const p of live) p.reject(error)
        return
      }
      const list = reply as unknown[]
      const names = [...groups.keys()]
      if (list[0] === 'missing') {
        // Nothing was written: refuse the items of the missing topics, write the others.
        const missing = new Set((list.slice(1) as number[]).map((i) => names[i - 1] as string))
        live = live.filter((p) => {
          if (p.topic === undefined || !missing.has(p.topic)) return true
          p.reject(notFound(p.topic))
          return false
        })
        if (live.length === 0) return
        continue
      }
      if (list[0] === 'keys') {
        // Nothing was written: these topics deduplicate (turned on through another instance).
        for (const i of list.slice(1) as number[]) deduplicating.add(names[i - 1] as string)
        continue
      }
      if (list[0] === 'dups') {
        // Nothing was written: leave the duplicates out and go again.
        for (const [i, j] of list[1] as Array<[number, number]>) {
          const [p, index] = (groups.get(names[i - 1] as string) as { origin: Array<[Pending, number]> }).origin[j - 1] as [Pending, number]
          ;(p.dups ??= []).push(index)
        }
        for (const p of live) p.dups?.sort((a, b) => a - b)
        continue
      }
      observer?.batch?.(batch.length, bytes, performance.now() - started, true)
      let i = 0
      const results = new Map<Pending, AppendResult>()
      const notices: Array<[string, number]> = []
      for (const [topic, g] of groups) {
        const [gen, firstText, timeText, windowText] = list[i] as [string, string, string, string]
        const segment = segments[i] as Buffer
        i++
        const first = Number(firstText)
        const t = Number(timeText)
        learn(topic, { dedup: Number(windowText) })
        let duplicates = 0
        for (const [p, at] of g.items) {
          const appended = p.events.length - (p.dups?.length ?? 0)
          duplicates += p.events.length - appended
          results.set(p, { firstOffset: first + at, nextOffset: first + at + appended, time: t, ...(p.dups !== undefined ? { duplicates: p.dups } : {}) })
        }
        if (duplicates > 0) observer?.duplicates?.(topic, duplicates)
        if (g.events.length === 0) continue
        if (t !== time) segment.writeDoubleLE(t, 5) // as the script stored it
        cache.put(cacheKey(topic, gen), indexSegment(segment, first))
        observer?.appended?.(topic, g.events.length)
        notices.push([topic, first + g.events.length])
      }
      for (const [topic, next] of notices) notify(topic, next)
      for (const p of live) p.resolve(results.get(p))
      return
    }
  }

  async function run (): Promise<void> {
    scheduled = false
    if (writing) return
    writing = true
    try {
      while (queue.length > 0) await writeBatch(take())
    } finally {
      writing = false
      const waiters = idle
      idle = []
      for (const w of waiters) w()
    }
  }

  function submit (topic: string | undefined, events: readonly Buffer[], ops: readonly RedisOp[], keys?: DedupeKeys): Promise<AppendResult | undefined> {
    if (closed) return Promise.reject(new GridgateError('SHUTTING_DOWN'))
    let size = 64
    for (const e of events) size += 4 + e.length
    for (const op of ops) for (const a of op.args) size += typeof a === 'number' ? 8 : a.length
    return new Promise((resolve, reject) => {
      queue.push({ topic, events, keys, ops, size, resolve, reject })
      if (!scheduled && !writing) {
        scheduled = true
        // setImmediate, not a microtask: requests parsed in the same I/O phase join one batch.
        setImmediate(() => { void run() })
      }
    })
  }

  function drain (): Promise<void> {
    if (!writing && !scheduled && queue.length === 0) return Promise.resolve()
    return new Promise((resolve) => { idle.push(resolve) })
  }

  // ---- retention ----
  async function trimTopic (name: string, now: number): Promise<number> {
    const h = await readHead(name)
    if (h === undefined) return 0
    // Keys past the window, on a topic no append has expired them on lately (this node's clock).
    if (h.dedup > 0) await client.zremrangebyscore(keys(name).dedup, '-inf', num(now - h.dedup * 1000))
    const policy = { ...opts.defaultRetention, ...h.retention }
    if (policy.maxAgeSeconds === 0 && policy.maxBytes === 0) return 0
    const k = keys(name)
    let removed = 0
    for (;;) {
      const flat = await client.zrange(k.time, 0, 255, 'WITHSCORES')
      const entries: SegmentEntry[] = []
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [first, count, bytes] = (flat[i] as string).split(':').map(Number) as [number, number, number]
        entries.push({ firstOffset: first, count, bytes, time: Number(flat[i + 1]) })
      }
      const n = segmentsToRemove(entries, h.bytes, policy, now)
      if (n === 0) break
      const gone = entries.slice(0, n)
      const lastGone = gone[n - 1] as SegmentEntry
      const firstOffset = lastGone.firstOffset + lastGone.count
      const bytes = gone.reduce((s, e) => s + e.bytes, 0)
      const done = await TRIM.run(client, [k.head, k.seg, k.time], [h.gen, num(h.first), n, num(firstOffset), bytes, channel, instance, name])
      if (done !== 1) break // changed meanwhile (another sweep, a delete): the next sweep looks again
      const events = firstOffset - h.first
      h.first = firstOffset
      h.bytes -= bytes
      cache.drop(cacheKey(name, h.gen), firstOffset)
      announceRemoval(name)
      removed += events
      observer?.removed?.(name, events, bytes)
      if (n < entries.length) break
    }
    return removed
  }

  // ---- the port ----
  const createTopic: TopicLog['createTopic'] = async (name, retention, deduplication) => {
    assertTopicName(name)
    const k = keys(name)
    const [created, fields] = await CREATE.run(client, [topicsKey, genKey, k.head, k.seg, k.time, k.dedup], [
      name, num(clock.now()), retention === undefined ? '' : JSON.stringify(retention), deduplication === undefined ? '' : deduplication.windowSeconds
    ]) as [number, unknown]
    const h = headOf(pairs(fields)) as Head
    learn(name, h)
    return { topic: info(name, h), created: created === 1 }
  }

  const deleteTopic: TopicLog['deleteTopic'] = async (name) => {
    const k = keys(name)
    const h = await readHead(name)
    const deleted = await DELETE.run(client, [topicsKey, k.head, k.seg, k.time, k.dedup], [name, channel, instance]) === 1
    if (h !== undefined) cache.drop(cacheKey(name, h.gen))
    if (deleted) announceRemoval(name)
    return deleted
  }

  const read: TopicLog['read'] = async (topic, from: ReadFrom, limit) => {
    const h = await requireHead(topic)
    const offset = 'time' in from ? await offsetAtTime(topic, h, from.time) : from.offset
    return await readFromOffset(topic, h, offset, limit)
  }

  const enforceRetention: TopicLog['enforceRetention'] = async () => {
    const now = clock.now()
    let removed = 0
    for (const name of (await client.hkeys(topicsKey)).sort()) removed += await trimTopic(name, now)
    return removed
  }

  function view (): TopicLog {
    const mine = new Set<(topic: string, nextOffset: number) => void>()
    const mineRemove = new Set<(topic: string | undefined) => void>()
    const inFlight = new Set<Promise<unknown>>()
    let viewClosed = false
    const listen = (l: (topic: string, nextOffset: number) => void): () => void => {
      mine.add(l)
      listeners.add(l)
      return () => { mine.delete(l); listeners.delete(l) }
    }
    return {
      createTopic,
      deleteTopic,
      getTopic: async (name) => {
        const h = await readHead(name)
        return h === undefined ? undefined : info(name, h)
      },
      listTopics,
      append: async (topic, events, keys) => {
        if (viewClosed) throw new GridgateError('SHUTTING_DOWN')
        if (events.length === 0) {
          const h = await requireHead(topic)
          return { firstOffset: h.next, nextOffset: h.next, time: clock.now() }
        }
        const p = submit(topic, events, [], keys)
        inFlight.add(p)
        try { return await p as AppendResult } finally { inFlight.delete(p) }
      },
      read,
      waitForAppend: async (topic, afterOffset, timeoutMs) => await new Promise<boolean>((resolve, reject) => {
        let done = false
        // Listen first, then ask where the topic stands: an append is seen in the answer or
        // as a notice, never lost between.
        const stop = listen((name, next) => { if (name === topic && next > afterOffset) finish(true) })
        const timer = clock.setTimer(timeoutMs, () => finish(false))
        function finish (v: boolean | Error): void {
          if (done) return
          done = true
          stop()
          timer.cancel()
          if (v instanceof Error) reject(v)
          else resolve(v)
        }
        readHead(topic).then((h) => {
          if (h === undefined) finish(notFound(topic))
          else if (h.next > afterOffset) {
            // What the store says now is a notice too: every listener of this core hears it.
            notify(topic, h.next)
            finish(true)
          }
        }, (err: Error) => finish(err))
      }),
      onAppend: listen,
      onRemove: (l) => {
        mineRemove.add(l)
        removeListeners.add(l)
        return () => { mineRemove.delete(l); removeListeners.delete(l) }
      },
      enforceRetention,
      close: async () => {
        viewClosed = true
        await Promise.allSettled([...inFlight])
        for (const l of mine) listeners.delete(l)
        mine.clear()
        for (const l of mineRemove) removeListeners.delete(l)
        mineRemove.clear()
      }
    }
  }

  return {
    view,
    appendWith: async (topic, events, ops) => await submit(topic, events, ops),
    close: async () => {
      closed = true
      await drain()
      listeners.clear()
      removeListeners.clear()
      subscribed = false
      try { await subscriber.quit() } catch { subscriber.disconnect() }
    }
  }
}
