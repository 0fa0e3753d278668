import type { Lease } from './leases.js'
import type { PendingEntry } from './pending.js'
import type { SubscriptionSpec } from './subscription-spec.js'

// What delivery keeps in storage, as delivery needs it: subscription definitions, and per
// subscription its cursor, the events taken but not settled, and its dead letters. An
// engine implements these ports (src/storage/); test/delivery/subscription-store.contract.ts
// is the suite it must pass. No engine type or key layout appears here.

export interface StoredSubscription {
  spec: SubscriptionSpec
  startOffset: number
  createdAt: string
}

export interface DeadLetter {
  offset: number
  event: string
  deadLetterReason: string
  deliveryAttempts: number
  lastHttpStatusCode?: number
  lastError?: string
  publishedAt: string
  deadLetteredAt: string
}

/** One change to a subscription's state; a write applies a list of them in order, atomically. */
export type QueueChange =
  | { kind: 'cursor', offset: number }
  | { kind: 'pending', offset: number, entry: PendingEntry | null }
  | { kind: 'dead', offset: number, letter: DeadLetter | null }

export interface QueueState {
  /** Undefined for a subscription that never stored one. */
  cursor: number | undefined
  /** Offset order. */
  pending: PendingEntry[]
  /** Offsets of the dead letters, in offset order. */
  deadOffsets: number[]
}

/** A subscription's delivery counts: added up by every node that delivered it, since it was created. */
export interface DeliveryCounts {
  delivered: number
  failed: number
  /** The last failure's description, when there was one. */
  lastError?: string
}

/** One subscription's delivery state. */
export interface QueueStore {
  load: () => Promise<QueueState>
  /** Applies the changes in order as one atomic write; resolves once it is durable. */
  write: (changes: readonly QueueChange[]) => Promise<void>
  /** Dead letters in offset order; the first `limit`, or all. */
  deadLetters: (limit?: number) => Promise<DeadLetter[]>
  /** Removes every trace of the subscription's delivery state. */
  destroy: () => Promise<void>
  /**
   * The shared engine (a cluster, where the subscription moves between nodes) keeps the counts,
   * so they are totals since the subscription was created. `add` adds a batch; with a lease it is
   * fenced like `write` (SUBSCRIPTION_NOT_OWNED, nothing added). Absent: the counts are this
   * process's own, since it opened the queue.
   */
  counts?: {
    load: () => Promise<DeliveryCounts>
    add: (delta: DeliveryCounts) => Promise<void>
  }
}

export interface SubscriptionStore {
  /** Every stored definition, ordered by topic then name. */
  list: () => Promise<Array<{ topic: string, name: string, stored: StoredSubscription }>>
  /** One definition, as stored now (undefined when there is none). */
  get?: (topic: string, name: string) => Promise<StoredSubscription | undefined>
  put: (topic: string, name: string, stored: StoredSubscription) => Promise<void>
  /** Removes the definition (its queue state goes with `queue(...).destroy()`). */
  remove: (topic: string, name: string) => Promise<void>
  /**
   * The subscription's queue state. With a `lease` (a cluster, where one node owns each
   * subscription, delivery/leases.ts) every write is fenced: refused with SUBSCRIPTION_NOT_OWNED,
   * and nothing written, unless that lease is still the current one and the definition exists.
   */
  queue: (topic: string, name: string, lease?: Lease) => QueueStore
}
