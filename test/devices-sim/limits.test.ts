import { describe, expect, it } from 'vitest'
import type { LatencySummary } from '../../devices-sim/histogram.js'
import { evaluateThresholds, parseDuration, type Limits, type Measured } from '../../devices-sim/limits.js'

const latency = (p99: number, count = 100): LatencySummary => ({ count, p50: p99 / 4, p90: p99 / 2, p99, p999: p99, max: p99, mean: p99 / 4 })

describe('parseDuration', () => {
  it.each<[string, number | undefined]>([
    // plain numbers keep --duration's meaning: seconds
    ['20', 20],
    ['0.5', 0.5],
    ['.25', 0.25],
    [' 10 ', 10],
    // units, as k6 and emqtt-bench write them
    ['500ms', 0.5],
    ['30s', 30],
    ['1.5s', 1.5],
    ['5m', 300],
    ['1h', 3600],
    ['1m30s', 90],
    ['1h2m3s', 3723],
    ['2s500ms', 2.5],
    // not durations
    ['', undefined],
    ['s', undefined],
    ['10x', undefined],
    ['-5s', undefined],
    ['5 s', undefined],
    ['1d', undefined],
    ['0x10', undefined],
    ['1e3', undefined],
    ['PT5S', undefined]
  ])('%j → %s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds)
  })
})

describe('evaluateThresholds', () => {
  const none: Limits = { maxLoss: null, maxErrors: null, maxPubackP99Ms: null, maxDeliveryP99Ms: null, minRate: null }
  const run: Measured = { lost: 0, errors: 0, msgPerSec: 998.7, latencyMs: latency(40), pubackLatencyMs: latency(12) }

  it.each<[string, Partial<Limits>, Partial<Measured>, Array<[string, boolean]>]>([
    ['none set', {}, {}, []],
    ['all met', { maxLoss: 0, maxErrors: 0, maxPubackP99Ms: 12, maxDeliveryP99Ms: 50, minRate: 900 }, {}, [['max-loss', true], ['max-errors', true], ['max-puback-p99-ms', true], ['max-delivery-p99-ms', true], ['min-rate', true]]],
    ['limits are inclusive', { maxLoss: 3, minRate: 998.7, maxPubackP99Ms: 12 }, { lost: 3 }, [['max-loss', true], ['max-puback-p99-ms', true], ['min-rate', true]]],
    ['loss over the limit', { maxLoss: 0 }, { lost: 1 }, [['max-loss', false]]],
    ['errors over the limit', { maxErrors: 5 }, { errors: 6 }, [['max-errors', false]]],
    ['PUBACK p99 over the limit', { maxPubackP99Ms: 10 }, {}, [['max-puback-p99-ms', false]]],
    ['delivery p99 over the limit', { maxDeliveryP99Ms: 39.9 }, {}, [['max-delivery-p99-ms', false]]],
    ['rate under the minimum', { minRate: 1000 }, {}, [['min-rate', false]]],
    ['no PUBACK measured (QoS 0) fails', { maxPubackP99Ms: 100 }, { pubackLatencyMs: null }, [['max-puback-p99-ms', false]]],
    ['no delivery measured fails', { maxDeliveryP99Ms: 100 }, { latencyMs: latency(0, 0) }, [['max-delivery-p99-ms', false]]],
    ['one of several breached', { maxLoss: 0, minRate: 5000 }, {}, [['max-loss', true], ['min-rate', false]]]
  ])('%s', (_name, limits, measured, verdicts) => {
    const results = evaluateThresholds({ ...run, ...measured }, { ...none, ...limits })
    expect(results.map((t) => [t.name, t.passed])).toEqual(verdicts)
  })

  it.each<[Partial<Limits>, Partial<Measured>, string]>([
    [{ maxLoss: 0 }, { lost: 3 }, 'lost 3 messages > --max-loss 0'],
    [{ maxErrors: 2 }, { errors: 1 }, 'errors 1 <= --max-errors 2'],
    [{ maxPubackP99Ms: 5 }, { pubackLatencyMs: latency(12.345) }, 'publish → PUBACK p99 12.35 ms > --max-puback-p99-ms 5'],
    [{ maxDeliveryP99Ms: 5 }, { latencyMs: latency(0, 0) }, 'publish → delivery p99 not measured for --max-delivery-p99-ms 5'],
    [{ minRate: 100000 }, {}, 'publish rate 998.7 msg/s < --min-rate 100000']
  ])('%j says what it measured: %s', (limits, measured, text) => {
    const [t] = evaluateThresholds({ ...run, ...measured }, { ...none, ...limits })
    expect(t?.text).toBe(text)
  })

  it('reports the measured value, rounded, and null when nothing was measured', () => {
    expect(evaluateThresholds({ ...run, pubackLatencyMs: latency(12.3456) }, { ...none, maxPubackP99Ms: 20 })[0]).toEqual({ name: 'max-puback-p99-ms', limit: 20, actual: 12.35, passed: true, text: 'publish → PUBACK p99 12.35 ms <= --max-puback-p99-ms 20' })
    expect(evaluateThresholds({ ...run, pubackLatencyMs: null }, { ...none, maxPubackP99Ms: 20 })[0]?.actual).toBeNull()
  })
})
