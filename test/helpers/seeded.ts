// A small seeded generator (mulberry32) so generated test data is the same on every run.

export function seeded (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal draws (Box–Muller) from a uniform generator. */
export function normal (rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
}

/** The exact nearest-rank quantile (0-based rank ceil(q · n) − 1) of the sorted values: what the sketch estimates. */
export function exactQuantile (sorted: readonly number[], q: number): number {
  return sorted[Math.max(0, Math.ceil(q * sorted.length - 1e-9) - 1)] as number
}
