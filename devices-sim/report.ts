import type { LatencySummary } from './histogram.js'
import type { ThresholdResult } from './limits.js'
import type { PublicSettings } from './options.js'
import type { SeriesPoint } from './series.js'

// The result of a run (the JSON of --out and --json), its Markdown table and the live
// progress line. Pure: everything here is computed from numbers already gathered.

export const END_STATES = ['succeeded', 'failed', 'timedOut', 'expired', 'canceled'] as const

export interface CommandResult {
  sent: number
  /** End states by name, plus `unfinished` (no end state when the simulator stopped waiting). */
  outcomes: Record<string, number>
  /** Requests the gateway refused or that failed on the way (by HTTP error code in `errorCodes`). */
  errors: number
  errorCodes: Record<string, number>
  /** Commands not sent because too many were in flight already. */
  notSent: number
  /** Sent (POST) → end state in the answer. */
  latencyMs: LatencySummary
}

export interface ErrorDetails {
  /** Devices whose CONNECT was refused (CONNACK code) or could not connect. */
  refused: number
  /** Publishes that failed (QoS 1: the connection closed before the PUBACK). */
  publish: number
  /** Connections that closed without the simulator asking. */
  disconnects: number
  /** Failed churn reconnects. */
  reconnects: number
  receive: number
  acknowledge: number
  commands: number
  /** The first few messages, to start looking. */
  first: string[]
}

export interface SimResult {
  runId: string
  startedAt: string
  /** `gateway`: devices registered over HTTP, delivery through a pull subscription; `broker-only`: any MQTT broker. */
  mode: 'gateway' | 'broker-only'
  settings: PublicSettings
  devices: number
  /** Devices connected when publishing started. */
  connected: number
  refused: { count: number, byCode: Record<string, number> }
  sent: number
  /** QoS 1 PUBACKs (0 for QoS 0). */
  acked: number
  /** Whether delivery was measured (always against gridgate; with --subscribe under --broker-only). */
  deliveryMeasured: boolean
  /** Unique messages delivered by the subscription. */
  delivered: number
  lost: number
  duplicates: number
  /** Achieved publish rate: sent / publish seconds. */
  msgPerSec: number
  /** Delivered / (first publish → last delivery). */
  deliveredPerSec: number
  publishSeconds: number
  /** Publish → delivery by the pull subscription (sentAt in the payload → receive answer); with --warmup, of the messages sent after it. */
  latencyMs: LatencySummary
  /** Publish → PUBACK (QoS 1), null for QoS 0; with --warmup, of the messages sent after it. */
  pubackLatencyMs: LatencySummary | null
  unacked: number
  deliveredUnacked: number
  beyondSent: number
  invalidDeliveries: number
  lostByDevice: Array<{ device: string, lost: number, firstLostSeq: number }>
  errors: number
  errorDetails: ErrorDetails
  commands: CommandResult | null
  churn: { devices: number, disconnects: number, reconnects: number, failedReconnects: number } | null
  /** Process CPU time (all threads) over wall time from the start of publishing to the end of the drain. */
  simulatorCpuCores: number
  simulatorEventLoopUtilization: { main: number, workers: number[] }
  saturated: boolean
  warnings: string[]
  /** Every threshold set (--max-*, --min-rate) with its verdict. */
  thresholds: ThresholdResult[]
  /** No threshold was breached. */
  passed: boolean
  series: SeriesPoint[]
}

const thousands = (n: number): string => Math.round(n).toLocaleString('en-US')

export function formatMs (n: number): string {
  if (n === 0) return '0'
  if (n < 10) return n.toFixed(2)
  if (n < 100) return n.toFixed(1)
  return thousands(n)
}

function latencyRow (name: string, l: LatencySummary | null): string | undefined {
  if (l === null || l.count === 0) return undefined
  return `| ${name} | ${thousands(l.count)} | ${formatMs(l.p50)} | ${formatMs(l.p90)} | ${formatMs(l.p99)} | ${formatMs(l.p999)} | ${formatMs(l.max)} |`
}

/** The end-of-run report: counts, then latencies, then warnings. */
export function renderTable (r: SimResult): string {
  const s = r.settings
  const rows: Array<[string, string]> = [
    ['run', `${r.runId}: ${thousands(s.devices)} devices, ${thousands(s.rate)} msg/s asked, QoS ${s.qos}, ${s.transport}, ${r.publishSeconds.toFixed(1)} s${r.mode === 'broker-only' ? ', broker only' : ''}`],
    ['devices connected', `${thousands(r.connected)} / ${thousands(r.devices)}${r.refused.count > 0 ? ` (${thousands(r.refused.count)} refused: ${Object.entries(r.refused.byCode).map(([c, n]) => `${c} ×${n}`).join(', ')})` : ''}`],
    ['sent', `${thousands(r.sent)} (${thousands(r.msgPerSec)} msg/s)`],
    ['acknowledged (PUBACK)', s.qos === 1 ? `${thousands(r.acked)}${r.unacked > 0 ? ` (${thousands(r.unacked)} without PUBACK)` : ''}` : '– (QoS 0)'],
    ...(r.deliveryMeasured
      ? [
        ['delivered', `${thousands(r.delivered)} (${thousands(r.deliveredPerSec)} msg/s)`],
        ['lost', thousands(r.lost) + (r.lostByDevice.length > 0 ? ` (most: ${r.lostByDevice.slice(0, 3).map((d) => `${d.device} ×${d.lost}`).join(', ')})` : '')],
        ['duplicates', thousands(r.duplicates)]
      ] satisfies Array<[string, string]>
      : [['delivered', '– (not measured: --broker-only without --subscribe)']] satisfies Array<[string, string]>),
    ['errors', thousands(r.errors)]
  ]
  if (r.commands !== null) {
    const c = r.commands
    const outcomes = Object.entries(c.outcomes).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${thousands(n)}`).join(', ')
    rows.push(['commands', `${thousands(c.sent)} sent${outcomes === '' ? '' : `: ${outcomes}`}${c.errors > 0 ? `, ${thousands(c.errors)} errors` : ''}${c.notSent > 0 ? `, ${thousands(c.notSent)} not sent` : ''}`])
  }
  if (r.churn !== null) {
    rows.push(['churn', `${thousands(r.churn.devices)} devices: ${thousands(r.churn.disconnects)} disconnects, ${thousands(r.churn.reconnects)} reconnects${r.churn.failedReconnects > 0 ? `, ${thousands(r.churn.failedReconnects)} failed` : ''}`])
  }
  rows.push(['simulator CPU', `${r.simulatorCpuCores.toFixed(2)} cores (event loops: main ${pct(r.simulatorEventLoopUtilization.main)}, workers ${r.simulatorEventLoopUtilization.workers.map(pct).join(' ')})${r.saturated ? ' SATURATED' : ''}`])

  const lines = [
    '| measure | value |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`),
    '',
    `| latency (ms)${r.settings.warmup > 0 ? `, of messages sent after the first ${r.settings.warmup} s (--warmup)` : ''} | count | p50 | p90 | p99 | p99.9 | max |`,
    '|---|--:|--:|--:|--:|--:|--:|'
  ]
  const latencies = [
    latencyRow('publish → delivery', r.latencyMs),
    latencyRow('publish → PUBACK', r.pubackLatencyMs),
    latencyRow('command → end state', r.commands?.latencyMs ?? null)
  ].filter((l): l is string => l !== undefined)
  if (latencies.length === 0) lines.push('| (nothing measured) | 0 | | | | | |')
  lines.push(...latencies)
  if (r.thresholds.length > 0) {
    lines.push('', '| threshold | limit | measured | verdict |', '|---|--:|--:|---|')
    for (const t of r.thresholds) lines.push(`| --${t.name} | ${t.limit} | ${t.actual === null ? '–' : t.actual} | ${t.passed ? 'pass' : `BREACHED: ${t.text}`} |`)
  }
  if (r.warnings.length > 0) lines.push('', ...r.warnings.map((w) => `warning: ${w}`))
  return lines.join('\n') + '\n'
}

const pct = (x: number): string => `${Math.round(x * 100)}%`

export interface ProgressSnapshot {
  phase: string
  elapsedSeconds: number
  connected: number
  devices: number
  sent: number
  msgPerSec: number
  delivered: number
  p99: number | null
  errors: number
}

export function formatProgress (p: ProgressSnapshot): string {
  return `[${p.elapsedSeconds.toFixed(0).padStart(3)}s ${p.phase}] connected ${thousands(p.connected)}/${thousands(p.devices)}` +
    ` | sent ${thousands(p.sent)} (${thousands(p.msgPerSec)} msg/s) | delivered ${thousands(p.delivered)}` +
    ` | p99 ${p.p99 === null ? '–' : `${formatMs(p.p99)} ms`} | errors ${thousands(p.errors)}`
}

/**
 * Whether the simulator, not the gateway, may have limited the run: its CPU use near the
 * machine's cores, a busy event loop, or a publish rate well below the one asked for.
 */
export function saturationWarnings (x: { cpuCores: number, cores: number, eluMain: number, eluWorkers: readonly number[], askedRate: number, achievedRate: number, messages: number }): string[] {
  const w: string[] = []
  if (x.cpuCores >= 0.9 * x.cores) w.push(`the simulator used ${x.cpuCores.toFixed(2)} of ${x.cores} cores: it may have been the bottleneck; run it on another machine or lower --rate`)
  const busy = [x.eluMain, ...x.eluWorkers].map((e, i) => ({ e, name: i === 0 ? 'main thread' : `worker ${i}` })).filter((t) => t.e >= 0.9)
  if (busy.length > 0) w.push(`saturated event loop (${busy.map((t) => `${t.name} ${pct(t.e)}`).join(', ')}): latencies include the simulator's own queueing${x.eluWorkers.length < 4 ? '; try more --workers' : ''}`)
  // Short runs (under a second of messages) cannot tell.
  if (x.messages >= x.askedRate && x.achievedRate < 0.95 * x.askedRate) w.push(`published ${Math.round(x.achievedRate)} msg/s of the ${x.askedRate} asked for: the simulator or the connections fell behind`)
  return w
}
