import { byDevice, type DesiredState, type ReportedState, type TwinChange } from './model.js'

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
 * One step as the store writes it: every value already JSON text. The projection encodes it
 * (encodeCommit) on its own thread, so the store's thread (which also serves ingest) only
 * stores bytes.
 */
export interface EncodedTwinCommit {
  /** [deviceId, the reported state]. */
  states: ReadonlyArray<readonly [string, string]>
  /** [deviceId, first version, that device's history entries of the step as one JSON array]. */
  history: ReadonlyArray<readonly [string, number, string]>
  /** [deviceId, version, the reported state at that version]. */
  snapshots: ReadonlyArray<readonly [string, number, string]>
  cursors: Readonly<Record<string, number>>
  events?: TwinEvents
}

/** A step's values as JSON text: one history entry per device (its changes in version order). */
export function encodeCommit (step: TwinCommit): EncodedTwinCommit {
  return {
    states: step.states.map((s) => [s.deviceId, JSON.stringify(s)] as const),
    history: byDevice(step.changes).map((group) => {
      const first = group[0] as TwinChange
      return [first.deviceId, first.version, encodeHistoryGroup(group)] as const
    }),
    snapshots: step.snapshots.map((s) => [s.deviceId, s.version, JSON.stringify(s)] as const),
    cursors: step.cursors,
    ...(step.events === undefined ? {} : { events: step.events })
  }
}

// A history entry is the changes of one device in one step (consecutive versions), written
// once per event the projection reads, so it is kept small: a JSON array
//   [topic, firstVersion, [time, eventId, offset, changed], ...]
// where a change's `t` (equal to its time unless the event came late) and `topic` (equal to
// the first change's unless the step read several topics) follow as a 5th and 6th element only
// when they differ: about two thirds of the bytes of the changes as objects, which entries of
// releases before 0.10 are (an array of TwinChange objects; decodeHistoryGroup reads both).

type EncodedChange = [number, string, number, Record<string, unknown>] | [number, string, number, Record<string, unknown>, number, string]

/** One device's changes of a step (consecutive versions, in order) as a history entry. */
export function encodeHistoryGroup (group: readonly TwinChange[]): string {
  const first = group[0] as TwinChange
  const out: Array<string | number | EncodedChange> = [first.topic, first.version]
  for (const c of group) {
    out.push(c.t === c.time && c.topic === first.topic ? [c.time, c.eventId, c.offset, c.changed] : [c.time, c.eventId, c.offset, c.changed, c.t, c.topic])
  }
  return JSON.stringify(out)
}

/** The changes of a history entry of `deviceId` (either layout), from its parsed JSON. */
export function decodeHistoryGroup (deviceId: string, parsed: unknown): TwinChange[] {
  const group = parsed as unknown[]
  if (typeof group[0] !== 'string') return group as TwinChange[]
  const topic = group[0]
  let version = group[1] as number
  const out: TwinChange[] = []
  for (let i = 2; i < group.length; i++) {
    const e = group[i] as EncodedChange
    out.push({ deviceId, version: version++, t: e.length === 6 ? e[4] : e[0], time: e[0], eventId: e[1], topic: e.length === 6 ? e[5] : topic, offset: e[2], changed: e[3] })
  }
  return out
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
  commit: (step: EncodedTwinCommit) => Promise<void>
  /** The snapshot stored for exactly this version, if any. */
  snapshot: (deviceId: string, version: number) => Promise<ReportedState | undefined>
  /** History entries with a version above `afterVersion`, ascending, at most `limit`. */
  changes: (deviceId: string, afterVersion: number, limit: number) => Promise<TwinChange[]>
  desired: (deviceId: string) => Promise<DesiredState | undefined>
  putDesired: (d: DesiredState, expected: number, event?: TwinEvents) => Promise<boolean>
  desiredAt: (deviceId: string, time: number) => Promise<DesiredState | undefined>
}
