import type { LatencySummary } from './histogram.js'

// Durations as k6 and emqtt-bench write them (500ms, 30s, 5m, 1h, 1m30s; a plain number is
// seconds, as --duration always took) and the run's thresholds: each one checked against the
// result, named in the table and the JSON, and a breach ends the run with exit code 99 (k6's
// code for failed thresholds). Pure: no I/O.

/** The exit code of a run that breached a threshold (k6 uses 99 too). */
export const THRESHOLD_EXIT_CODE = 99

const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 }

/**
 * Seconds from `30s`, `500ms`, `5m`, `1h`, `1m30s` or a plain number of seconds (`20`, `0.5`);
 * undefined when the text is none of these.
 */
export function parseDuration (text: string): number | undefined {
  const t = text.trim()
  if (/^(\d+\.?\d*|\.\d+)$/.test(t)) return Number(t)
  if (!/^((\d+\.?\d*|\.\d+)(ms|s|m|h))+$/.test(t)) return undefined
  let seconds = 0
  for (const [, n, unit] of t.matchAll(/(\d+\.?\d*|\.\d+)(ms|s|m|h)/g)) seconds += Number(n) * (UNIT_SECONDS[unit as string] as number)
  return Math.round(seconds * 1e6) / 1e6
}

export type ThresholdName = 'max-loss' | 'max-errors' | 'max-puback-p99-ms' | 'max-delivery-p99-ms' | 'min-rate'

/** The limits a run was given (null: not set). */
export interface Limits {
  maxLoss: number | null
  maxErrors: number | null
  maxPubackP99Ms: number | null
  maxDeliveryP99Ms: number | null
  minRate: number | null
}

/** What a threshold is checked against. */
export interface Measured {
  lost: number
  errors: number
  /** Achieved publish rate (msg/s). */
  msgPerSec: number
  latencyMs: LatencySummary
  pubackLatencyMs: LatencySummary | null
}

export interface ThresholdResult {
  /** The flag that set it. */
  name: ThresholdName
  limit: number
  /** The measured value; null when nothing was measured (which fails the threshold). */
  actual: number | null
  passed: boolean
  /** One line: `publish → PUBACK p99 412 ms > --max-puback-p99-ms 50`. */
  text: string
}

const p99 = (l: LatencySummary | null): number | null => l === null || l.count === 0 ? null : l.p99

interface Check { name: ThresholdName, limit: number | null, actual: number | null, max: boolean, what: string, unit: string }

/** Every threshold that was set, in flag order, with its verdict. */
export function evaluateThresholds (m: Measured, l: Limits): ThresholdResult[] {
  const checks: Check[] = [
    { name: 'max-loss', limit: l.maxLoss, actual: m.lost, max: true, what: 'lost', unit: ' messages' },
    { name: 'max-errors', limit: l.maxErrors, actual: m.errors, max: true, what: 'errors', unit: '' },
    { name: 'max-puback-p99-ms', limit: l.maxPubackP99Ms, actual: p99(m.pubackLatencyMs), max: true, what: 'publish → PUBACK p99', unit: ' ms' },
    { name: 'max-delivery-p99-ms', limit: l.maxDeliveryP99Ms, actual: p99(m.latencyMs), max: true, what: 'publish → delivery p99', unit: ' ms' },
    { name: 'min-rate', limit: l.minRate, actual: m.msgPerSec, max: false, what: 'publish rate', unit: ' msg/s' }
  ]
  const out: ThresholdResult[] = []
  for (const c of checks) {
    if (c.limit === null) continue
    const passed = c.actual !== null && (c.max ? c.actual <= c.limit : c.actual >= c.limit)
    const shown = c.actual === null ? 'not measured' : `${round(c.actual)}${c.unit}`
    const text = `${c.what} ${shown} ${c.actual === null ? 'for' : passed ? (c.max ? '<=' : '>=') : (c.max ? '>' : '<')} --${c.name} ${c.limit}`
    out.push({ name: c.name, limit: c.limit, actual: c.actual === null ? null : round(c.actual), passed, text })
  }
  return out
}

const round = (n: number): number => Math.round(n * 100) / 100
