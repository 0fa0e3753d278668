import { deviceSource, jsonCloudEvent } from '../core/cloudevent-writer.js'
import type { DesiredState, TwinChange } from './model.js'

// The `device.twin.changed` CloudEvents, appended to the `twins` topic. Pure. Ids are
// derived from the device and version, so a consumer can tell a change it has seen.

export const TWIN_CHANGED = 'device.twin.changed'

/**
 * The reported changes of one device in one projection step (versions fromVersion..version,
 * in order): data {deviceId, fromVersion, version, changed: {FIELD: its latest value}}. One
 * event per device and step, not per change: each event is written to the log again, and a
 * busy device's changes of a second are one event.
 */
export function reportedChangedEvent (namespace: string, changes: readonly TwinChange[]): Buffer {
  const first = changes[0] as TwinChange
  const last = changes[changes.length - 1] as TwinChange
  const changed: Record<string, unknown> = {}
  for (const c of changes) Object.assign(changed, c.changed)
  return Buffer.from(jsonCloudEvent({
    id: `twin-${last.deviceId}-r${last.version}`,
    source: deviceSource(namespace, last.deviceId),
    type: TWIN_CHANGED,
    subject: `devices/${last.deviceId}/twin/reported`,
    time: last.time,
    deviceId: last.deviceId,
    data: { deviceId: last.deviceId, fromVersion: first.version, version: last.version, changed }
  }))
}

/** A desired change: data {deviceId, desiredVersion, desired: the whole document, patch}. */
export function desiredChangedEvent (namespace: string, d: DesiredState, patch: unknown): Buffer {
  return Buffer.from(jsonCloudEvent({
    id: `twin-${d.deviceId}-d${d.version}`,
    source: deviceSource(namespace, d.deviceId),
    type: TWIN_CHANGED,
    subject: `devices/${d.deviceId}/twin/desired`,
    time: d.time,
    deviceId: d.deviceId,
    data: { deviceId: d.deviceId, desiredVersion: d.version, desired: d.doc, patch }
  }))
}
