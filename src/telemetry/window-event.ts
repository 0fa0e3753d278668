import { jsonCloudEvent } from '../core/cloudevent-writer.js'
import type { Aggregate } from './aggregate.js'
import type { WindowEvent } from './store.js'
import type { AttachedWindow } from './window-operators.js'

// The CloudEvent of a closed window, and its id: `{window}/{deviceId}/{end}/{metric}`, the
// window's identity, so the same window always gets the same id and a restart can tell from
// an output topic which windows already went out. Pure.

/** What an operator's advance() returns, whatever its kind. */
export interface ClosedWindow {
  start: number
  end: number
  aggregate?: Aggregate
  values?: Record<string, number | null>
  closedBy?: string
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** One key per (window, device, metric): what the ids of its windows share. */
export const seriesKey = (window: string, deviceId: string, metric: string): string => window + '\0' + deviceId + '\0' + metric

/** The window name of an id (everything before the first '/'). */
export const windowOfId = (id: string): string => id.slice(0, id.indexOf('/'))

/** The parts of a window event id; undefined for an id this module did not make. */
export function parseWindowId (id: string): { series: string, window: string, end: number } | undefined {
  // Device ids and window names hold no '/'; metrics may.
  const [window, deviceId, end] = id.split('/', 3)
  if (window === undefined || deviceId === undefined || end === undefined) return undefined
  const metric = id.slice(window.length + deviceId.length + end.length + 3)
  return { series: seriesKey(window, deviceId, metric), window, end: Number(end) }
}

export function windowEvent (namespace: string, w: AttachedWindow, deviceId: string, metric: string, r: ClosedWindow): WindowEvent {
  const values = r.values ?? w.read(r.aggregate as Aggregate)
  const data: Record<string, unknown> = { window: w.name, kind: w.spec.window.kind, deviceId, metric, start: iso(r.start), end: iso(r.end), ...values }
  if (r.closedBy !== undefined) data.closedBy = r.closedBy
  const id = `${w.name}/${deviceId}/${r.end}/${metric}`
  const json = jsonCloudEvent({
    id,
    source: `/${namespace}/windows/${w.name}`,
    type: 'telemetry.window',
    subject: `devices/${deviceId}/metrics/${metric}`,
    time: r.end,
    deviceId,
    data
  })
  return { topic: w.spec.outputTopic, id, json }
}
