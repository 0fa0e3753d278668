import { deviceSource, jsonCloudEvent } from '../core/cloudevent-writer.js'
import type { DesiredState, TwinChange } from './model.js'

// The `device.twin.changed` CloudEvents, appended to the `twins` topic. Pure. Ids are
// derived from the device and version, so a consumer can tell a change it has seen.

export const TWIN_CHANGED = 'device.twin.changed'

/** A reported change: data {deviceId, version, changed: {FIELD: value}}. */
export function reportedChangedEvent (namespace: string, c: TwinChange): Buffer {
  return Buffer.from(jsonCloudEvent({
    id: `twin-${c.deviceId}-r${c.version}`,
    source: deviceSource(namespace, c.deviceId),
    type: TWIN_CHANGED,
    subject: `devices/${c.deviceId}/twin/reported`,
    time: c.time,
    deviceId: c.deviceId,
    data: { deviceId: c.deviceId, version: c.version, changed: c.changed }
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
