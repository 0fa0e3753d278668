import type { Clock } from '../../core/clock.js'
import { GridgateError } from '../../core/errors.js'
import { assertTopicName } from '../../core/topic-name.js'
import { DedupeWindow, keyAt, type DeduplicationPolicy, type PendingBatch } from '../../log/dedupe.js'
import { segmentsToRemove, type RetentionPolicy, type SegmentEntry } from '../../log/retention.js'
import { indexSegment, recordsOf, SegmentCache } from '../../log/segment-cache.js'
import { encodeSegment } from '../../log/segment.js'
import type { AppendResult, DedupeKeys, LogObserver, LogRecord, ReadFrom, ReadResult, TopicInfo, TopicLog } from '../../log/types.js'
import { createGroupCommit, type BatchPlan } from '../group-commit.js'
import type { LevelStore, Op } from './db.js'
import { decodeNumber, encodeOffset, encodeTime, RANGE_END } from './keys.js'

// Namespace topics on an abstract-level store (LevelDB on disk, or memory).
//   segments sublevel  `{topic}!{offset}`              one record per group-commit batch
//   index sublevel     `x!{topic}!{time}!{offset}`     [count, bytes, cumulativeBytes] per segment
//                      `m!{topic}`                     { retention, createdAt, deduplication? }
//                      `w!{topic}`                     { firstOffset, cumBytes } left by retention
//                      `d!{topic}!{time}!{offset}`     deduplication keys of one segment (JSON array)
// The time index sorts like the offsets because append times never decrease along a topic.
//
// One process holds the store (LevelDB locks its directory; memory is one heap), so the
// topic table, the group commit that assigns offsets and the append notices live once per
// store, in the core this module opens; every TopicLog handed out is a view of that core
// (the cross-instance rules of log/types.ts hold by construction).
//
// Deduplication (log/dedupe.ts). The one writer also makes the check atomic: the group
// commit's plan, which runs for one batch at a time, drops the events whose key the topic's
// in-memory index holds or the batch already takes, and writes the keys it takes as one `d!`
// record per segment in the same LevelDB batch as the events (one more key per batch, not per
// event: per-key cost is what limits LevelDB). The index learns them only once the batch is
// written. At open it is rebuilt from the `d!` records still inside the window; records past
// it are deleted as appends and retention sweeps go by, so both are bounded by the window.

interface TopicState {
  name: string
  retention: Partial<RetentionPolicy>
  createdAt: number
  firstOffset: number
  nextOffset: number
  /** Bytes of the segments still retained. */
  bytes: number
  /** Bytes ever appended, so a restart can derive `bytes` from two index entries. */
  cumBytes: number
  lastTime: number
  deleted: boolean
  /** The deduplication index, tagged with each batch's `d!` record key; undefined: off. */
  dedupe: DedupeWindow<string> | undefined
}

interface TopicMeta {
  retention?: Partial<RetentionPolicy>
  createdAt: number
  deduplication?: DeduplicationPolicy
}

type IndexValue = [count: number, bytes: number, cumBytes: number]

interface AppendItem {
  topic: string
  events: readonly Buffer[]
  keys?: DedupeKeys
  /** Other writes of the storage layer that must land in the same batch (a command's state). */
  extra?: readonly Op[]
}

export interface TopicLogOptions {
  storage: LevelStore
  clock: Clock
  /** fsync each batch before acknowledging it. */
  sync: boolean
  maxBatchEvents: number
  maxBatchBytes: number
  /** Applied where a topic sets no retention of its own. */
  defaultRetention: RetentionPolicy
  /** Bytes of recent segments kept decoded in memory for readers (0 turns it off). */
  cacheBytes: number
  /** GroupCommitOptions.delayMs (0 or absent: none). */
  commitDelayMs?: number
  observer?: LogObserver
}

const indexPrefix = (topic: string): string => `x!${topic}!`
const segmentPrefix = (topic: string): string => `${topic}!`
const dedupePrefix = (topic: string): string => `d!${topic}!`

function parseIndexKey (key: string): { time: number, firstOffset: number } {
  const parts = key.split('!')
  return { time: decodeNumber(parts[2] ?? ''), firstOffset: decodeNumber(parts[3] ?? '') }
}

/** The store's log: `view()` hands out TopicLog instances; `close()` ends the writer. */
export interface LevelTopicLogs {
  view: () => TopicLog
  /**
   * Appends like TopicLog.append, with other writes of this store in the same atomic batch
   * (for adapters that record state together with an event, e.g. a command's transition).
   */
  appendWith: (topic: string, events: readonly Buffer[], extra: readonly Op[]) => Promise<AppendResult>
  close: () => Promise<void>
}

export async function openLevelTopicLogs (opts: TopicLogOptions): Promise<LevelTopicLogs> {
  const { storage, clock, observer } = opts
  const segments = storage.binary('seg')
  const index = storage.json('topics')
  const topics = new Map<string, TopicState>()
  const cache = new SegmentCache(opts.cacheBytes)
  const appendListeners = new Set<(topic: string, nextOffset: number) => void>()
  const removeListeners = new Set<(topic: string | undefined) => void>()
  const announceRemoval = (topic: string): void => { for (const l of [...removeListeners]) l(topic) }
  // Topic creation and deletion are rare; one at a time keeps them simple.
  let adminChain: Promise<unknown> = Promise.resolve()
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = adminChain.then(fn, fn)
    adminChain = run.catch(() => undefined)
    return run
  }

  async function indexEntry (topic: string, reverse: boolean): Promise<{ key: string, value: IndexValue } | undefined> {
    const entries = await index.iterator({ gte: indexPrefix(topic), lt: indexPrefix(topic) + RANGE_END, reverse, limit: 1 }).all()
    const first = entries[0]
    return first === undefined ? undefined : { key: first[0], value: first[1] as IndexValue }
  }

  /** The topic's index from its `d!` records inside the window; the older ones are deleted. */
  async function loadDedupe (name: string, policy: DeduplicationPolicy | undefined): Promise<DedupeWindow<string> | undefined> {
    const prefix = dedupePrefix(name)
    const windowMs = (policy?.windowSeconds ?? 0) * 1000
    const from = prefix + encodeTime(clock.now() - windowMs + 1)
    await index.clear({ gte: prefix, lt: windowMs > 0 ? from : prefix + RANGE_END })
    if (windowMs === 0) return undefined
    const window = new DedupeWindow<string>(windowMs)
    for await (const [key, value] of index.iterator({ gte: from, lt: prefix + RANGE_END })) {
      window.add(decodeNumber(key.split('!')[2] ?? ''), value as string[], key)
    }
    return window
  }

  async function loadTopic (name: string, meta: TopicMeta): Promise<TopicState> {
    const mark = await index.get(`w!${name}`) as { firstOffset: number, cumBytes: number } | undefined
    const oldest = await indexEntry(name, false)
    const newest = await indexEntry(name, true)
    const state: TopicState = {
      name,
      retention: meta.retention ?? {},
      createdAt: meta.createdAt,
      firstOffset: mark?.firstOffset ?? 0,
      nextOffset: mark?.firstOffset ?? 0,
      bytes: 0,
      cumBytes: mark?.cumBytes ?? 0,
      lastTime: 0,
      deleted: false,
      dedupe: await loadDedupe(name, meta.deduplication)
    }
    if (oldest !== undefined && newest !== undefined) {
      const o = parseIndexKey(oldest.key)
      const n = parseIndexKey(newest.key)
      state.firstOffset = o.firstOffset
      state.nextOffset = n.firstOffset + newest.value[0]
      state.cumBytes = newest.value[2]
      state.bytes = newest.value[2] - (oldest.value[2] - oldest.value[1])
      state.lastTime = n.time
    }
    return state
  }

  for await (const [key, value] of index.iterator({ gte: 'm!', lt: 'm!' + RANGE_END })) {
    const name = key.slice(2)
    topics.set(name, await loadTopic(name, value as TopicMeta))
  }

  function requireTopic (name: string): TopicState {
    const t = topics.get(name)
    if (t === undefined || t.deleted) {
      throw new GridgateError('TOPIC_NOT_FOUND', `topic '${name}' does not exist`, { details: { topic: name } })
    }
    return t
  }

  function plan (items: AppendItem[]): BatchPlan<AppendResult, Op> {
    // All items of one topic in this batch become one segment, in queue order.
    const byTopic = new Map<string, { state: TopicState, events: Buffer[], time: number, dedupe?: { window: DedupeWindow<string>, pending: PendingBatch }, duplicates: number }>()
    const outcomes: BatchPlan<AppendResult, Op>['outcomes'] = []
    const extras: Op[] = []
    const time = clock.now()
    for (const item of items) {
      const state = topics.get(item.topic)
      if (state === undefined || state.deleted) {
        outcomes.push({ ok: false, error: new GridgateError('TOPIC_NOT_FOUND', `topic '${item.topic}' does not exist`, { details: { topic: item.topic } }) })
        continue
      }
      let group = byTopic.get(item.topic)
      if (group === undefined) {
        group = { state, events: [], time: Math.max(time, state.lastTime), duplicates: 0 }
        byTopic.set(item.topic, group)
        if (state.dedupe !== undefined) {
          for (const tag of state.dedupe.expire(group.time)) extras.push({ type: 'del', sublevel: index, key: tag })
          group.dedupe = { window: state.dedupe, pending: state.dedupe.begin(group.time) }
        }
      }
      const firstOffset = state.nextOffset + group.events.length
      if (item.extra !== undefined) extras.push(...item.extra)
      const dedupe = group.dedupe
      if (dedupe === undefined) {
        for (const e of item.events) group.events.push(e)
        outcomes.push({ ok: true, value: { firstOffset, nextOffset: firstOffset + item.events.length, time: group.time } })
        continue
      }
      let duplicates: number[] | undefined
      for (let i = 0; i < item.events.length; i++) {
        const key = keyAt(item.events, item.keys, i)
        if (key === undefined || dedupe.window.take(dedupe.pending, key)) group.events.push(item.events[i] as Buffer)
        else (duplicates ??= []).push(i)
      }
      const value: AppendResult = { firstOffset, nextOffset: firstOffset + item.events.length, time: group.time }
      if (duplicates !== undefined) {
        value.nextOffset -= duplicates.length
        value.duplicates = duplicates
        group.duplicates += duplicates.length
      }
      outcomes.push({ ok: true, value })
    }
    const ops: Op[] = []
    const commits: Array<() => void> = []
    const aborts: Array<() => void> = []
    for (const { state, events, time: segTime, dedupe, duplicates } of byTopic.values()) {
      if (duplicates > 0) commits.push(() => observer?.duplicates?.(state.name, duplicates))
      // The keys are in the index from the plan on (so the batch's own repeats are caught);
      // they stay once written, and leave again if the write fails.
      if (dedupe !== undefined) aborts.push(() => dedupe.window.abort(dedupe.pending))
      if (events.length === 0) continue
      const segment = encodeSegment(events, segTime)
      const first = state.nextOffset
      const cum = state.cumBytes + segment.length
      ops.push({ type: 'put', sublevel: segments, key: segmentPrefix(state.name) + encodeOffset(first), value: segment })
      ops.push({ type: 'put', sublevel: index, key: `${indexPrefix(state.name)}${encodeTime(segTime)}!${encodeOffset(first)}`, value: [events.length, segment.length, cum] satisfies IndexValue })
      const keys = dedupe === undefined ? [] : dedupe.window.taken(dedupe.pending)
      if (dedupe !== undefined && keys.length > 0) {
        const record = `${dedupePrefix(state.name)}${encodeTime(segTime)}!${encodeOffset(first)}`
        ops.push({ type: 'put', sublevel: index, key: record, value: keys })
        commits.push(() => dedupe.window.commit(dedupe.pending, record))
      }
      commits.push(() => {
        cache.put(state.name, indexSegment(segment, first))
        state.nextOffset = first + events.length
        state.cumBytes = cum
        state.bytes += segment.length
        state.lastTime = segTime
        observer?.appended?.(state.name, events.length)
      })
    }
    ops.push(...extras)
    return {
      ops,
      outcomes,
      abort: aborts.length === 0 ? undefined : () => { for (const a of aborts) a() },
      commit: () => {
        for (const c of commits) c()
        for (const { state, events } of byTopic.values()) {
          if (events.length === 0) continue
          for (const l of appendListeners) l(state.name, state.nextOffset)
        }
      }
    }
  }

  const writer = createGroupCommit<AppendItem, AppendResult, Op>({
    plan,
    write: (ops) => storage.batch(ops, { sync: opts.sync }),
    sizeOf: (item) => item.events.reduce((s, e) => s + 4 + e.length, 0),
    maxItems: opts.maxBatchEvents,
    maxBytes: opts.maxBatchBytes,
    delayMs: opts.commitDelayMs ?? 0,
    onBatch: observer?.batch
  })

  function policyOf (state: TopicState): RetentionPolicy {
    return { ...opts.defaultRetention, ...state.retention }
  }

  function info (state: TopicState): TopicInfo {
    return {
      name: state.name,
      retention: policyOf(state),
      createdAt: new Date(state.createdAt).toISOString(),
      firstOffset: state.firstOffset,
      nextOffset: state.nextOffset,
      events: state.nextOffset - state.firstOffset,
      bytes: state.bytes,
      ...(state.dedupe !== undefined ? { deduplication: { windowSeconds: state.dedupe.windowMs / 1000 } } : {})
    }
  }

  async function readFromOffset (state: TopicState, from: number, limit: number): Promise<ReadResult> {
    const start = Math.max(from, state.firstOffset)
    const end = state.nextOffset
    if (start >= end || limit <= 0) return { records: [], nextOffset: Math.max(start, Math.min(from, end)) }
    const records: LogRecord[] = []
    let pos = start
    // Cached segments first: no LevelDB read, and only the records asked for are touched.
    for (let seg = cache.find(state.name, pos); seg !== undefined && records.length < limit && pos < end; seg = cache.find(state.name, pos)) {
      for (const r of recordsOf(seg, pos, limit - records.length, end)) records.push(r)
      pos = seg.first + seg.count
    }
    if (records.length < limit && pos < end) {
      const prefix = segmentPrefix(state.name)
      // The segment holding `pos` is the last one whose first offset is <= pos.
      const [holder] = await segments.keys({ lte: prefix + encodeOffset(pos), gte: prefix, reverse: true, limit: 1 }).all()
      for await (const [key, value] of segments.iterator({ gte: holder ?? prefix, lt: prefix + RANGE_END })) {
        const seg = indexSegment(value, decodeNumber(key.slice(prefix.length)))
        if (seg.first >= end) break // written after this read began
        cache.put(state.name, seg)
        for (const r of recordsOf(seg, pos, limit - records.length, end)) records.push(r)
        if (records.length >= limit) break
      }
    }
    const last = records[records.length - 1]
    return { records, nextOffset: last === undefined ? start : last.offset + 1 }
  }

  async function offsetAtTime (state: TopicState, time: number): Promise<number> {
    const prefix = indexPrefix(state.name)
    const [key] = await index.keys({ gte: prefix + encodeTime(time), lt: prefix + RANGE_END, limit: 1 }).all()
    return key === undefined ? state.nextOffset : parseIndexKey(key).firstOffset
  }

  async function trimTopic (state: TopicState, now: number): Promise<number> {
    const policy = policyOf(state)
    if (policy.maxAgeSeconds === 0 && policy.maxBytes === 0) return 0
    let removed = 0
    const prefix = indexPrefix(state.name)
    for (;;) {
      const chunk = await index.iterator({ gte: prefix, lt: prefix + RANGE_END, limit: 256 }).all()
      const entries: Array<SegmentEntry & { key: string, cum: number }> = chunk.map(([key, v]) => {
        const [count, bytes, cum] = v as IndexValue
        return { key, count, bytes, cum, ...parseIndexKey(key) }
      })
      const n = segmentsToRemove(entries, state.bytes, policy, now)
      if (n === 0 || state.deleted) break
      const gone = entries.slice(0, n)
      const lastGone = gone[gone.length - 1] as (typeof entries)[number]
      const firstOffset = lastGone.firstOffset + lastGone.count
      const ops: Op[] = []
      for (const e of gone) {
        ops.push({ type: 'del', sublevel: segments, key: segmentPrefix(state.name) + encodeOffset(e.firstOffset) })
        ops.push({ type: 'del', sublevel: index, key: e.key })
      }
      ops.push({ type: 'put', sublevel: index, key: `w!${state.name}`, value: { firstOffset, cumBytes: lastGone.cum } })
      await storage.batch(ops)
      const bytes = gone.reduce((s, e) => s + e.bytes, 0)
      state.bytes -= bytes
      state.firstOffset = firstOffset
      cache.drop(state.name, firstOffset)
      announceRemoval(state.name)
      removed += firstOffset - (gone[0] as SegmentEntry).firstOffset
      observer?.removed?.(state.name, firstOffset - (gone[0] as SegmentEntry).firstOffset, bytes)
      if (n < entries.length) break
    }
    return removed
  }

  /** Turns a topic's deduplication on, off, or to another window. */
  async function setDedupe (state: TopicState, windowSeconds: number): Promise<void> {
    const windowMs = windowSeconds * 1000
    if (windowMs > 0) {
      // Off → on starts an empty index: the events appended before were not indexed.
      if (state.dedupe === undefined) state.dedupe = new DedupeWindow<string>(windowMs)
      else state.dedupe.windowMs = windowMs
      return
    }
    state.dedupe = undefined
    await index.clear({ gte: dedupePrefix(state.name), lt: dedupePrefix(state.name) + RANGE_END })
  }

  const createTopic: TopicLog['createTopic'] = (name, retention, deduplication) => serially(async () => {
    assertTopicName(name)
    const existing = topics.get(name)
    const createdAt = existing?.createdAt ?? clock.now()
    const r = retention ?? existing?.retention ?? {}
    const windowSeconds = deduplication?.windowSeconds ?? (existing?.dedupe === undefined ? 0 : existing.dedupe.windowMs / 1000)
    await index.put(`m!${name}`, { retention: r, createdAt, ...(windowSeconds > 0 ? { deduplication: { windowSeconds } } : {}) } satisfies TopicMeta)
    if (existing !== undefined) {
      existing.retention = r
      await setDedupe(existing, windowSeconds)
      return { topic: info(existing), created: false }
    }
    const state = await loadTopic(name, { retention: r, createdAt, deduplication: { windowSeconds } })
    topics.set(name, state)
    return { topic: info(state), created: true }
  })

  const deleteTopic: TopicLog['deleteTopic'] = (name) => serially(async () => {
    const state = topics.get(name)
    if (state === undefined) return false
    state.deleted = true
    topics.delete(name)
    announceRemoval(name)
    await writer.drain() // batches already planned for it finish first
    cache.drop(name)
    await segments.clear({ gte: segmentPrefix(name), lt: segmentPrefix(name) + RANGE_END })
    await index.clear({ gte: indexPrefix(name), lt: indexPrefix(name) + RANGE_END })
    await index.clear({ gte: dedupePrefix(name), lt: dedupePrefix(name) + RANGE_END })
    await index.batch([{ type: 'del', key: `m!${name}` }, { type: 'del', key: `w!${name}` }])
    return true
  })

  const read: TopicLog['read'] = async (topic, from: ReadFrom, limit) => {
    const state = requireTopic(topic)
    const offset = 'time' in from ? await offsetAtTime(state, from.time) : from.offset
    return await readFromOffset(state, offset, limit)
  }

  /** Forgets the deduplication keys whose window has passed, on topics no append expired them on. */
  async function expireDedupe (state: TopicState, now: number): Promise<void> {
    const gone = state.dedupe?.expire(now) ?? []
    if (gone.length > 0) await index.batch(gone.map((key) => ({ type: 'del' as const, key })))
  }

  const enforceRetention: TopicLog['enforceRetention'] = async () => {
    const now = clock.now()
    let removed = 0
    for (const state of [...topics.values()]) {
      removed += await trimTopic(state, now)
      await expireDedupe(state, now)
    }
    return removed
  }

  /** An instance: shares everything above, owns its listeners and its close. */
  function view (): TopicLog {
    const mine = new Set<(topic: string, nextOffset: number) => void>()
    let closed = false
    let last: Promise<unknown> | undefined
    const listen = (l: (topic: string, nextOffset: number) => void): () => void => {
      mine.add(l)
      appendListeners.add(l)
      return () => { mine.delete(l); appendListeners.delete(l) }
    }
    const mineRemove = new Set<(topic: string | undefined) => void>()
    return {
      createTopic,
      deleteTopic,
      getTopic: async (name) => {
        const t = topics.get(name)
        return t === undefined ? undefined : info(t)
      },
      listTopics: async () => [...topics.values()].map(info).sort((a, b) => a.name.localeCompare(b.name)),
      // Not async, one promise per call: it runs for every device message. The group commit
      // settles in submission order, so close() waits for this view's last append only.
      append: (topic, events, keys) => {
        if (closed) return Promise.reject(new GridgateError('SHUTTING_DOWN'))
        let state: ReturnType<typeof requireTopic>
        try { state = requireTopic(topic) } catch (err) { return Promise.reject(err) }
        if (events.length === 0) return Promise.resolve({ firstOffset: state.nextOffset, nextOffset: state.nextOffset, time: clock.now() })
        return (last = writer.submit({ topic, events, keys }))
      },
      read,
      waitForAppend: async (topic, afterOffset, timeoutMs) => {
        const state = requireTopic(topic)
        if (state.nextOffset > afterOffset) return true
        return await new Promise<boolean>((resolve) => {
          const timer = clock.setTimer(timeoutMs, () => done(false))
          const stop = listen((name, next) => { if (name === topic && next > afterOffset) done(true) })
          function done (v: boolean): void {
            stop()
            timer.cancel()
            resolve(v)
          }
        })
      },
      onAppend: listen,
      onRemove: (l) => {
        mineRemove.add(l)
        removeListeners.add(l)
        return () => { mineRemove.delete(l); removeListeners.delete(l) }
      },
      enforceRetention,
      close: async () => {
        closed = true
        await last?.catch(() => undefined)
        for (const l of mine) appendListeners.delete(l)
        mine.clear()
        for (const l of mineRemove) removeListeners.delete(l)
        mineRemove.clear()
      }
    }
  }

  return {
    view,
    appendWith: async (topic, events, extra) => {
      requireTopic(topic)
      return await writer.submit({ topic, events, extra })
    },
    close: async () => {
      await writer.close()
      appendListeners.clear()
    }
  }
}
