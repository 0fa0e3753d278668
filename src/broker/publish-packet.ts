// The bytes of an MQTT 3.1 / 3.1.1 PUBLISH packet (§3.3), for the messages shared
// subscriptions send themselves (shared-dispatch.ts) outside aedes' own session state. aedes
// accepts only protocol levels 3 and 4 (lib/handlers/connect.js), whose PUBLISH is the same.
// Pure.

export interface OutgoingPublish {
  topic: string
  payload: Buffer
  qos: 0 | 1
  /** Required for QoS 1. */
  messageId?: number
  dup?: boolean
  retain?: boolean
}

/** The largest Remaining Length the variable-length encoding can say (§2.2.3). */
const MAX_REMAINING_LENGTH = 268_435_455

export function encodePublish (p: OutgoingPublish): Buffer {
  const topic = Buffer.from(p.topic, 'utf8')
  if (topic.length > 65_535) throw new RangeError('topic is longer than 65535 bytes')
  if (p.qos === 1 && (p.messageId === undefined || p.messageId < 1 || p.messageId > 65_535)) throw new RangeError('a QoS 1 PUBLISH needs a packet identifier of 1-65535')
  const remaining = 2 + topic.length + (p.qos === 1 ? 2 : 0) + p.payload.length
  if (remaining > MAX_REMAINING_LENGTH) throw new RangeError('packet is larger than MQTT allows')
  const lengthBytes: number[] = []
  let n = remaining
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    lengthBytes.push(byte)
  } while (n > 0)
  const out = Buffer.allocUnsafe(1 + lengthBytes.length + remaining)
  let at = 0
  out[at++] = 0x30 | (p.dup === true ? 0x08 : 0) | (p.qos << 1) | (p.retain === true ? 0x01 : 0)
  for (const b of lengthBytes) out[at++] = b
  at = out.writeUInt16BE(topic.length, at)
  at += topic.copy(out, at)
  if (p.qos === 1) at = out.writeUInt16BE(p.messageId as number, at)
  p.payload.copy(out, at)
  return out
}
