import type { Lease } from '../core/leases.js'
import type { AggregateJSON } from './aggregate.js'

// What telemetry keeps in storage, as telemetry needs it: the continuous window
// definitions, each source stream's restart state (checkpoint, per-device event-time
// policies, per (window, device, metric) operators) and the per-second rollups. An engine
// implements this port (src/storage/); test/telemetry/telemetry-store.contract.ts is the
// suite it must pass. No engine type or key layout appears here.
//
// Policy and operator snapshots are opaque bytes: the stream encodes them itself, a few
// hundred between turns of the event loop (encoding thousands in one go inside a write
// stalled ingest for a second), so an engine only stores and returns them.

export type { AggregateJSON }

export interface StoredWindow {
  /** The definition as renderWindow gives it. */
  definition: Record<string, unknown>
  createdAt: string
}

/** A closed window as the CloudEvent its output topic gets. */
export interface WindowEvent {
  topic: string
  /** `{window}/{deviceId}/{end}/{metric}` (window-event.ts). */
  id: string
  json: string
}

/** A source stream's lease on a cluster (core/leases.ts): the key `$telemetry!{source}` and the lease held. */
export interface StoreFence {
  key: string
  lease: Lease
}

/** Where a source stream's stored state stands. */
export interface StreamCheckpoint {
  /** The next source offset the state has not seen. */
  cursor: number
  /** Each output topic's next offset when the snapshot was taken: later windows are after it. */
  outputFrom: Record<string, number>
  /** Closed windows whose append failed, retried. */
  unsent: WindowEvent[]
}

export interface PolicySnapshot {
  deviceId: string
  state: Buffer
}

export interface OperatorSnapshot {
  window: string
  deviceId: string
  metric: string
  state: Buffer
}

export interface StreamState {
  /** Undefined for a source stream that never stored one. */
  checkpoint: StreamCheckpoint | undefined
  policies: PolicySnapshot[]
  operators: OperatorSnapshot[]
}

export interface LastValue {
  value: number
  time: number
}

export interface RollupKey {
  deviceId: string
  metric: string
  /** The bucket's end, ms since the epoch. */
  end: number
}

/**
 * One change of a commit. `source` is the source topic whose stream owns the state; rollups
 * belong to no stream (every stream adds to them).
 */
export type TelemetryChange =
  | { kind: 'checkpoint', source: string, checkpoint: StreamCheckpoint }
  | { kind: 'policy', source: string, deviceId: string, state: Buffer }
  | { kind: 'operator', source: string, window: string, deviceId: string, metric: string, state: Buffer }
  | { kind: 'bucket', deviceId: string, metric: string, end: number, agg: AggregateJSON }
  | { kind: 'last', deviceId: string, metric: string, value: number, time: number }

export interface TelemetryStore {
  /** Every stored window definition, ordered by name. */
  listWindows: () => Promise<Array<{ name: string, stored: StoredWindow }>>
  putWindow: (name: string, stored: StoredWindow) => Promise<void>
  /** Removes the definition (its state goes with clearWindowState). */
  removeWindow: (name: string) => Promise<void>

  /** A source stream's checkpoint, policies and operators of every window, as one read (never part of a commit). */
  loadStream: (source: string) => Promise<StreamState>
  /** The operators one window of a source stream stored. */
  loadWindowState: (source: string, window: string) => Promise<OperatorSnapshot[]>
  /** Removes the operators one window of a source stream stored. */
  clearWindowState: (source: string, window: string) => Promise<void>

  /** The stored buckets at these keys, in their order (undefined: none stored). */
  getBuckets: (keys: readonly RollupKey[]) => Promise<Array<AggregateJSON | undefined>>
  /** The (device, metric) buckets with end in [fromEnd, toEnd], oldest first. */
  readBuckets: (deviceId: string, metric: string, fromEnd: number, toEnd: number) => Promise<Array<{ end: number, agg: AggregateJSON }>>
  /** The device's metrics with their newest reading, ordered by metric. */
  lastValues: (deviceId: string) => Promise<Array<{ metric: string } & LastValue>>
  lastValue: (deviceId: string, metric: string) => Promise<LastValue | undefined>
  /**
   * Retention: removes every bucket ending at or before `cutoff`, and the last values read
   * at or before it; returns how many (device, metric) series it went through.
   */
  removeRollupsThrough: (cutoff: number) => Promise<number>

  /**
   * Applies the changes in order (a later change of the same thing wins) as one atomic write
   * across owners: a checkpoint, the snapshots it corresponds to and the rollups are all
   * visible or none is. Resolves once written; with `sync`, once durable. With `fence` (a
   * cluster: the stream's lease), nothing is written unless that lease is still the current
   * one, and the commit fails with TELEMETRY_NOT_OWNED; the embedded engines have one node
   * and no leases, so they ignore it.
   */
  commit: (changes: readonly TelemetryChange[], options?: { sync?: boolean, fence?: StoreFence }) => Promise<void>
}
