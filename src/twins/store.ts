import type { DesiredState, ReportedState, TwinChange } from './model.js'

// What twins keep in storage. An engine implements this port (src/storage/: level for the
// leveldb and memory engines, redis); test/twins/twin-store.contract.ts is the suite each
// must pass. No engine type or key layout appears here.

/** A serialised CloudEvent and the namespace topic it is appended to. */
export interface TwinEvents {
  topic: string
  events: readonly Buffer[]
}

/** One step of the projection, written all or nothing. */
export interface TwinCommit {
  /** The new reported state of each device the step changed. */
  states: readonly ReportedState[]
  /** The history entries of those changes. */
  changes: readonly TwinChange[]
  /** Full copies of states to find again by (deviceId, version): the snapshots asOf starts from. */
  snapshots: readonly ReportedState[]
  /** The next offset to read of each source topic the step read. */
  cursors: Readonly<Record<string, number>>
  /** `device.twin.changed` events appended in the same atomic write. */
  events?: TwinEvents
}

/**
 * An implementation must guarantee:
 * - `commit` writes everything it is given atomically, as durably as the engine is: after a
 *   crash either all of a step (states, history, snapshots, cursors, events) is there or none,
 *   so a projection restarted from the stored cursors neither loses nor repeats a change.
 * - `changes` lists history entries of one device in version order.
 * - `putDesired` is a compare-and-set on the desired version across every instance sharing
 *   the store: it writes (with its event, atomically) only while the stored version is
 *   `expected` (0: none stored) and answers whether it wrote.
 * - `desiredAt` is the desired state with the greatest time at or before `time`.
 * - Values are copies: changing an object passed in or returned changes nothing stored.
 */
export interface TwinStore {
  cursors: () => Promise<Record<string, number>>
  reported: (deviceId: string) => Promise<ReportedState | undefined>
  commit: (step: TwinCommit) => Promise<void>
  /** The snapshot stored for exactly this version, if any. */
  snapshot: (deviceId: string, version: number) => Promise<ReportedState | undefined>
  /** History entries with a version above `afterVersion`, ascending, at most `limit`. */
  changes: (deviceId: string, afterVersion: number, limit: number) => Promise<TwinChange[]>
  desired: (deviceId: string) => Promise<DesiredState | undefined>
  putDesired: (d: DesiredState, expected: number, event?: TwinEvents) => Promise<boolean>
  desiredAt: (deviceId: string, time: number) => Promise<DesiredState | undefined>
}
