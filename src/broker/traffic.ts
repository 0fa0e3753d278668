// MQTT traffic as it crosses the sockets: packets and bytes in each direction, PUBLISH packets
// among them, for the $SYS statistics (Mosquitto counts "messages of any type" and bytes at
// the network layer too). Only the fixed header of each packet is looked at (type and
// remaining length), so counting costs a few steps per packet and copies nothing.

export interface TrafficCounters {
  /** MQTT packets of any type read from clients. */
  messagesReceived: number
  messagesSent: number
  /** PUBLISH packets among them. */
  publishReceived: number
  publishSent: number
  bytesReceived: number
  bytesSent: number
}

export function createTrafficCounters (): TrafficCounters {
  return { messagesReceived: 0, messagesSent: 0, publishReceived: 0, publishSent: 0, bytesReceived: 0, bytesSent: 0 }
}

const PUBLISH = 3

/**
 * Follows the MQTT fixed headers through a byte stream handed over in chunks of any size
 * (split anywhere, several packets per chunk). `onHeader` gets each packet's type and
 * remaining length as soon as its length bytes are complete; when it returns false the walk
 * stops there and the function returns false (the caller cuts the stream).
 */
export function headerWalker (onHeader: (type: number, remaining: number) => boolean): (chunk: Uint8Array) => boolean {
  let skip = 0 // body bytes of the current packet still to pass
  let state = 0 // 0: expecting a packet's first byte; 1..4: reading its length byte n
  let type = 0
  let length = 0
  let multiplier = 1
  return (chunk) => {
    let i = 0
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i)
        skip -= n
        i += n
        continue
      }
      const byte = chunk[i++] as number
      if (state === 0) { state = 1; type = byte >> 4; length = 0; multiplier = 1; continue }
      length += (byte & 0x7f) * multiplier
      multiplier *= 128
      if ((byte & 0x80) !== 0 && state < 4) { state++; continue }
      state = 0
      if (!onHeader(type, length)) return false
      skip = length
    }
    return true
  }
}

/** Counts a direction's packets (what headerWalker reports) into the counters. */
export function countPackets (traffic: TrafficCounters, direction: 'received' | 'sent'): (type: number) => void {
  return direction === 'received'
    ? (type) => { traffic.messagesReceived++; if (type === PUBLISH) traffic.publishReceived++ }
    : (type) => { traffic.messagesSent++; if (type === PUBLISH) traffic.publishSent++ }
}

type Write = (chunk: unknown, encoding?: unknown, cb?: unknown) => boolean

/**
 * Counts what is written to `stream` (aedes writes each packet with mqtt-packet's
 * writeToStream: several write() calls per packet, the topic as a string).
 */
export function meterWrites (stream: { write: Write }, traffic: TrafficCounters): void {
  const write = stream.write.bind(stream)
  const count = countPackets(traffic, 'sent')
  const walk = headerWalker((type) => { count(type); return true })
  stream.write = (chunk, encoding, cb) => {
    const bytes = typeof chunk === 'string'
      ? Buffer.from(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8')
      : chunk instanceof Uint8Array ? chunk : undefined
    if (bytes !== undefined) {
      traffic.bytesSent += bytes.length
      walk(bytes)
    }
    return write(chunk, encoding, cb)
  }
}
