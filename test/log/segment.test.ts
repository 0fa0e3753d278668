import { describe, it, expect } from 'vitest'
import { decodeSegment, encodeSegment, readSegmentHeader, segmentSize } from '../../src/log/segment.js'

const TIME = Date.UTC(2026, 0, 1, 12)

const b = (s: string): Buffer => Buffer.from(s, 'utf8')

const EVENT_SETS: Array<{ name: string, events: Buffer[] }> = [
  { name: 'no events', events: [] },
  { name: 'one event', events: [b('{"id":"a"}')] },
  { name: 'three events', events: [b('{"id":"a"}'), b('{"id":"bb"}'), b('{"id":"ccc"}')] },
  { name: 'an empty event among others', events: [b('x'), Buffer.alloc(0), b('z')] },
  { name: 'multi-byte UTF-8', events: [b('{"data":"€ünï"}'), b('{"data":"日本"}')] },
  { name: 'binary bytes', events: [Buffer.from([0, 255, 1, 254]), Buffer.from([0])] },
  { name: 'a 100 kB event', events: [Buffer.alloc(100_000, 7), b('after')] },
  { name: '1000 small events', events: Array.from({ length: 1000 }, (_, i) => b(`{"i":${i}}`)) }
]

describe('encodeSegment / decodeSegment', () => {
  it.each(EVENT_SETS)('round-trips $name', ({ events }) => {
    const seg = encodeSegment(events, TIME)
    const records = decodeSegment(seg, 500, 0, Number.MAX_SAFE_INTEGER)
    expect(records.map((r) => Buffer.from(r.bytes))).toEqual(events)
    expect(records.map((r) => r.offset)).toEqual(events.map((_, i) => 500 + i))
    for (const r of records) expect(r.time).toBe(TIME)
  })

  it.each(EVENT_SETS)('sizes $name exactly: 13 header bytes plus 4 per event plus the events', ({ events }) => {
    const seg = encodeSegment(events, TIME)
    expect(seg.length).toBe(segmentSize(events))
    expect(segmentSize(events)).toBe(13 + events.reduce((s, e) => s + 4 + e.length, 0))
  })

  it.each([0, 1, TIME, TIME + 0.5, Number.MAX_SAFE_INTEGER])('keeps the append time %d exactly', (time) => {
    const seg = encodeSegment([b('a')], time)
    expect(readSegmentHeader(seg)).toEqual({ count: 1, time })
    expect(decodeSegment(seg, 0, 0, 1)[0]?.time).toBe(time)
  })

  it('writes the documented little-endian layout', () => {
    const seg = encodeSegment([b('ab'), b('c')], 1.5)
    const expected = Buffer.alloc(13 + 4 + 2 + 4 + 1)
    expected.writeUInt8(1, 0)
    expected.writeUInt32LE(2, 1)
    expected.writeDoubleLE(1.5, 5)
    expected.writeUInt32LE(2, 13)
    expected.write('ab', 17)
    expected.writeUInt32LE(1, 19)
    expected.write('c', 23)
    expect(seg).toEqual(expected)
  })

  it('copies the events, so changing them later does not change the segment', () => {
    const ev = b('abc')
    const seg = encodeSegment([ev], TIME)
    ev.write('xyz')
    expect(decodeSegment(seg, 0, 0, 1)[0]?.bytes.toString()).toBe('abc')
  })
})

describe('decodeSegment: fromOffset and limit', () => {
  // Offsets 100..104 holding e0..e4.
  const events = ['e0', 'e1', 'e2', 'e3', 'e4'].map(b)
  const seg = encodeSegment(events, TIME)

  it.each([
    { fromOffset: 0, limit: 100, offsets: [100, 101, 102, 103, 104] },
    { fromOffset: 100, limit: 100, offsets: [100, 101, 102, 103, 104] },
    { fromOffset: 101, limit: 100, offsets: [101, 102, 103, 104] },
    { fromOffset: 104, limit: 100, offsets: [104] },
    { fromOffset: 105, limit: 100, offsets: [] },
    { fromOffset: 1000, limit: 100, offsets: [] },
    { fromOffset: 100, limit: 0, offsets: [] },
    { fromOffset: 100, limit: 1, offsets: [100] },
    { fromOffset: 100, limit: 3, offsets: [100, 101, 102] },
    { fromOffset: 102, limit: 2, offsets: [102, 103] },
    { fromOffset: 103, limit: 5, offsets: [103, 104] },
    { fromOffset: 100, limit: 5, offsets: [100, 101, 102, 103, 104] }
  ])('from $fromOffset with limit $limit reads offsets $offsets', ({ fromOffset, limit, offsets }) => {
    const records = decodeSegment(seg, 100, fromOffset, limit)
    expect(records.map((r) => r.offset)).toEqual(offsets)
    expect(records.map((r) => r.bytes.toString())).toEqual(offsets.map((o) => `e${o - 100}`))
  })
})

describe('readSegmentHeader', () => {
  it.each([
    { events: 0, time: 0 },
    { events: 3, time: TIME },
    { events: 1000, time: TIME + 1 }
  ])('reads a count of $events and time $time', ({ events, time }) => {
    const seg = encodeSegment(Array.from({ length: events }, () => b('x')), time)
    expect(readSegmentHeader(seg)).toEqual({ count: events, time })
  })

  it.each([0, 2, 255])('refuses version %d', (version) => {
    const seg = encodeSegment([b('a')], TIME)
    seg.writeUInt8(version, 0)
    expect(() => readSegmentHeader(seg)).toThrow(`unknown segment format (version ${version})`)
    expect(() => decodeSegment(seg, 0, 0, 10)).toThrow(`unknown segment format (version ${version})`)
  })

  it('refuses an empty buffer', () => {
    expect(() => readSegmentHeader(Buffer.alloc(0))).toThrow('unknown segment format (version none)')
  })

  it.each([1, 5, 12])('refuses a header cut to %d bytes', (length) => {
    const seg = encodeSegment([], TIME).subarray(0, length)
    expect(() => readSegmentHeader(seg)).toThrow('unknown segment format')
  })
})
