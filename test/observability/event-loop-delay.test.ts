import { describe, expect, it } from 'vitest'
import { createMetrics, LOOP_DELAY_QUANTILES, type LoopDelay } from '../../src/observability/metrics.js'
import { pause } from '../helpers/wait.js'

// gridgate_event_loop_delay_seconds: one series per loop and quantile, over the time since
// the previous scrape.

function block (ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) { /* hold the event loop */ }
}

async function delays (metrics: ReturnType<typeof createMetrics>): Promise<Map<string, number>> {
  const json = await metrics.registry.getSingleMetric('gridgate_event_loop_delay_seconds')?.get()
  return new Map((json?.values ?? []).map((v) => [`${String(v.labels.loop)}/${String(v.labels.quantile)}`, v.value]))
}

describe('event-loop delay metric', () => {
  it('reports a blocked ingest loop in its upper quantiles, then forgets it after the scrape', async () => {
    const metrics = createMetrics()
    try {
      await pause(50) // the monitor takes samples
      block(300)
      await pause(30) // the monitor sees the delay
      const first = await delays(metrics)
      expect(first.get('ingest/1')).toBeGreaterThanOrEqual(0.25)
      for (const q of LOOP_DELAY_QUANTILES) expect(first.has(`ingest/${q}`)).toBe(true)
      await pause(50) // a quiet interval
      const second = await delays(metrics)
      expect(second.get('ingest/1')).toBeLessThan(0.25)
    } finally { metrics.close() }
  })

  it('reports each watched loop under its own name, in seconds', async () => {
    const metrics = createMetrics()
    try {
      let resets = 0
      const worker: LoopDelay = { percentile: (p) => p * 1e6, max: 250e6, reset: () => { resets++ } }
      metrics.watchLoop('telemetry', worker)
      const got = await delays(metrics)
      expect(got.get('telemetry/0.5')).toBeCloseTo(0.05)
      expect(got.get('telemetry/0.99')).toBeCloseTo(0.099)
      expect(got.get('telemetry/1')).toBeCloseTo(0.25)
      expect(resets).toBe(1)
    } finally { metrics.close() }
  })
})
