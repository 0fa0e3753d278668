// Rate math shared by the publish scheduler, the connection ramp and the command sender.
// A schedule of `limit` items at `rate` per second puts item k (0-based) at k / rate
// seconds after the start, so a caller that wakes up late sends everything that is due at
// once (no coordinated omission from a slow timer) and the total is exact.

/** Items of the schedule due `elapsedMs` after its start (the first is due at once). */
export function dueCount (rate: number, elapsedMs: number, limit = Number.POSITIVE_INFINITY): number {
  if (elapsedMs < 0 || limit <= 0) return 0
  // The epsilon keeps 0.3 * 1000 / 1000 style rounding from delaying an item by a whole tick.
  return Math.min(limit, Math.floor(rate * elapsedMs / 1000 + 1e-9) + 1)
}

/** When item `index` is due, in ms after the start. */
export function dueAtMs (rate: number, index: number): number {
  return index * 1000 / rate
}

/**
 * How long to sleep before the next item: at least `minMs` (timers are not finer than a
 * millisecond, and a tick sends a batch anyway), at most `maxMs` (to notice stops).
 */
export function sleepMs (rate: number, sent: number, elapsedMs: number, minMs = 1, maxMs = 100): number {
  const wait = dueAtMs(rate, sent) - elapsedMs
  return Math.min(maxMs, Math.max(minMs, Math.ceil(wait)))
}

/** Splits `total` into parts proportional to `weights`, summing exactly to `total` (largest remainder). */
export function splitByWeight (total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0)
  if (sum <= 0) return weights.map(() => 0)
  const exact = weights.map((w) => total * w / sum)
  const parts = exact.map(Math.floor)
  let rest = total - parts.reduce((a, b) => a + b, 0)
  const order = exact.map((x, i) => [x - Math.floor(x), i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1])
  for (const [, i] of order) {
    if (rest <= 0) break
    parts[i] = (parts[i] as number) + 1
    rest -= 1
  }
  return parts
}

/** Splits `n` items into `parts` contiguous ranges whose sizes differ by at most one. */
export function splitRanges (n: number, parts: number): Array<[start: number, end: number]> {
  const sizes = splitByWeight(n, Array.from({ length: parts }, () => 1))
  const ranges: Array<[number, number]> = []
  let start = 0
  for (const size of sizes) {
    ranges.push([start, start + size])
    start += size
  }
  return ranges
}

/**
 * Whether item `i` of `n` is in a `share` spread evenly over them (not the first ones, so
 * every worker gets its part): exactly floor(n × share) items are. `offset` shifts the
 * pattern so that two shares (commands, churn) overlap as little as they can.
 */
export function inShare (i: number, share: number, n: number, offset = 0): boolean {
  if (share <= 0) return false
  if (share >= 1) return true
  const j = (i + offset) % n
  const k = Math.floor(n * share)
  return Math.floor((j + 1) * k / n) > Math.floor(j * k / n)
}
