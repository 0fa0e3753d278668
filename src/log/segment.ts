// A segment is one LevelDB record holding the events of one group-commit batch of one
// topic, in offset order. Few large records instead of one key per event: per-key cost,
// not bytes, is what limits LevelDB on the hot path (architecture.md, "Few, large writes").
//
// Layout (little-endian): u8 version=1 | u32 count | f64 appendTime ms | count × (u32 length | bytes)
// Pure: no I/O.

import type { LogRecord } from './types.js'

const VERSION = 1
const HEADER = 1 + 4 + 8

export function segmentSize (events: readonly Buffer[]): number {
  let size = HEADER
  for (const e of events) size += 4 + e.length
  return size
}

export function encodeSegment (events: readonly Buffer[], time: number): Buffer {
  const out = Buffer.allocUnsafe(segmentSize(events))
  out.writeUInt8(VERSION, 0)
  out.writeUInt32LE(events.length, 1)
  out.writeDoubleLE(time, 5)
  let pos = HEADER
  for (const e of events) {
    out.writeUInt32LE(e.length, pos)
    e.copy(out, pos + 4)
    pos += 4 + e.length
  }
  return out
}

export interface SegmentHeader {
  count: number
  time: number
}

export function readSegmentHeader (segment: Buffer): SegmentHeader {
  if (segment.length < HEADER || segment.readUInt8(0) !== VERSION) {
    throw new Error(`unknown segment format (version ${segment.length > 0 ? segment.readUInt8(0) : 'none'})`)
  }
  return { count: segment.readUInt32LE(1), time: segment.readDoubleLE(5) }
}

/**
 * Decodes the records of a segment whose first offset is `firstOffset`, skipping those
 * before `fromOffset` and stopping after `limit`. The returned buffers share the
 * segment's memory (no copies).
 */
export function decodeSegment (segment: Buffer, firstOffset: number, fromOffset: number, limit: number): LogRecord[] {
  const { count, time } = readSegmentHeader(segment)
  const out: LogRecord[] = []
  let pos = HEADER
  for (let i = 0; i < count && out.length < limit; i++) {
    const len = segment.readUInt32LE(pos)
    const offset = firstOffset + i
    if (offset >= fromOffset) out.push({ offset, time, bytes: segment.subarray(pos + 4, pos + 4 + len) })
    pos += 4 + len
  }
  return out
}
