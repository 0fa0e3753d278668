import { DEVICE_ID } from '../core/names.js'
import { eventTime, extractReadings } from './extract.js'
import { METRIC_NAME } from './window-spec.js'

// Which events of a source topic carry readings, and the readings of one event. Pure (the
// memo of checked metric names changes no answer).

export interface SourceSpec {
  /** The namespace topic read. */
  topic: string
  /** CloudEvent types that carry telemetry; empty: every type. */
  types: readonly string[]
  /** Dot paths to read; absent: every numeric field (see extractReadings). */
  fields?: readonly string[]
  /** Payload field holding the event time (epoch ms or RFC 3339); absent: the arrival time. */
  timeField?: string
}

/** The registry's rule for device ids: ids are parts of storage keys and URLs. */
export { DEVICE_ID }

export type SkipReason = 'type' | 'device' | 'time'

export interface EventReadings {
  deviceId: string
  /** Event time, ms since the epoch. */
  time: number
  /** [metric, value] pairs; compact because they wait in the event-time buffer and its snapshots. */
  readings: Array<[string, number]>
  /** Fields present but not numbers, or with names that cannot be metrics. */
  skipped: number
}

/** Metric names already checked: the same few names recur in every event. Bounded; cleared when full. */
const knownMetrics = new Set<string>()
const KNOWN_METRICS = 10_000

function isMetricName (name: string): boolean {
  if (knownMetrics.has(name)) return true
  if (!METRIC_NAME.test(name)) return false
  if (knownMetrics.size >= KNOWN_METRICS) knownMetrics.clear()
  knownMetrics.add(name)
  return true
}

/** A stored event as an object; undefined if it is not one (the log holds validated events: a guard, not a path). */
export function parseEvent (bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(bytes.toString('utf8'))
    return parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) ? undefined : parsed as Record<string, unknown>
  } catch {
    return undefined
  }
}

/**
 * The readings of a parsed CloudEvent that arrived at `arrival`, or why it has none: an event
 * of another type, without a valid `deviceid` or with an unreadable time field. `readings`
 * may be empty (no numeric field); `skipped` counts what was passed over.
 */
export function readEvent (event: Readonly<Record<string, unknown>>, arrival: number, source: SourceSpec): EventReadings | SkipReason {
  if (source.types.length > 0 && !source.types.includes(event.type as string)) return 'type'
  const deviceId = event.deviceid
  if (typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId)) return 'device'
  const data = event.data
  const time = eventTime(data, source.timeField, arrival)
  if (time === undefined) return 'time'
  const extracted = extractReadings(data, source.fields === undefined ? {} : { fields: source.fields })
  const readings: Array<[string, number]> = []
  let skipped = extracted.skipped
  for (const r of extracted.readings) {
    // The time field is a timestamp, not a measurement.
    if (r.metric === source.timeField) continue
    if (isMetricName(r.metric)) readings.push([r.metric, r.value])
    else skipped++
  }
  return { deviceId, time, readings, skipped }
}
