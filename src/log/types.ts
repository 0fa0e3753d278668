import type { RetentionPolicy } from './retention.js'
import type { LogRecord } from './segment.js'

// The port every log engine implements (LevelDB now; Redis Streams can sit behind it
// later). test/log/topic-log.contract.ts is the suite an engine must pass.

export type { LogRecord, RetentionPolicy }

export interface AppendResult {
  /** Offset of the first appended event. */
  firstOffset: number
  /** One past the last appended event. */
  nextOffset: number
  /** The append time the log recorded for these events. */
  time: number
}

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
}

/** Hooks for metrics; the log does not know who listens. */
export interface LogObserver {
  batch?: (items: number, bytes: number, ms: number, ok: boolean) => void
  appended?: (topic: string, events: number) => void
  removed?: (topic: string, events: number, bytes: number) => void
}

export interface TopicLog {
  /** Creates the topic, or updates its retention when it exists. */
  createTopic: (name: string, retention?: Partial<RetentionPolicy>) => Promise<{ topic: TopicInfo, created: boolean }>
  deleteTopic: (name: string) => Promise<boolean>
  getTopic: (name: string) => TopicInfo | undefined
  listTopics: () => TopicInfo[]
  /**
   * Appends serialised CloudEvents, all or none, and resolves once they are durably
   * written. Concurrent appends share one write (group commit). Offsets are gap-free.
   */
  append: (topic: string, events: readonly Buffer[]) => Promise<AppendResult>
  /** Up to `limit` records from an offset, or from the first event appended at or after a time. */
  read: (topic: string, from: ReadFrom, limit: number) => Promise<ReadResult>
  /** Resolves true once the topic's next offset passes `afterOffset`, false after the timeout. */
  waitForAppend: (topic: string, afterOffset: number, timeoutMs: number) => Promise<boolean>
  /** Calls `listener` after every committed append; returns the unsubscribe function. */
  onAppend: (listener: (topic: string, nextOffset: number) => void) => () => void
  /** Removes what retention no longer keeps; returns the number of events removed. */
  enforceRetention: () => Promise<number>
  /** Waits for queued appends, then refuses new ones. */
  close: () => Promise<void>
}
