// Retention policy for one topic. Pure: the sweeper feeds it segment entries oldest first.

export interface RetentionPolicy {
  /** 0 keeps events forever. */
  maxAgeSeconds: number
  /** 0 means no byte limit. */
  maxBytes: number
}

export interface SegmentEntry {
  firstOffset: number
  count: number
  time: number
  bytes: number
}

/**
 * How many of the oldest segments to remove. Segments go whole: by age when every event in
 * it is older than maxAge (they share one append time), by bytes while the topic is still
 * over maxBytes.
 */
export function segmentsToRemove (oldestFirst: readonly SegmentEntry[], retainedBytes: number, policy: RetentionPolicy, now: number): number {
  const cutoff = policy.maxAgeSeconds > 0 ? now - policy.maxAgeSeconds * 1000 : -Infinity
  let remaining = retainedBytes
  let n = 0
  for (const seg of oldestFirst) {
    const tooOld = seg.time < cutoff
    const tooBig = policy.maxBytes > 0 && remaining > policy.maxBytes
    if (!tooOld && !tooBig) break
    remaining -= seg.bytes
    n++
  }
  return n
}
