import type { Redis } from 'ioredis'
import { indexSegment, recordsOf, type CachedSegment, type SegmentCache } from '../../log/segment-cache.js'
import type { LogRecord, ReadResult } from '../../log/types.js'
import { num } from './connection.js'

// The Redis topic log's reads (layout in redis-topic-log.ts): through the core's cache of
// decoded segments (keyed by topic and incarnation, as segments never change once written),
// and otherwise the holding segment and the ones after it in one MULTI, together with the
// incarnation, so that a topic replaced meanwhile is noticed.

/** Where a topic stands, as its head says when the read begins. */
export interface ReadHead {
  /** The incarnation. */
  gen: string
  /** The oldest retained offset. */
  first: number
  /** The offset the next event gets. */
  next: number
}

/** A topic's keys in one incarnation: the cache's, and Redis' head, segment stream and time index. */
export type ReadKeys = (topic: string, gen: string) => { cache: string, head: string, seg: string, time: string }

export interface RedisLogReader {
  readFromOffset: (topic: string, h: ReadHead, from: number, limit: number) => Promise<ReadResult>
  /** The offset of the first event appended at or after `time` (ms); the head's next when none. */
  offsetAtTime: (topic: string, h: ReadHead, time: number) => Promise<number>
}

/** A stream entry `[id, ['s', segment]]` as a cached segment. */
function segmentOf (entry: [Buffer, Buffer[]]): CachedSegment {
  const id = entry[0].toString('latin1')
  const data = entry[1][1] as Buffer
  return indexSegment(data, Number(id.slice(0, id.indexOf('-'))))
}

export function redisLogReader (client: Redis, cache: SegmentCache, keys: ReadKeys): RedisLogReader {
  return {
    async readFromOffset (topic, h, from, limit) {
      const start = Math.max(from, h.first)
      const end = h.next
      if (start >= end || limit <= 0) return { records: [], nextOffset: Math.max(start, Math.min(from, end)) }
      const k = keys(topic, h.gen)
      const records: LogRecord[] = []
      let pos = start
      // A reader going on from the segment before sizes its fetch by that segment; otherwise one
      // event per segment is assumed (an MQTT group commit's segments hold a few). Assuming 1 for
      // segments of a thousand events fetched a hundred of them (~30 MB) for a read of 100.
      let perSegment = cache.find(k.cache, start - 1)?.count ?? 1
      while (records.length < limit && pos < end) {
        // Cached segments first: no Redis read, and only the records asked for are touched.
        const cached = cache.find(k.cache, pos)
        if (cached !== undefined) {
          for (const r of recordsOf(cached, pos, limit - records.length, end)) records.push(r)
          pos = cached.first + cached.count
          continue
        }
        const count = Math.min(256, Math.max(4, Math.ceil((limit - records.length) / perSegment)))
        const replies = await client.multi()
          .hget(k.head, 'gen')
          .xrevrangeBuffer(k.seg, `${pos}-1`, '-', 'COUNT', 1)
          .xrangeBuffer(k.seg, `(${pos}-1`, '+', 'COUNT', count)
          .exec()
        if (replies === null) break
        for (const [err] of replies) if (err !== null) throw err
        if (replies[0]?.[1] !== h.gen) break // deleted (and perhaps created again) since the read began
        const holder = (replies[1]?.[1] as Array<[Buffer, Buffer[]]>).map(segmentOf)
        const after = (replies[2]?.[1] as Array<[Buffer, Buffer[]]>).map(segmentOf)
        const segs = [...holder.filter((s) => s.first + s.count > pos), ...after]
        if (segs.length === 0) break
        const before = pos
        let events = 0
        for (const seg of segs) {
          if (seg.first >= end) break // written after this read began
          cache.put(k.cache, seg)
          events += seg.count
          // Segments fetched beyond the limit stay in the cache for the next read.
          if (records.length >= limit) continue
          for (const r of recordsOf(seg, pos, limit - records.length, end)) records.push(r)
          pos = seg.first + seg.count
        }
        perSegment = Math.max(1, events / segs.length)
        if (pos === before) break
      }
      const last = records[records.length - 1]
      return { records, nextOffset: last === undefined ? start : last.offset + 1 }
    },

    async offsetAtTime (topic, h, time) {
      const [member] = await client.zrangebyscore(keys(topic, h.gen).time, num(time), '+inf', 'LIMIT', 0, 1)
      return member === undefined ? h.next : Number(member.slice(0, member.indexOf(':')))
    }
  }
}
