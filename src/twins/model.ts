// What a device twin is made of. Pure types and the small pure helpers the projection, the
// queries and the storage adapters share.
//
// The reported state is a projection of the namespace topics: each routed device event's
// `data` object sets its top-level fields. A field changes only when an event carries a value
// that differs (deep equality) from the one it has; an event that changes nothing leaves the
// twin as it was (no version, no history entry, no `device.twin.changed`). So `version` counts
// the events that changed something, and each reported field names the event that set its
// current value.

/** One reported field: its value and the event that set it. */
export interface ReportedField {
  value: unknown
  /** The event's `time`, ms since the epoch. */
  time: number
  eventId: string
  /** The namespace topic and offset of that event. */
  topic: string
  offset: number
}

export interface ReportedState {
  deviceId: string
  /** How many events changed the twin. */
  version: number
  /** The latest change time so far (ms): non-decreasing with version, so asOf can search on it. */
  t: number
  /** Per source topic, the offset of the last change from it: non-decreasing, so atOffset can search on it. */
  positions: Record<string, number>
  fields: Record<string, ReportedField>
}

/** What one event changed: the twin's history entry for `version`. */
export interface TwinChange {
  deviceId: string
  version: number
  /** ReportedState.t after this change. */
  t: number
  /** The event's `time`, ms. */
  time: number
  eventId: string
  topic: string
  offset: number
  /** The fields it set, with their new values. */
  changed: Record<string, unknown>
}

export interface DesiredState {
  deviceId: string
  /** Counts the PATCHes that changed the document. */
  version: number
  /** When it was last changed, ms. */
  time: number
  doc: Record<string, unknown>
}

/** A device event of a source topic, as the projection reads it. */
export interface SourceEvent {
  deviceId: string
  eventId: string
  time: number
  topic: string
  offset: number
  data: Record<string, unknown>
}

/** Changes grouped by device, each group in version order. */
/** For adapters that store one step's history of a device under one key. */
export function byDevice (changes: readonly TwinChange[]): TwinChange[][] {
  const groups = new Map<string, TwinChange[]>()
  for (const c of changes) {
    const g = groups.get(c.deviceId)
    if (g === undefined) groups.set(c.deviceId, [c])
    else g.push(c)
  }
  return [...groups.values()]
}

export const emptyReported = (deviceId: string): ReportedState => ({ deviceId, version: 0, t: 0, positions: {}, fields: {} })

export const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** Equality of JSON values (key order does not matter). */
export function deepEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) {
    const bb = b as unknown[]
    if (a.length !== bb.length) return false
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], bb[i])) return false
    return true
  }
  const ao = a as Record<string, unknown>
  const bo = b as Record<string, unknown>
  const keys = Object.keys(ao)
  if (keys.length !== Object.keys(bo).length) return false
  for (const k of keys) if (!Object.hasOwn(bo, k) || !deepEqual(ao[k], bo[k])) return false
  return true
}
