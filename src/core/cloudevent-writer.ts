// The CloudEvents the gateway writes itself (device messages, connection changes, command
// transitions, telemetry windows), in the JSON event format, written straight to text. One
// layout for all of them, which tests and clients rely on byte for byte:
//
//   {"specversion":"1.0","id","source","type","subject","time","deviceid", extensions…,
//    "datacontenttype", "data" | "data_base64"}
//
// The text is what JSON.stringify gives for an object with those members in that order.
// Pure. cloudEventHead takes arguments rather than an object: it runs for every device message.

const q = JSON.stringify

/** The members that open a JSON `data`; the data's JSON text and '}' follow. */
export const JSON_DATA = ',"datacontenttype":"application/json","data":'
/** The members that open a binary payload; its base64 text and '"}' follow. */
export const BASE64_DATA = ',"datacontenttype":"application/octet-stream","data_base64":"'

/** `source` of the events about one device. */
export const deviceSource = (namespace: string, deviceId: string): string => `/${namespace}/devices/${deviceId}`

/**
 * The opening of an event, up to and with `deviceid`, without the closing brace: the writer
 * adds its extensions, then data (JSON_DATA, BASE64_DATA) or nothing, then '}'.
 * `time` is ms since the epoch.
 */
export function cloudEventHead (id: string, source: string, type: string, subject: string, time: number, deviceId: string): string {
  const parts = headParts(source, type, subject, deviceId)
  return `{"specversion":"1.0","id":${q(id)}${parts.middle}${isoTime(time)}${parts.tail}`
}

/**
 * The constant stretches of a head, for writers that cache them per device and topic:
 * `middle` runs from after `id`'s value to the opening quote of `time`'s value, `tail` from
 * its closing quote through `deviceid`. A head is
 * `{"specversion":"1.0","id":` + JSON id + middle + isoTime(time) + tail.
 */
export function headParts (source: string, type: string, subject: string, deviceId: string): { middle: string, tail: string } {
  return { middle: `,"source":${q(source)},"type":${q(type)},"subject":${q(subject)},"time":"`, tail: `","deviceid":${q(deviceId)}` }
}

let lastMs = Number.NaN
let lastIso = ''

/** `time` (ms since the epoch) as RFC 3339 in UTC; events of one millisecond share the string. */
export function isoTime (ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString()
    lastMs = ms
  }
  return lastIso
}

export interface JsonEventFields {
  id: string
  source: string
  type: string
  subject: string
  /** ms since the epoch. */
  time: number
  deviceId: string
  /** Serialised with JSON.stringify; undefined leaves `data` out, as JSON.stringify would. */
  data: unknown
}

/** A whole event with JSON `data` and no extensions besides `deviceid`. */
export function jsonCloudEvent (e: JsonEventFields): string {
  const head = cloudEventHead(e.id, e.source, e.type, e.subject, e.time, e.deviceId)
  const data = q(e.data) as string | undefined
  return data === undefined ? `${head},"datacontenttype":"application/json"}` : head + JSON_DATA + data + '}'
}
