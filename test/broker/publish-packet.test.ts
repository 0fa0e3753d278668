import { parser, type IPublishPacket } from 'mqtt-packet'
import { describe, expect, it } from 'vitest'
import { encodePublish, type OutgoingPublish } from '../../src/broker/publish-packet.js'

// mqtt-packet (the parser mqtt.js and aedes use) reads back what encodePublish writes.
function parse (bytes: Buffer): IPublishPacket {
  const p = parser({ protocolVersion: 4 })
  const packets: IPublishPacket[] = []
  p.on('packet', (packet) => packets.push(packet as IPublishPacket))
  p.on('error', (err) => { throw err })
  p.parse(bytes)
  expect(packets).toHaveLength(1)
  return packets[0] as IPublishPacket
}

describe('encodePublish', () => {
  it('writes the bytes of MQTT 3.1.1 §3.3 for a QoS 1 message', () => {
    expect(encodePublish({ topic: 'a/b', payload: Buffer.from('hi'), qos: 1, messageId: 10 }))
      .toEqual(Buffer.from([0x32, 9, 0, 3, 0x61, 0x2f, 0x62, 0, 10, 0x68, 0x69]))
  })

  it.each<{ name: string, packet: OutgoingPublish }>([
    { name: 'QoS 0 without a packet identifier', packet: { topic: 'devices/d1/telemetry', payload: Buffer.from('{"t":1}'), qos: 0 } },
    { name: 'QoS 1 with the highest packet identifier', packet: { topic: 'devices/d1/telemetry', payload: Buffer.from('x'), qos: 1, messageId: 65535 } },
    { name: 'an empty payload', packet: { topic: 't', payload: Buffer.alloc(0), qos: 1, messageId: 1 } },
    { name: 'a UTF-8 topic', packet: { topic: 'målere/rød', payload: Buffer.from('1'), qos: 0 } },
    { name: 'DUP and RETAIN', packet: { topic: 't', payload: Buffer.from('1'), qos: 1, messageId: 7, dup: true, retain: true } },
    { name: 'a two-byte remaining length (200 bytes)', packet: { topic: 't', payload: Buffer.alloc(200, 1), qos: 1, messageId: 2 } },
    { name: 'a three-byte remaining length (20,000 bytes)', packet: { topic: 't', payload: Buffer.alloc(20_000, 2), qos: 0 } },
    { name: 'a four-byte remaining length (2,100,000 bytes)', packet: { topic: 't', payload: Buffer.alloc(2_100_000, 3), qos: 1, messageId: 3 } }
  ])('is read back by mqtt-packet: $name', ({ packet }) => {
    const read = parse(encodePublish(packet))
    expect(read).toMatchObject({ cmd: 'publish', topic: packet.topic, qos: packet.qos, dup: packet.dup === true, retain: packet.retain === true })
    expect(Buffer.compare(read.payload as Buffer, packet.payload)).toBe(0)
    expect(read.messageId).toBe(packet.messageId)
  })

  it.each([
    { name: 'a QoS 1 message without a packet identifier', packet: { topic: 't', payload: Buffer.alloc(0), qos: 1 } as const },
    { name: 'a packet identifier of 0', packet: { topic: 't', payload: Buffer.alloc(0), qos: 1, messageId: 0 } as const },
    { name: 'a topic over 65535 bytes', packet: { topic: 'x'.repeat(65_536), payload: Buffer.alloc(0), qos: 0 } as const }
  ])('refuses $name', ({ packet }) => {
    expect(() => encodePublish(packet)).toThrow(RangeError)
  })
})
