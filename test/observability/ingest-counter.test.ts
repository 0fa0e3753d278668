import { describe, expect, it } from 'vitest'
import { createMetrics } from '../../src/observability/metrics.js'

// gridgate_ingest_events_total is counted in a map per message and reaches prom-client when
// it is read: every read, a scrape or the console's get(), sees every message counted before it.

describe('gridgate_ingest_events_total', () => {
  it('gives every topic its count at each scrape, adding up across scrapes', async () => {
    const m = createMetrics()
    for (const t of ['telemetry', 'telemetry', 'events']) m.countIngested(t)
    let text = await m.registry.metrics()
    expect(text).toContain('gridgate_ingest_events_total{topic="telemetry"} 2')
    expect(text).toContain('gridgate_ingest_events_total{topic="events"} 1')
    m.countIngested('telemetry')
    text = await m.registry.metrics()
    expect(text).toContain('gridgate_ingest_events_total{topic="telemetry"} 3')
    expect(text).toContain('gridgate_ingest_events_total{topic="events"} 1')
  })

  it('is complete when read through get(), as the console\'s overview reads it', async () => {
    const m = createMetrics()
    for (let i = 0; i < 5; i++) m.countIngested('telemetry')
    expect((await m.mqttMessages.get()).values).toEqual([expect.objectContaining({ labels: { topic: 'telemetry' }, value: 5 })])
  })
})
