import { describe, it, expect } from 'vitest'
import { segmentsToRemove, type RetentionPolicy, type SegmentEntry } from '../../src/log/retention.js'

const NOW = Date.UTC(2026, 0, 10)
const HOUR = 3_600_000

/** Segments oldest first: each [age in hours, bytes]. */
function segments (...spec: Array<[number, number]>): SegmentEntry[] {
  let offset = 0
  return spec.map(([ageHours, bytes]) => {
    const seg = { firstOffset: offset, count: 10, time: NOW - ageHours * HOUR, bytes }
    offset += 10
    return seg
  })
}

function total (segs: readonly SegmentEntry[]): number {
  return segs.reduce((s, e) => s + e.bytes, 0)
}

const hours = (h: number): number => h * 3600

describe('segmentsToRemove', () => {
  it.each<{ name: string, segs: SegmentEntry[], policy: RetentionPolicy, expected: number }>([
    // Age only
    { name: 'nothing when no segment is older than maxAge', segs: segments([3, 100], [2, 100], [1, 100]), policy: { maxAgeSeconds: hours(4), maxBytes: 0 }, expected: 0 },
    { name: 'the segments older than maxAge', segs: segments([30, 100], [26, 100], [20, 100], [1, 100]), policy: { maxAgeSeconds: hours(24), maxBytes: 0 }, expected: 2 },
    { name: 'every segment when all are older than maxAge', segs: segments([30, 100], [29, 100]), policy: { maxAgeSeconds: hours(1), maxBytes: 0 }, expected: 2 },
    { name: 'not a segment exactly maxAge old', segs: segments([24, 100], [1, 100]), policy: { maxAgeSeconds: hours(24), maxBytes: 0 }, expected: 0 },
    { name: 'a segment 1 ms past maxAge', segs: [{ firstOffset: 0, count: 1, time: NOW - hours(24) * 1000 - 1, bytes: 1 }], policy: { maxAgeSeconds: hours(24), maxBytes: 0 }, expected: 1 },
    // Bytes only: remove while still over the limit
    { name: 'nothing when under maxBytes', segs: segments([3, 100], [2, 100], [1, 100]), policy: { maxAgeSeconds: 0, maxBytes: 1000 }, expected: 0 },
    { name: 'nothing when exactly at maxBytes', segs: segments([3, 100], [2, 100], [1, 100]), policy: { maxAgeSeconds: 0, maxBytes: 300 }, expected: 0 },
    { name: 'one segment when 1 byte over maxBytes', segs: segments([3, 100], [2, 100], [1, 100]), policy: { maxAgeSeconds: 0, maxBytes: 299 }, expected: 1 },
    { name: 'the oldest segments until at or under maxBytes', segs: segments([3, 100], [2, 100], [1, 100]), policy: { maxAgeSeconds: 0, maxBytes: 150 }, expected: 2 },
    { name: 'segments of unequal size until under maxBytes', segs: segments([4, 500], [3, 10], [2, 10], [1, 10]), policy: { maxAgeSeconds: 0, maxBytes: 25 }, expected: 2 },
    { name: 'every segment when even the newest alone is over maxBytes', segs: segments([2, 100], [1, 100]), policy: { maxAgeSeconds: 0, maxBytes: 50 }, expected: 2 },
    // Both
    { name: 'by age first, then by bytes', segs: segments([30, 100], [10, 100], [5, 100], [1, 100]), policy: { maxAgeSeconds: hours(24), maxBytes: 200 }, expected: 2 },
    { name: 'by bytes beyond what age alone would remove', segs: segments([30, 100], [10, 100], [5, 100], [1, 100]), policy: { maxAgeSeconds: hours(24), maxBytes: 100 }, expected: 3 },
    { name: 'by age beyond what bytes alone would remove', segs: segments([30, 100], [28, 100], [26, 100], [1, 100]), policy: { maxAgeSeconds: hours(24), maxBytes: 350 }, expected: 3 },
    // Zero limits
    { name: 'nothing with both limits zero, however old and large', segs: segments([10_000, 1e9], [9000, 1e9]), policy: { maxAgeSeconds: 0, maxBytes: 0 }, expected: 0 },
    // Empty
    { name: 'nothing from an empty topic', segs: [], policy: { maxAgeSeconds: 1, maxBytes: 1 }, expected: 0 }
  ])('removes $name', ({ segs, policy, expected }) => {
    expect(segmentsToRemove(segs, total(segs), policy, NOW)).toBe(expected)
  })

  it.each([
    { name: 'a newer segment kept by age hides older-looking ones behind it', segs: segments([30, 100], [1, 100], [40, 100]), expected: 1 },
    { name: 'the first segment is kept, so none behind it is removed', segs: segments([1, 100], [30, 100], [40, 100]), expected: 0 }
  ])('stops at the first kept segment: $name', ({ segs, expected }) => {
    expect(segmentsToRemove(segs, total(segs), { maxAgeSeconds: hours(24), maxBytes: 0 }, NOW)).toBe(expected)
  })

  it('uses the retainedBytes it is given, not the sum of the segments it sees', () => {
    const segs = segments([3, 100], [2, 100], [1, 100])
    expect(segmentsToRemove(segs, 250, { maxAgeSeconds: 0, maxBytes: 200 }, NOW)).toBe(1)
    expect(segmentsToRemove(segs, 1000, { maxAgeSeconds: 0, maxBytes: 200 }, NOW)).toBe(3)
  })

  it.each([
    { now: NOW, expected: 1 },
    { now: NOW + 5 * HOUR, expected: 2 },
    { now: NOW + 100 * HOUR, expected: 3 }
  ])('removes more segments as now moves on: $expected at now=$now', ({ now, expected }) => {
    const segs = segments([30, 1], [20, 1], [1, 1])
    expect(segmentsToRemove(segs, 3, { maxAgeSeconds: hours(24), maxBytes: 0 }, now)).toBe(expected)
  })
})
