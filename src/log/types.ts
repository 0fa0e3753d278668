import type { DeduplicationPolicy } from './dedupe.js'
import type { RetentionPolicy } from './retention.js'

// The namespace-topic port every storage engine implements (src/storage/: LevelDB and
// memory today, Redis next). test/log/topic-log.contract.ts is the suite an engine must pass.

export type { DeduplicationPolicy, RetentionPolicy }

export interface LogRecord {
  offset: number
  /** When the log accepted the event (ms since epoch); non-decreasing along a topic. */
  time: number
  /** The CloudEvent as JSON, exactly as stored. */
  bytes: Buffer
}

export interface AppendResult {
  /** Offset of the first appended event. */
  firstOffset: number
  /** One past the last appended event. */
  nextOffset: number
  /** The append time the log recorded for these events. */
  time: number
  /**
   * Indexes (into the events given) of those not appended because the topic took an event
   * with the same (source, id) within its deduplication window, or an earlier event of the
   * same append or batch did. Absent when every event was appended. The appended events keep
   * their order and take the offsets firstOffset..nextOffset-1.
   */
  duplicates?: number[]
}

/**
 * Per event of an append, its deduplication key (log/dedupe.ts dedupeKey(source, id)), for
 * callers that know source and id without a parse; an undefined entry: not indexed (an id
 * the gateway generated cannot recur). Without keys the log reads them from the events, and
 * only on a topic with deduplication on.
 */
export type DedupeKeys = ReadonlyArray<string | undefined>

export interface ReadResult {
  records: LogRecord[]
  /** Where the next read should start. */
  nextOffset: number
}

export type ReadFrom = { offset: number } | { time: number }

export interface TopicInfo {
  name: string
  retention: RetentionPolicy
  createdAt: string
  /** Oldest offset still retained. */
  firstOffset: number
  /** Offset the next event will get. */
  nextOffset: number
  events: number
  bytes: number
  /** Present when the topic deduplicates (windowSeconds > 0). */
  deduplication?: DeduplicationPolicy
}

/** Hooks for metrics; the log does not know who listens. */
export interface LogObserver {
  batch?: (items: number, bytes: number, ms: number, ok: boolean) => void
  appended?: (topic: string, events: number) => void
  /** Events acknowledged but not appended: duplicates within the topic's window. */
  duplicates?: (topic: string, events: number) => void
  removed?: (topic: string, events: number, bytes: number) => void
}

/**
 * Namespace topics: ordered, replayable, retained logs of serialised CloudEvents.
 *
 * Semantics across instances. Several TopicLog instances may be open on one store (views
 * in one process on an embedded engine; processes on several nodes on a shared one), and
 * they behave as one log:
 * - Offsets are assigned by the store's single writer for the topic, never by a caller:
 *   on an embedded engine (LevelDB allows one process per directory, memory is one heap)
 *   that is the store's group commit, shared by every instance; on a shared engine it is
 *   an atomic step in the engine. Either way a topic's offsets are dense and gap-free, and
 *   an append is visible to every instance once its promise resolves.
 * - Topics are store state, not instance state: `getTopic` and `listTopics` answer what the
 *   store holds now, including topics created or deleted through another instance.
 * - Readers learn of new appends from the store (`onAppend`, `waitForAppend`), not from
 *   in-process calls: a listener hears appends made through any instance. A notice says
 *   only "the topic grew to nextOffset"; it may be coalesced, so readers re-read from their
 *   own cursor and never count notices.
 */
export interface TopicLog {
  /**
   * Creates the topic, or updates its retention and deduplication when it exists (undefined
   * keeps what the topic has; a new topic deduplicates nothing).
   */
  createTopic: (name: string, retention?: Partial<RetentionPolicy>, deduplication?: DeduplicationPolicy) => Promise<{ topic: TopicInfo, created: boolean }>
  deleteTopic: (name: string) => Promise<boolean>
  getTopic: (name: string) => Promise<TopicInfo | undefined>
  listTopics: () => Promise<TopicInfo[]>
  /**
   * Appends serialised CloudEvents, all or none, and resolves once they are durably
   * written. Concurrent appends share one write (group commit). Offsets are gap-free.
   * On a topic with deduplication on, duplicates are left out (AppendResult.duplicates),
   * decided atomically with the write: of two concurrent appends of one (source, id), through
   * any instance, exactly one is appended.
   */
  append: (topic: string, events: readonly Buffer[], keys?: DedupeKeys) => Promise<AppendResult>
  /** Up to `limit` records from an offset, or from the first event appended at or after a time. */
  read: (topic: string, from: ReadFrom, limit: number) => Promise<ReadResult>
  /** Resolves true once the topic's next offset passes `afterOffset`, false after the timeout. */
  waitForAppend: (topic: string, afterOffset: number, timeoutMs: number) => Promise<boolean>
  /** Calls `listener` after committed appends (through any instance); returns the unsubscribe function. */
  onAppend: (listener: (topic: string, nextOffset: number) => void) => () => void
  /**
   * Calls `listener` after events of a topic were removed (retention) or the topic was deleted,
   * through any instance (`undefined`: any topic, as notices may have been missed); returns the
   * unsubscribe function. Readers that keep records read earlier drop them then. Optional: a
   * log without it gets no read-ahead (delivery/queue.ts).
   */
  onRemove?: (listener: (topic: string | undefined) => void) => () => void
  /** Removes what retention no longer keeps; returns the number of events removed. */
  enforceRetention: () => Promise<number>
  /** Waits for this instance's queued appends, then refuses new ones through it. */
  close: () => Promise<void>
}
