import { describe, expect, it } from 'vitest'
import { mergeSettings, publicSettings } from '../../devices-sim/options.js'
import { formatMs, formatProgress, renderTable, saturationWarnings, type SimResult } from '../../devices-sim/report.js'

const latency = (p50: number): SimResult['latencyMs'] => ({ count: 1000, p50, p90: p50 * 2, p99: p50 * 4, p999: p50 * 8, max: p50 * 10, mean: p50 })

function result (over: Partial<SimResult> = {}): SimResult {
  const settings = publicSettings(mergeSettings({ key: 'k', devices: '1000', rate: '5000', duration: '20' }, { cores: 2 }))
  return {
    runId: 'abcd1234',
    startedAt: '2026-11-24T12:00:00.000Z',
    mode: 'gateway',
    settings,
    devices: 1000,
    connected: 1000,
    refused: { count: 0, byCode: {} },
    sent: 100_000,
    acked: 100_000,
    deliveryMeasured: true,
    delivered: 100_000,
    lost: 0,
    duplicates: 0,
    msgPerSec: 4999.9,
    deliveredPerSec: 4998.2,
    publishSeconds: 20,
    latencyMs: latency(3.2),
    pubackLatencyMs: latency(2.1),
    unacked: 0,
    deliveredUnacked: 0,
    beyondSent: 0,
    invalidDeliveries: 0,
    lostByDevice: [],
    errors: 0,
    errorDetails: { refused: 0, publish: 0, disconnects: 0, reconnects: 0, receive: 0, acknowledge: 0, commands: 0, first: [] },
    commands: null,
    churn: null,
    simulatorCpuCores: 0.61,
    simulatorEventLoopUtilization: { main: 0.12, workers: [0.25, 0.24] },
    saturated: false,
    warnings: [],
    thresholds: [],
    passed: true,
    series: [],
    ...over
  }
}

describe('renderTable', () => {
  it('shows counts, rates and latencies as Markdown', () => {
    const table = renderTable(result())
    expect(table).toContain('| measure | value |')
    expect(table).toContain('| run | abcd1234: 1,000 devices, 5,000 msg/s asked, QoS 1, tcp, 20.0 s |')
    expect(table).toContain('| devices connected | 1,000 / 1,000 |')
    expect(table).toContain('| sent | 100,000 (5,000 msg/s) |')
    expect(table).toContain('| acknowledged (PUBACK) | 100,000 |')
    expect(table).toContain('| delivered | 100,000 (4,998 msg/s) |')
    expect(table).toContain('| lost | 0 |')
    expect(table).toContain('| simulator CPU | 0.61 cores (event loops: main 12%, workers 25% 24%) |')
    expect(table).toContain('| publish → delivery | 1,000 | 3.20 | 6.40 | 12.8 | 25.6 | 32.0 |')
    expect(table).toContain('| publish → PUBACK | 1,000 | 2.10 | 4.20 | 8.40 | 16.8 | 21.0 |')
    expect(table).not.toContain('command')
    expect(table).not.toContain('warning')
  })

  it.each<[string, Partial<SimResult>, string[]]>([
    ['refusals', { connected: 990, refused: { count: 10, byCode: { 4: 10 } } }, ['| devices connected | 990 / 1,000 (10 refused: 4 ×10) |']],
    ['losses by device', { lost: 12, lostByDevice: [{ device: 'sim-3', lost: 10, firstLostSeq: 1 }, { device: 'sim-9', lost: 2, firstLostSeq: 5 }] }, ['| lost | 12 (most: sim-3 ×10, sim-9 ×2) |']],
    ['commands', {
      commands: { sent: 50, outcomes: { succeeded: 48, failed: 0, timedOut: 2, expired: 0, canceled: 0, unfinished: 0 }, errors: 1, errorCodes: { TOO_MANY_COMMANDS: 1 }, notSent: 0, latencyMs: latency(5) }
    }, ['| commands | 50 sent: succeeded 48, timedOut 2, 1 errors |', '| command → end state | 1,000 | 5.00 |']],
    ['churn', { churn: { devices: 100, disconnects: 200, reconnects: 199, failedReconnects: 1 } }, ['| churn | 100 devices: 200 disconnects, 199 reconnects, 1 failed |']],
    ['QoS 0', { settings: { ...result().settings, qos: 0 }, acked: 0, pubackLatencyMs: null }, ['| acknowledged (PUBACK) | – (QoS 0) |']],
    ['warnings and saturation', { saturated: true, warnings: ['the simulator used 1.90 of 2 cores'] }, ['SATURATED |', 'warning: the simulator used 1.90 of 2 cores']],
    ['nothing measured', { latencyMs: { ...latency(1), count: 0 }, pubackLatencyMs: null }, ['| (nothing measured) |']],
    ['broker-only without a subscriber', { mode: 'broker-only', deliveryMeasured: false, delivered: 0 }, [', broker only |', '| delivered | – (not measured: --broker-only without --subscribe) |']],
    ['thresholds, met and breached', {
      thresholds: [
        { name: 'max-loss', limit: 0, actual: 0, passed: true, text: 'lost 0 messages <= --max-loss 0' },
        { name: 'max-puback-p99-ms', limit: 5, actual: 8.4, passed: false, text: 'publish → PUBACK p99 8.4 ms > --max-puback-p99-ms 5' }
      ],
      passed: false
    }, ['| threshold | limit | measured | verdict |', '| --max-loss | 0 | 0 | pass |', '| --max-puback-p99-ms | 5 | 8.4 | BREACHED: publish → PUBACK p99 8.4 ms > --max-puback-p99-ms 5 |']]
  ])('shows %s', (_name, over, lines) => {
    const table = renderTable(result(over))
    for (const line of lines) expect(table).toContain(line)
  })
})

describe('formatMs', () => {
  it.each([[0, '0'], [0.0123, '0.01'], [3.456, '3.46'], [12.34, '12.3'], [123.4, '123'], [12_345, '12,345']])('%d → %s', (n, text) => {
    expect(formatMs(n)).toBe(text)
  })
})

describe('formatProgress', () => {
  it('is one line with the running figures', () => {
    expect(formatProgress({ phase: 'publishing', elapsedSeconds: 12.4, connected: 990, devices: 1000, sent: 60_000, msgPerSec: 5001.2, delivered: 59_950, p99: 14.25, errors: 2 }))
      .toBe('[ 12s publishing] connected 990/1,000 | sent 60,000 (5,001 msg/s) | delivered 59,950 | p99 14.3 ms | errors 2')
    expect(formatProgress({ phase: 'connecting', elapsedSeconds: 1, connected: 0, devices: 5, sent: 0, msgPerSec: 0, delivered: 0, p99: null, errors: 0 })).toContain('p99 –')
  })
})

describe('saturationWarnings', () => {
  const calm = { cpuCores: 0.5, cores: 2, eluMain: 0.2, eluWorkers: [0.3, 0.3], askedRate: 5000, achievedRate: 4999, messages: 100_000 }
  it.each<[string, Partial<typeof calm>, RegExp | null]>([
    ['calm', {}, null],
    ['CPU near the cores', { cpuCores: 1.85 }, /used 1.85 of 2 cores/],
    ['a busy worker', { eluWorkers: [0.3, 0.95] }, /saturated event loop \(worker 2 95%\)/],
    ['a busy main thread', { eluMain: 0.97 }, /main thread 97%/],
    ['behind the rate', { achievedRate: 4000 }, /published 4000 msg\/s of the 5000 asked for/],
    ['a short run cannot tell', { achievedRate: 10, messages: 100 }, null]
  ])('%s', (_name, over, warning) => {
    const w = saturationWarnings({ ...calm, ...over })
    if (warning === null) expect(w).toEqual([])
    else expect(w.join('\n')).toMatch(warning)
  })
})
