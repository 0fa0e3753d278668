import { describe, expect, it } from 'vitest'
import { indexSegment, recordsOf, SegmentCache, type CachedSegment } from '../../src/log/segment-cache.js'
import { encodeSegment } from '../../src/log/segment.js'

// The log's cache of recent segments: bounded by bytes, oldest out first, and found by offset.

/** A segment of `count` events of 12 bytes from offset `first` (its buffer is 13 + count * 16 bytes). */
function segment (first: number, count = 2): CachedSegment {
  const events = Array.from({ length: count }, (_, i) => Buffer.from(`event-${String(first + i).padStart(6, '0')}`))
  return indexSegment(encodeSegment(events, 1_700_000_000_000), first)
}
const SIZE = segment(0).buf.length // 45 bytes for two events

describe('segment cache', () => {
  it('finds the segment that holds an offset, and none for offsets it does not hold', () => {
    const cache = new SegmentCache(10_000)
    cache.put('t', segment(0))
    cache.put('t', segment(2))
    cache.put('t', segment(6))
    expect(cache.find('t', 0)?.first).toBe(0)
    expect(cache.find('t', 3)?.first).toBe(2)
    expect(cache.find('t', 7)?.first).toBe(6)
    expect(cache.find('t', 4)).toBeUndefined() // between two cached segments
    expect(cache.find('t', 8)).toBeUndefined()
    expect(cache.find('other', 0)).toBeUndefined()
    const seg = cache.find('t', 3) as CachedSegment
    expect(recordsOf(seg, 3, 10, 100).map((r) => [r.offset, r.bytes.toString()])).toEqual([[3, 'event-000003']])
  })

  it('evicts the oldest segments first once over its bound, across topics', () => {
    const cache = new SegmentCache(3 * SIZE)
    cache.put('a', segment(0))
    cache.put('b', segment(0))
    cache.put('a', segment(2))
    cache.put('b', segment(2)) // over by one: a@0 goes
    expect(cache.find('a', 0)).toBeUndefined()
    expect([cache.find('b', 0)?.first, cache.find('a', 2)?.first, cache.find('b', 2)?.first]).toEqual([0, 2, 2])
    expect(cache.size).toBe(3 * SIZE)
  })

  it('ignores a segment it holds already, and keeps one read back from before what it holds', () => {
    const cache = new SegmentCache(3 * SIZE)
    for (const first of [0, 2, 4, 6]) cache.put('t', segment(first)) // 0 evicted
    cache.put('t', segment(6))
    expect(cache.size).toBe(3 * SIZE)
    cache.put('t', segment(0)) // a reader went back: 2, the oldest put, goes
    expect([0, 2, 4, 6].map((o) => cache.find('t', o)?.first)).toEqual([0, undefined, 4, 6])
  })

  it('drops the segments wholly before an offset, or all of a topic', () => {
    const cache = new SegmentCache(10_000)
    for (const first of [0, 2, 4]) cache.put('t', segment(first))
    cache.put('u', segment(0))
    cache.drop('t', 4)
    expect([0, 2, 4].map((o) => cache.find('t', o)?.first)).toEqual([undefined, undefined, 4])
    cache.drop('t')
    expect(cache.find('t', 4)).toBeUndefined()
    expect(cache.find('u', 1)?.first).toBe(0)
    expect(cache.size).toBe(SIZE)
  })

  it('answers as a plain list would through thousands of evictions, read-backs and drops', () => {
    // A model with none of the cache's bookkeeping: the same segments in insertion order.
    const max = 200 * SIZE
    const cache = new SegmentCache(max)
    let model: Array<[string, CachedSegment]> = []
    const next = new Map<string, number>()
    let seed = 7
    const random = (n: number): number => { seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648; return seed % n }
    for (let step = 0; step < 30_000; step++) {
      const topic = random(4) === 0 ? 'b' : 'a'
      const head = next.get(topic) ?? 0
      const r = random(1000)
      if (r < 990) {
        const seg = segment(head)
        cache.put(topic, seg)
        next.set(topic, head + 2)
        model.push([topic, seg])
      } else if (r < 995 && head > 0) {
        // A read back: an older segment, unless one with that first offset is held.
        const first = random(head / 2) * 2
        const seg = segment(first)
        cache.put(topic, seg)
        if (!model.some(([t, s]) => t === topic && s.first === first)) model.push([topic, seg])
      } else {
        // Retention: up to somewhere in the older half (rarely all that is cached).
        const before = random(head / 2 + 1)
        cache.drop(topic, before)
        model = model.filter(([t, s]) => t !== topic || s.first + s.count > before)
      }
      while (model.length * SIZE > max) model.shift()
      expect(cache.size, `step ${step}`).toBe(model.length * SIZE)
      if (step % 7 === 0) {
        for (const t of ['a', 'b']) {
          const held = new Map(model.filter(([mt]) => mt === t).map(([, seg]) => [seg.first, seg]))
          // Every offset the model holds, and as many others anywhere in the topic.
          const offsets = [...held.keys()].flatMap((first) => [first, first + 1, random(next.get(t) ?? 1)])
          for (const o of offsets) {
            const want = held.get(o - (o % 2))?.first
            if (cache.find(t, o)?.first !== want) expect(cache.find(t, o)?.first, `step ${step}, topic ${t}, offset ${o}`).toBe(want)
          }
        }
      }
    }
  })
})
