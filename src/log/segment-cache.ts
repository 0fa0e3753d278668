import { readSegmentHeader } from './segment.js'
import type { LogRecord } from './types.js'

// Recently written and read segments, decoded once: readers near the head of a topic
// (subscriptions, tails) get their events without a LevelDB read, and any read inside a
// cached segment costs only the records it returns. Bounded by bytes; the oldest go first.

export interface CachedSegment {
  first: number
  count: number
  time: number
  buf: Buffer
  /** Byte position of each record's length prefix; made on the first read, not on append. */
  positions?: Uint32Array
}

export function indexSegment (buf: Buffer, first: number): CachedSegment {
  const { count, time } = readSegmentHeader(buf)
  return { first, count, time, buf }
}

function positionsOf (seg: CachedSegment): Uint32Array {
  if (seg.positions !== undefined) return seg.positions
  const positions = new Uint32Array(seg.count)
  let pos = 13 // header: u8 version, u32 count, f64 time
  for (let i = 0; i < seg.count; i++) {
    positions[i] = pos
    pos += 4 + seg.buf.readUInt32LE(pos)
  }
  seg.positions = positions
  return positions
}

/** Records of a cached segment from `from` (inclusive), at most `limit`, below `end`. */
export function recordsOf (seg: CachedSegment, from: number, limit: number, end: number): LogRecord[] {
  const out: LogRecord[] = []
  const stop = Math.min(seg.first + seg.count, end)
  const positions = positionsOf(seg)
  for (let offset = Math.max(from, seg.first); offset < stop && out.length < limit; offset++) {
    const pos = positions[offset - seg.first] as number
    const len = seg.buf.readUInt32LE(pos)
    out.push({ offset, time: seg.time, bytes: seg.buf.subarray(pos + 4, pos + 4 + len) })
  }
  return out
}

export class SegmentCache {
  private readonly topics = new Map<string, CachedSegment[]>() // sorted by first offset
  private order: Array<[string, CachedSegment]> = [] // insertion order, for eviction
  private head = 0 // order[head] is the oldest still counted
  private bytes = 0

  constructor (private readonly maxBytes: number) {}

  put (topic: string, seg: CachedSegment): void {
    if (this.maxBytes <= 0 || seg.buf.length > this.maxBytes) return
    let list = this.topics.get(topic)
    if (list === undefined) this.topics.set(topic, list = [])
    const at = this.indexOf(list, seg.first)
    if (list[at]?.first === seg.first) return
    list.splice(at, 0, seg)
    this.order.push([topic, seg])
    this.bytes += seg.buf.length
    while (this.bytes > this.maxBytes && this.head < this.order.length) {
      const [t, oldest] = this.order[this.head++] as [string, CachedSegment]
      this.remove(t, oldest)
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head)
      this.head = 0
    }
  }

  /** The cached segment holding `offset`, if any. */
  find (topic: string, offset: number): CachedSegment | undefined {
    const list = this.topics.get(topic)
    if (list === undefined || list.length === 0) return undefined
    const i = this.indexOf(list, offset + 1) - 1 // last segment with first <= offset
    const seg = list[i]
    return seg !== undefined && offset < seg.first + seg.count ? seg : undefined
  }

  /** Forgets segments wholly before `offset` (retention) or, without it, the whole topic. */
  drop (topic: string, before?: number): void {
    const list = this.topics.get(topic)
    if (list === undefined) return
    for (const seg of [...list]) {
      if (before === undefined || seg.first + seg.count <= before) this.remove(topic, seg)
    }
  }

  private remove (topic: string, seg: CachedSegment): void {
    const list = this.topics.get(topic)
    if (list === undefined) return
    // Eviction goes oldest first, so the segment is usually the topic's first.
    const i = list[0] === seg ? 0 : list.indexOf(seg)
    if (i < 0) return
    list.splice(i, 1)
    this.bytes -= seg.buf.length
    if (list.length === 0) this.topics.delete(topic)
  }

  /** First index whose segment starts at or after `first` (binary search). */
  private indexOf (list: CachedSegment[], first: number): number {
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((list[mid] as CachedSegment).first < first) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
