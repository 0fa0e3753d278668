import { build, decodeFromCompressedBase64, encodeIntoCompressedBase64, type Histogram } from 'hdr-histogram-js'

// Latency histograms (HdrHistogram, 3 significant digits) recorded in microseconds: whole
// numbers as HdrHistogram wants, fine enough for sub-millisecond loopback latencies.
// Workers send theirs compressed (base64) and the main thread adds them up.

export interface LatencySummary {
  count: number
  p50: number
  p90: number
  p99: number
  p999: number
  max: number
  mean: number
}

export function latencyHistogram (): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3, autoResize: true })
}

/** Records a latency in ms; negative ones (clock steps) count as the smallest value. */
export function recordMs (h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)))
}

const ms = (us: number): number => Math.round(us) / 1000

export function summarize (h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  // A percentile is the top of its bucket, which can lie above the largest value recorded.
  const at = (p: number): number => ms(Math.min(h.getValueAtPercentile(p), h.maxValue))
  return {
    count: h.totalCount,
    p50: at(50),
    p90: at(90),
    p99: at(99),
    p999: at(99.9),
    max: ms(h.maxValue),
    mean: ms(h.mean)
  }
}

export function encodeHistogram (h: Histogram): string {
  return encodeIntoCompressedBase64(h)
}

/** Adds an encoded histogram into `into`. */
export function addEncoded (into: Histogram, encoded: string): void {
  const h = decodeFromCompressedBase64(encoded)
  into.add(h)
  h.destroy()
}
