import { DEVICE_ID } from '../core/names.js'
import { deepEqual, isPlainObject, type ReportedState, type SourceEvent, type TwinChange } from './model.js'

// Folding device events into reported state, and replaying history entries. Pure.

export interface Folded {
  state: ReportedState
  /** Absent when the event changed nothing (the same state object comes back). */
  change?: TwinChange
}

/**
 * The twin after `ev`: each top-level field of its data whose value differs from the
 * reported one is set, with the event's time, id, topic and offset; one change, one version.
 */
export function foldEvent (state: ReportedState, ev: SourceEvent): Folded {
  const draft = draftOf(state)
  const change = foldInto(draft, ev)
  return change === undefined ? { state } : { state: draft, change }
}

/** A copy of `state` that foldInto may change (field entries are never changed, only replaced). */
export const draftOf = (state: ReportedState): ReportedState =>
  ({ deviceId: state.deviceId, version: state.version, t: state.t, positions: { ...state.positions }, fields: { ...state.fields } })

/**
 * foldEvent in place: applies `ev` to `draft` (a draftOf copy) and returns the change, or
 * undefined when it changed nothing. The projection folds a step's events of a device into
 * one draft, not a new state per event.
 */
export function foldInto (draft: ReportedState, ev: SourceEvent): TwinChange | undefined {
  let changed: Record<string, unknown> | undefined
  for (const field in ev.data) {
    // A JSON key that would set the object's prototype instead of a field.
    if (field === '__proto__') continue
    const value = ev.data[field]
    const current = draft.fields[field]
    if (current !== undefined && deepEqual(current.value, value)) continue
    changed ??= {}
    changed[field] = value
  }
  if (changed === undefined) return undefined
  const change: TwinChange = { deviceId: draft.deviceId, version: draft.version + 1, t: Math.max(draft.t, ev.time), time: ev.time, eventId: ev.eventId, topic: ev.topic, offset: ev.offset, changed }
  setChange(draft, change)
  return change
}

function setChange (draft: ReportedState, c: TwinChange): void {
  for (const field in c.changed) {
    draft.fields[field] = { value: c.changed[field], time: c.time, eventId: c.eventId, topic: c.topic, offset: c.offset }
  }
  draft.version = c.version
  draft.t = c.t
  draft.positions[c.topic] = Math.max(draft.positions[c.topic] ?? -1, c.offset)
}

/** The state after a history entry (the next version). */
export function applyChange (state: ReportedState, c: TwinChange): ReportedState {
  const draft = draftOf(state)
  setChange(draft, c)
  return draft
}

/**
 * A stored CloudEvent as a twin source: a device event (`deviceid` set, a valid id) with a
 * JSON object as `data`; undefined for anything else (binary data, arrays, system events).
 */
export function sourceEvent (topic: string, offset: number, arrival: number, event: unknown): SourceEvent | undefined {
  if (!isPlainObject(event)) return undefined
  const deviceId = event.deviceid
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) return undefined
  const data = event.data
  if (!isPlainObject(data)) return undefined
  const parsed = typeof event.time === 'string' ? Date.parse(event.time) : Number.NaN
  return {
    deviceId,
    eventId: typeof event.id === 'string' ? event.id : '',
    time: Number.isFinite(parsed) ? parsed : arrival,
    topic,
    offset,
    data
  }
}
