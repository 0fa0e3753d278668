import { describe, expect, it } from 'vitest'
import type { SystemResult } from '../../bench/common.js'
import { DROP_LOOP_GOAL_MS, loopDelayCase } from '../../bench/mqtt-ingest.js'

// The mqtt bench's storm rows (mass disconnect, reconnect storm): several storms per server,
// compared by their medians, each storm's pair a round ratio, the goal checked on every storm.

const system = (name: string): SystemResult => ({ name, description: '', events: 0, seconds: 1, eventsPerSecond: 0, opsPerSecond: 0, errors: 0, latency: { count: 0, meanMs: 0, p50Ms: 0, p90Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 }, latencyOf: '', rounds: [], loopUtilization: 0 })

const caseOf = (bare: number[], gridgate: number[]): ReturnType<typeof loopDelayCase> =>
  loopDelayCase({ id: 'mqtt-drop', title: 't', of: 'o', what: 'w', systems: [system('bare'), system('gridgate')], ms: [bare, gridgate], note: 'n.' })

describe('loopDelayCase', () => {
  it.each([
    { bare: [673.2, 181.8, 330.1], gridgate: [69.3, 53.0, 22.3], median: [330.1, 53.0], outcome: 'borderline' },
    { bare: [100], gridgate: [40], median: [100, 40], outcome: 'met' },
    { bare: [10, 30, 20], gridgate: [60, 80, 70], median: [20, 70], outcome: 'missed' },
    { bare: [10, 20], gridgate: [30, 50], median: [15, 40], outcome: 'met' }
  ])('compares the medians of $gridgate against $bare and finds the goal $outcome', ({ bare, gridgate, median, outcome }) => {
    const c = caseOf(bare, gridgate)
    expect([c.compare?.baseline, c.compare?.gridgate]).toEqual(median)
    expect(c.ratio).toBeCloseTo((median[1] as number) / (median[0] as number), 12)
    expect(c.roundRatios).toEqual(gridgate.map((g, i) => g / (bare[i] as number)))
    expect(c.goalCheck?.outcome).toBe(outcome)
    expect(c.goalCheck?.text).toBe(`loop max ≤ ${DROP_LOOP_GOAL_MS} ms`)
    expect(c.notes?.[0]).toContain(`gridgate ${gridgate.map((v) => v.toFixed(1)).join(', ')} ms`)
  })
})
