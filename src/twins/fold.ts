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
  let changed: Record<string, unknown> | undefined
  for (const [field, value] of Object.entries(ev.data)) {
    const current = state.fields[field]
    if (current !== undefined && deepEqual(current.value, value)) continue
    changed ??= {}
    changed[field] = value
  }
  if (changed === undefined) return { state }
  const version = state.version + 1
  const t = Math.max(state.t, ev.time)
  const change: TwinChange = { deviceId: state.deviceId, version, t, time: ev.time, eventId: ev.eventId, topic: ev.topic, offset: ev.offset, changed }
  return { state: applyChange(state, change), change }
}

/** The state after a history entry (the next version). */
export function applyChange (state: ReportedState, c: TwinChange): ReportedState {
  const fields = { ...state.fields }
  for (const [field, value] of Object.entries(c.changed)) {
    fields[field] = { value, time: c.time, eventId: c.eventId, topic: c.topic, offset: c.offset }
  }
  return {
    deviceId: state.deviceId,
    version: c.version,
    t: c.t,
    positions: { ...state.positions, [c.topic]: Math.max(state.positions[c.topic] ?? -1, c.offset) },
    fields
  }
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
