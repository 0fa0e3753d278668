import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { guardPacketSize } from '../../src/broker/listeners.js'
import { createTrafficCounters, headerWalker, meterWrites } from '../../src/broker/traffic.js'

// Counting MQTT packets and bytes from their fixed headers, however the bytes are chunked.

const CONNECT = [0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 60, 0, 0]
const PUBLISH = [0x32, 0x08, 0, 3, 0x61, 0x2f, 0x62, 0, 1, 0x78] // QoS 1, topic a/b, id 1, payload 'x'
const PINGREQ = [0xc0, 0x00]
const BIG = [0x30, 0x80, 0x01, ...new Array<number>(128).fill(0)] // remaining length 128: two length bytes

describe('headerWalker', () => {
  const stream = [...CONNECT, ...PUBLISH, ...PINGREQ, ...BIG, ...PUBLISH]
  it.each([1, 2, 3, 7, 64, stream.length])('reports each packet once, chunks of %i bytes', (size) => {
    const seen: Array<[number, number]> = []
    const walk = headerWalker((type, length) => { seen.push([type, length]); return true })
    for (let i = 0; i < stream.length; i += size) expect(walk(Buffer.from(stream.slice(i, i + size)))).toBe(true)
    expect(seen).toEqual([[1, 12], [3, 8], [12, 0], [3, 128], [3, 8]])
  })

  it('stops where onHeader says no', () => {
    const walk = headerWalker((type) => type !== 3)
    expect(walk(Buffer.from([...CONNECT, ...PUBLISH]))).toBe(false)
  })
})

describe('traffic counters', () => {
  it('count what aedes reads through the guard', () => {
    const traffic = createTrafficCounters()
    const s = new PassThrough()
    guardPacketSize(s, 1000, traffic)
    s.write(Buffer.from([...CONNECT, ...PUBLISH.slice(0, 5)]))
    s.read()
    s.write(Buffer.from([...PUBLISH.slice(5), ...PINGREQ]))
    s.read()
    expect(traffic).toMatchObject({ messagesReceived: 3, publishReceived: 1, bytesReceived: CONNECT.length + PUBLISH.length + PINGREQ.length })
  })

  it('count what is written, buffers and strings alike (mqtt-packet writes a topic as a string)', () => {
    const traffic = createTrafficCounters()
    const s = new PassThrough()
    meterWrites(s as unknown as Parameters<typeof meterWrites>[0], traffic)
    s.write(Buffer.from([0x20, 0x02, 0, 0])) // CONNACK
    s.write(Buffer.from([0x30, 0x06, 0, 3])) // PUBLISH QoS 0 header and topic length ...
    s.write('a/b', 'utf8') // ... its topic ...
    s.write(Buffer.from('x')) // ... and payload
    expect(traffic).toMatchObject({ messagesSent: 2, publishSent: 1, bytesSent: 4 + 4 + 3 + 1 })
  })
})
