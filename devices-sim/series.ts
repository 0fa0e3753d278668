import { latencyHistogram, recordMs, summarize } from './histogram.js'

// Per-second counters since the start of publishing: workers keep sent/acked, the main
// thread delivered/errors and the delivery latency of each second; the result holds them
// side by side, so a stall (a second with few deliveries and a high p99) shows where it was.

export class PerSecond {
  private counts: number[] = []

  add (second: number, n = 1): void {
    if (second < 0 || !Number.isFinite(second)) return
    const s = Math.floor(second)
    // Fill holes so the array stays dense (and cloneable without holes).
    while (this.counts.length <= s) this.counts.push(0)
    this.counts[s] = (this.counts[s] as number) + n
  }

  toArray (): number[] {
    return [...this.counts]
  }
}

/** Element-wise sum of series of different lengths. */
export function sumSeries (series: ReadonlyArray<readonly number[]>): number[] {
  const length = Math.max(0, ...series.map((s) => s.length))
  const out = new Array<number>(length).fill(0)
  for (const s of series) for (let i = 0; i < s.length; i++) out[i] = (out[i] as number) + (s[i] as number)
  return out
}

export interface SecondLatency {
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/**
 * Latency per second of arrival. Arrivals come in time order, so one histogram is enough:
 * when a later second starts, the finished one is summarised and the histogram reset.
 */
export class LatencyPerSecond {
  private readonly hist = latencyHistogram()
  private current = -1
  private readonly done: Array<SecondLatency | null> = []

  record (second: number, ms: number): void {
    if (second < 0 || !Number.isFinite(second)) return
    const s = Math.floor(second)
    if (s > this.current) this.flush(s)
    recordMs(this.hist, ms)
  }

  private flush (next: number): void {
    if (this.current >= 0 && this.hist.totalCount > 0) {
      while (this.done.length < this.current) this.done.push(null)
      const l = summarize(this.hist)
      this.done[this.current] = { p50Ms: l.p50, p99Ms: l.p99, maxMs: l.max }
    }
    this.hist.reset()
    this.current = next
  }

  toArray (): Array<SecondLatency | null> {
    this.flush(this.current + 1)
    return [...this.done]
  }
}

export interface SeriesPoint {
  second: number
  sent: number
  acked: number
  delivered: number
  errors: number
  /** Publish → delivery latency of the messages delivered in this second (null: none). */
  latencyMs: SecondLatency | null
}

export function zipSeries (cols: { sent: readonly number[], acked: readonly number[], delivered: readonly number[], errors: readonly number[], latency?: ReadonlyArray<SecondLatency | null> }): SeriesPoint[] {
  const length = Math.max(cols.sent.length, cols.acked.length, cols.delivered.length, cols.errors.length)
  return Array.from({ length }, (_, second) => ({
    second,
    sent: cols.sent[second] ?? 0,
    acked: cols.acked[second] ?? 0,
    delivered: cols.delivered[second] ?? 0,
    errors: cols.errors[second] ?? 0,
    latencyMs: cols.latency?.[second] ?? null
  }))
}
