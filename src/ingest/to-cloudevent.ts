import { isUtf8 } from 'node:buffer'
import { BASE64_DATA, cloudEventHead, deviceSource, JSON_DATA } from '../core/cloudevent-writer.js'

// MQTT message -> CloudEvent 1.0 in the JSON format (api.md, "From MQTT message to
// CloudEvent"). Pure. The event is assembled as bytes around the payload: a JSON payload
// goes in as `data` exactly as the device sent it, with no parse-and-serialise round trip.
// The layout is core/cloudevent-writer.ts's, with the extensions mqttqos, mqttretain and
// validationerror after deviceid.

export interface DeviceMessage {
  deviceId: string
  mqttTopic: string
  payload: Buffer
  qos: number
  retain: boolean
}

export interface EventContext {
  id: string
  /** Receive time, ms since the epoch. */
  time: number
  namespace: string
  type: string
  /** True when the payload is valid JSON (the caller parsed it once, for schemas too). */
  json: boolean
  /** Set for events routed to the `invalid` topic. */
  validationError?: string
}

const q = JSON.stringify

export function toCloudEvent (msg: DeviceMessage, ctx: EventContext): Buffer {
  let head = cloudEventHead(ctx.id, deviceSource(ctx.namespace, msg.deviceId), ctx.type, msg.mqttTopic, ctx.time, msg.deviceId) +
    `,"mqttqos":${msg.qos},"mqttretain":${msg.retain ? 'true' : 'false'}`
  if (ctx.validationError !== undefined) head += `,"validationerror":${q(ctx.validationError)}`
  if (msg.payload.length === 0) return Buffer.from(head + '}')
  if (ctx.json) {
    return Buffer.concat([Buffer.from(head + JSON_DATA), msg.payload, Buffer.from('}')])
  }
  return Buffer.from(`${head}${BASE64_DATA}${msg.payload.toString('base64')}"}`)
}

/** Parses a payload as JSON if it is JSON; binary payloads are recognised without an exception in the common case. */
export function parseJsonPayload (payload: Buffer): { json: true, value: unknown } | { json: false } {
  if (payload.length === 0) return { json: false }
  let i = 0
  while (i < payload.length && (payload[i] === 0x20 || payload[i] === 0x0a || payload[i] === 0x0d || payload[i] === 0x09)) i++
  const c = payload[i]
  // JSON texts start with { [ " - 0-9 t f n
  if (c === undefined || !(c === 0x7b || c === 0x5b || c === 0x22 || c === 0x2d || (c >= 0x30 && c <= 0x39) || c === 0x74 || c === 0x66 || c === 0x6e)) {
    return { json: false }
  }
  // Raw bytes are embedded as they are, so they must be valid UTF-8, not just decodable.
  if (!isUtf8(payload)) return { json: false }
  try {
    return { json: true, value: JSON.parse(payload.toString('utf8')) }
  } catch {
    return { json: false }
  }
}
