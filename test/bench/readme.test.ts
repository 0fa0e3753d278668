import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import type { CaseResult } from '../../bench/common.js'
import { END, PUBLISHED, README, renderTable, select, START, withTable, type PublishedCase } from '../../bench/readme.js'
import type { Results } from '../../bench/report.js'

// The README's benchmark table is rendered from bench/published.json, never typed in.

const system = (name: string, eventsPerSecond: number, p50Ms = 1, p99Ms = 2) => ({
  name,
  description: '',
  events: 0,
  ops: 0,
  seconds: 1,
  eventsPerSecond,
  opsPerSecond: eventsPerSecond,
  errors: 0,
  latency: { count: 1, meanMs: p50Ms, p50Ms, p90Ms: p99Ms, p99Ms, p999Ms: p99Ms, maxMs: p99Ms * 2 },
  latencyOf: '',
  rounds: [],
  loopUtilization: 0
})
const caseOf = (id: string, gg: number, base: number, goal?: number): CaseResult => ({
  id, title: `case ${id}`, baseline: system('bare', base), gridgate: system('gridgate', gg), ratio: gg / base, roundRatios: [gg / base * 0.9, gg / base * 1.1], medianRoundRatio: gg / base, ...(goal === undefined ? {} : { goal })
})
const run = (date: string, cases: CaseResult[]): Results => ({
  machine: { date, cpuModel: 'x', cores: 2, availableParallelism: 2, memoryGiB: 1, os: 'linux', node: 'v20', versions: {}, tempDir: '/tmp', tempFs: 'ext4', commit: 'abc1234', loadAverage: { start: 1.5 } },
  settings: { warmupSeconds: 1, seconds: 1, rounds: 2, callers: 1, logBatchEvents: 1, connections: 1, inflight: 1, httpBatchEvents: 1, mqttDevices: 1, mqttInflight: 1, mqttRate: 1, mqttIdle: 0 },
  cases,
  durationSeconds: 1,
  warnings: []
})

describe('bench:readme', () => {
  it('keeps the newest result of each case and the cases no run measured', () => {
    const previous: PublishedCase[] = select([run('2026-01-01T00:00:00Z', [caseOf('old-only', 1, 2)])])
    const cases = select([
      run('2026-03-01T00:00:00Z', [caseOf('a', 90, 100, 0.85)]),
      run('2026-02-01T00:00:00Z', [caseOf('a', 50, 100, 0.85), caseOf('b', 10, 10)])
    ], previous)
    expect(cases.map((c) => [c.id, c.ratio, c.date.slice(0, 7)])).toEqual([['old-only', 0.5, '2026-01'], ['a', 0.9, '2026-03'], ['b', 1, '2026-02']])
    expect(cases.find((c) => c.id === 'a')?.goal).toBe('≥ 0.85: met')
  })

  it('renders one row per case with figures, ratios, goal and when it was measured', () => {
    const table = renderTable(select([run('2026-03-01T12:00:00Z', [caseOf('a', 80, 100, 0.85)])]))
    expect(table.split('\n')).toHaveLength(3)
    expect(table).toContain('| case a | 80/s | 100/s (bare) | 0.80 | 0.80 (0.72–0.88) | ≥ 0.85: missed | 1.00 / 2.00 / 4.00 | 2026-03-01 abc1234 (1.5) |')
  })

  it('replaces only what stands between the markers', () => {
    const readme = `intro\n${START}\nold rows\n${END}\nafter`
    expect(withTable(readme, 'NEW')).toBe(`intro\n${START}\nNEW\n${END}\nafter`)
    expect(() => withTable('no markers', 'NEW')).toThrow(/no/)
  })

  it('finds in the README exactly the table bench/published.json renders', async () => {
    const cases = JSON.parse(await readFile(PUBLISHED, 'utf8')) as PublishedCase[]
    const readme = await readFile(README, 'utf8')
    expect(withTable(readme, renderTable(cases))).toBe(readme)
  })
})
