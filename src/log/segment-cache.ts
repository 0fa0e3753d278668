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

/** One topic's cached segments, sorted by first offset: the live ones are segs[start..]. */
interface TopicSegments {
  segs: Array<CachedSegment | undefined>
  start: number
}

/** Evicted slots at the front of a topic's list kept before it is copied down. */
const COMPACT_AFTER = 1024

export class SegmentCache {
  private readonly topics = new Map<string, TopicSegments>()
  private order: Array<[string, CachedSegment]> = [] // insertion order, for eviction
  private head = 0 // order[head] is the oldest still counted
  private bytes = 0

  constructor (private readonly maxBytes: number) {}

  put (topic: string, seg: CachedSegment): void {
    if (this.maxBytes <= 0 || seg.buf.length > this.maxBytes) return
    let t = this.topics.get(topic)
    if (t === undefined) this.topics.set(topic, t = { segs: [], start: 0 })
    const at = this.indexOf(t, seg.first)
    if (t.segs[at]?.first === seg.first) return
    if (at === t.segs.length) t.segs.push(seg)
    else if (at === t.start && t.start > 0) t.segs[--t.start] = seg // an older segment read back: a free slot
    else t.segs.splice(at, 0, seg)
    this.order.push([topic, seg])
    this.bytes += seg.buf.length
    while (this.bytes > this.maxBytes && this.head < this.order.length) {
      const [name, oldest] = this.order[this.head++] as [string, CachedSegment]
      this.remove(name, oldest)
    }
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head)
      this.head = 0
    }
  }

  /** The cached segment holding `offset`, if any. */
  find (topic: string, offset: number): CachedSegment | undefined {
    const t = this.topics.get(topic)
    if (t === undefined) return undefined
    const i = this.indexOf(t, offset + 1) - 1 // last segment with first <= offset
    const seg = i < t.start ? undefined : t.segs[i]
    return seg !== undefined && offset < seg.first + seg.count ? seg : undefined
  }

  /** Forgets segments wholly before `offset` (retention) or, without it, the whole topic. */
  drop (topic: string, before?: number): void {
    const t = this.topics.get(topic)
    if (t === undefined) return
    for (const seg of t.segs.slice(t.start) as CachedSegment[]) {
      if (before === undefined || seg.first + seg.count <= before) this.remove(topic, seg)
    }
  }

  private remove (topic: string, seg: CachedSegment): void {
    const t = this.topics.get(topic)
    if (t === undefined) return
    // Eviction goes oldest first, so the segment is usually the topic's first: it leaves by
    // moving `start`, not by shifting the array (a 64 MiB cache of small segments holds tens
    // of thousands, and a splice at the front per eviction took 1.2–1.4 % of the ingest thread).
    if (t.segs[t.start] === seg) {
      t.segs[t.start++] = undefined
    } else {
      const i = t.segs.indexOf(seg, t.start)
      if (i < 0) return
      t.segs.splice(i, 1)
    }
    this.bytes -= seg.buf.length
    if (t.start === t.segs.length) {
      this.topics.delete(topic)
    } else if (t.start > COMPACT_AFTER && t.start * 2 > t.segs.length) {
      t.segs = t.segs.slice(t.start)
      t.start = 0
    }
  }

  /** First index (from `start`) whose segment starts at or after `first` (binary search). */
  private indexOf (t: TopicSegments, first: number): number {
    let lo = t.start
    let hi = t.segs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((t.segs[mid] as CachedSegment).first < first) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** Bytes of the segments held (for tests). */
  get size (): number {
    return this.bytes
  }
}
