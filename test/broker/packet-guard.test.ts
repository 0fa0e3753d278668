import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { guardPacketSize } from '../../src/broker/listeners.js'

// The packet-size guard in front of aedes: it follows the MQTT fixed headers through read().

function guarded (max: number): { stream: PassThrough, feed: (bytes: number[] | Buffer) => Buffer | null } {
  const stream = new PassThrough()
  guardPacketSize(stream, max)
  return {
    stream,
    feed: (bytes) => {
      stream.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes))
      return stream.read() as Buffer | null
    }
  }
}

describe('guardPacketSize', () => {
  it('passes packets within the limit, whole or split anywhere, several per chunk', () => {
    const { stream, feed } = guarded(10)
    const publish = [0x30, 0x0a, 0, 3, 0x61, 0x2f, 0x62, 1, 2, 3, 4, 5]
    const ping = [0xc0, 0x00]
    expect(feed([...publish, ...ping, ...publish.slice(0, 1)])?.length).toBe(15)
    expect(feed(publish.slice(1, 2))?.length).toBe(1) // the length byte on its own
    expect(feed(publish.slice(2))?.length).toBe(10)
    expect(stream.destroyed).toBe(false)
  })

  it('destroys the stream as soon as a declared remaining length is over the limit', () => {
    const { stream, feed } = guarded(1000)
    expect(feed([0xc0, 0x00, 0x32])?.length).toBe(3)
    expect(feed([0xff])?.length).toBe(1) // continuation: not known yet
    expect(feed([0xff, 0xff, 0x7f])).toBeNull() // 268,435,455 declared
    expect(stream.destroyed).toBe(true)
  })

  it('accepts exactly the limit and refuses one more, with multi-byte lengths', () => {
    const ok = guarded(200)
    expect(ok.feed([0x30, 0xc8, 0x01])?.length).toBe(3) // 200
    expect(ok.stream.destroyed).toBe(false)
    const over = guarded(200)
    expect(over.feed([0x30, 0xc9, 0x01])).toBeNull() // 201
    expect(over.stream.destroyed).toBe(true)
  })
})
