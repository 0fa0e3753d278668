import { createRequire } from 'node:module'
import { describe, expect, it } from 'vitest'
import { installBufferListReads, patchBufferListReads } from '../../src/broker/bl-reads.js'

// The parser's BufferList reads in place (src/broker/bl-reads.ts); every result, and every
// error, must be what reading the concatenated bytes gives.

const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'))
const fromPacket = createRequire(fromAedes.resolve('mqtt-packet'))
type List = { readUInt8: (o?: number) => number, readUInt16BE: (o?: number) => number, readUInt32BE: (o?: number) => number, toString: (e?: string, s?: number, t?: number) => string, append: (b: Buffer) => void, length: number }
const bl = fromPacket('bl') as ((() => List) & { BufferList: new () => List })
const mqtt = fromPacket('mqtt-packet') as { parser: (o: object) => { on: (e: string, f: (p: unknown) => void) => void, parse: (b: Buffer) => void }, generate: (p: object) => Buffer }
installBufferListReads()

const outcome = (f: () => unknown): unknown => {
  try { return f() } catch (err) { return (err as Error).constructor.name }
}

const bytes = Buffer.from('\u0030\u00ff\u0001\u0002héllo wörld\u0000\u007f\u0080', 'utf8')
const chunkings: Array<{ name: string, sizes: number[] }> = [
  { name: 'one buffer', sizes: [bytes.length] },
  { name: 'single bytes', sizes: Array.from({ length: bytes.length }, () => 1) },
  { name: 'pairs', sizes: Array.from({ length: Math.ceil(bytes.length / 2) }, () => 2) },
  { name: 'uneven', sizes: [3, 1, 5, 2, 100] },
  { name: 'an empty buffer between', sizes: [4, 0, 6, 100] }
]
const listOf = (sizes: number[], stream: boolean): List => {
  const list = stream ? bl() : new bl.BufferList()
  let at = 0
  for (const n of sizes) {
    list.append(bytes.subarray(at, Math.min(bytes.length, at + n)))
    at += n
    if (at >= bytes.length) break
  }
  return list
}
const offsets = [-1, 0, 1, 2, 3, 5, bytes.length - 4, bytes.length - 2, bytes.length - 1, bytes.length, bytes.length + 3, undefined]

describe('BufferList reads in place', () => {
  it('patches the prototypes once and says so', () => {
    // The list mqtt-packet's parser makes is a BufferListStream, whose prototype has copies of BufferList's methods.
    expect((bl as unknown as { prototype: Record<symbol, unknown> }).prototype[Symbol.for('gridgate.blReads')]).toBe(true)
    expect(patchBufferListReads(bl.BufferList.prototype as unknown as Record<string, unknown>)).toBe(true)
    expect(patchBufferListReads({})).toBe(false)
  })

  describe.each(chunkings)('$name', ({ sizes }) => {
    it.each([true, false])('readUInt8, readUInt16BE and readUInt32BE give what the bytes give (stream %s)', (stream) => {
      const list = listOf(sizes, stream)
      for (const o of offsets) {
        expect(outcome(() => list.readUInt8(o))).toEqual(outcome(() => bytes.readUInt8(o)))
        expect(outcome(() => list.readUInt16BE(o))).toEqual(outcome(() => bytes.readUInt16BE(o)))
        expect(outcome(() => list.readUInt32BE(o))).toEqual(outcome(() => bytes.readUInt32BE(o)))
      }
    })

    it.each([true, false])('toString(encoding, start, end) gives what the bytes give (stream %s)', (stream) => {
      const list = listOf(sizes, stream)
      for (const enc of ['utf8', 'latin1', 'hex', undefined]) {
        for (const [s, e] of [[0, 1], [4, 9], [5, 15], [0, bytes.length], [3, 3], [2, bytes.length + 5]]) {
          expect(list.toString(enc, s, e)).toBe(bytes.subarray(s, Math.min(e as number, bytes.length)).toString(enc as BufferEncoding))
        }
      }
    })
  })

  it('mqtt-packet parses PUBLISH packets split at every byte boundary as it parses them whole', () => {
    const packets = [1, 2, 3].map((i) => mqtt.generate({ cmd: 'publish', topic: `devices/d${i}/telemetry`, payload: Buffer.from(`{"t":${i}}`), qos: 1, messageId: 300 + i, retain: false, dup: false }))
    const whole = Buffer.concat(packets)
    const parse = (chunks: Buffer[]): unknown[] => {
      const out: unknown[] = []
      const p = mqtt.parser({ protocolVersion: 4 })
      p.on('packet', (x) => out.push({ ...(x as object), payload: Buffer.from((x as { payload: Buffer }).payload).toString() }))
      for (const c of chunks) p.parse(c)
      return out
    }
    const expected = parse([whole])
    expect(expected).toHaveLength(3)
    expect(expected[1]).toMatchObject({ cmd: 'publish', topic: 'devices/d2/telemetry', messageId: 302, qos: 1, payload: '{"t":2}' })
    for (let cut = 1; cut < whole.length; cut++) expect(parse([whole.subarray(0, cut), whole.subarray(cut)])).toEqual(expected)
    expect(parse([...whole].map((b) => Buffer.from([b])))).toEqual(expected)
  })
})
