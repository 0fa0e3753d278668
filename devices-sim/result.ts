import type { Connections } from './connections.js'
import { addEncoded, latencyHistogram, summarize } from './histogram.js'
import { reconcile, SeqSet, type Reconciliation } from './ledger.js'
import { evaluateThresholds } from './limits.js'
import type { DeliveryMeter } from './measure.js'
import { publicSettings, type Settings } from './options.js'
import { churns } from './plan.js'
import type { WorkerReport } from './protocol.js'
import { saturationWarnings, type CommandResult, type ErrorDetails, type SimResult } from './report.js'
import { sumSeries, zipSeries } from './series.js'

// The accounting at the end of a run: the workers' reports and the main thread's
// measurements reconciled per device, the error details, the warnings and the SimResult.
// Pure: everything here is computed from what the run gathered.

/** The publish phase as the main thread timed it (shared-clock ms, process CPU, main event loop). */
export interface PublishTiming {
  startAt: number
  lastPublishAt: number
  cpu: NodeJS.CpuUsage
  elu: number
  wallMs: number
}

export interface RunFacts {
  s: Settings
  cores: number
  runId: string
  startedAt: string
  ids: readonly string[]
  connections: Connections
  meter: DeliveryMeter
  /** The workers' reports, and the index of each one's first device. */
  reports: readonly WorkerReport[]
  firsts: readonly number[]
  publish: PublishTiming
  receiver: { receiveErrors: number, ackErrors: number }
  /** False under --broker-only without --subscribe: nothing received the messages. */
  deliveryMeasured: boolean
  commands: CommandResult | null
  interrupted: boolean
  /** Warnings raised during the run (before the accounting). */
  warnings: readonly string[]
}

type Totals = WorkerReport['totals']

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits

/** Deliveries to wait for: every PUBACKed message at QoS 1, every sent one at QoS 0. */
export function expectedDeliveries (reports: readonly WorkerReport[], qos: 0 | 1): number {
  return reports.reduce((a, r) => a + (qos === 1 ? r.totals.acked : r.totals.sent), 0)
}

function sumTotals (reports: readonly WorkerReport[]): (k: keyof Totals) => number {
  return (k) => reports.reduce((a, r) => a + r.totals[k], 0)
}

/** Sent, acknowledged and delivered per device, reconciled; and the PUBACK latency of all workers. */
function reconcileDevices (f: RunFacts): { rec: Reconciliation, puback: ReturnType<typeof latencyHistogram> } {
  const sent = new Array<number>(f.s.devices).fill(0)
  const acked = new Array<SeqSet | undefined>(f.s.devices)
  const puback = latencyHistogram()
  f.reports.forEach((r, w) => {
    const first = f.firsts[w] as number
    r.sent.forEach((n, j) => { sent[first + j] = n })
    r.acked.forEach((bytes, j) => { acked[first + j] = new SeqSet(bytes) })
    addEncoded(puback, r.puback)
  })
  const rec = f.deliveryMeasured
    ? reconcile({ qos: f.s.qos, ids: f.ids, sent, acked, delivered: f.meter.deliveries })
    : { lost: 0, lostByDevice: [], deliveredUnacked: 0, beyondSent: 0 }
  return { rec, puback }
}

function errorDetails (f: RunFacts, total: (k: keyof Totals) => number): ErrorDetails {
  return {
    refused: f.connections.refusedCount,
    publish: total('publishErrors'),
    disconnects: total('disconnects'),
    reconnects: total('reconnectFailures'),
    receive: f.receiver.receiveErrors,
    acknowledge: f.receiver.ackErrors,
    commands: f.commands?.errors ?? 0,
    first: [...f.meter.firstErrors, ...f.reports.flatMap((r) => r.firstErrors)].slice(0, 10)
  }
}

const errorSum = (e: ErrorDetails): number => e.refused + e.publish + e.disconnects + e.reconnects + e.receive + e.acknowledge + e.commands

interface Rates { cpuCores: number, eluWorkers: number[], msgPerSec: number }

/** The run's warnings: those raised while running, then saturation, skips, losses, strays, interruption, lag. */
function runWarnings (f: RunFacts, rec: Reconciliation, total: (k: keyof Totals) => number, rates: Rates): string[] {
  const { s, meter } = f
  const warnings = [...f.warnings]
  warnings.push(...saturationWarnings({ cpuCores: rates.cpuCores, cores: f.cores, eluMain: f.publish.elu, eluWorkers: rates.eluWorkers, askedRate: s.rate, achievedRate: rates.msgPerSec, messages: s.messages }))
  const skipped = total('skipped')
  if (skipped > 0) warnings.push(`${skipped} publishes were skipped: no connected device had room (offline, or ${1000} unacknowledged)`)
  const unacked = total('unacked')
  if (unacked > 0) warnings.push(`${unacked} publishes had no PUBACK within --drain ${s.drain} s`)
  if (rec.lost > 0 && meter.unique < expectedDeliveries(f.reports, s.qos)) warnings.push(`${rec.lost} messages were not delivered within --drain ${s.drain} s after the last publish (late ones count as lost; raise --drain to tell late from lost)`)
  if (rec.deliveredUnacked > 0) warnings.push(`${rec.deliveredUnacked} messages were delivered although their PUBACK never came`)
  if (meter.deliveries.invalid > 0 || rec.beyondSent > 0) warnings.push(`${meter.deliveries.invalid + rec.beyondSent} deliveries did not match a message of this run`)
  if (f.interrupted) warnings.push('the run was interrupted (Ctrl-C): publishing stopped early')
  const maxLag = Math.max(0, ...f.reports.map((r) => r.maxLagMs))
  if (maxLag > 1000) warnings.push(`publishes ran up to ${(maxLag / 1000).toFixed(1)} s behind their schedule`)
  return warnings
}

function churnResult (f: RunFacts): SimResult['churn'] {
  if (f.s.churnShare <= 0) return null
  return {
    devices: f.ids.filter((_, i) => churns(f.s, i)).length,
    disconnects: f.reports.reduce((a, r) => a + r.churn.disconnects, 0),
    reconnects: f.reports.reduce((a, r) => a + r.churn.reconnects, 0),
    failedReconnects: f.reports.reduce((a, r) => a + r.churn.failed, 0)
  }
}

function series (f: RunFacts): SimResult['series'] {
  return zipSeries({
    sent: sumSeries(f.reports.map((r) => r.sentSeries)),
    acked: sumSeries(f.reports.map((r) => r.ackedSeries)),
    delivered: f.meter.deliveredSeries.toArray(),
    errors: sumSeries([f.meter.errorSeries.toArray(), ...f.reports.map((r) => r.errorSeries)]),
    latency: f.meter.latencySeries.toArray()
  })
}

/** The achieved publish rate: sent over the publish phase, which lasts one interval past the last publish. */
export function publishSeconds (sent: number, p: Pick<PublishTiming, 'startAt' | 'lastPublishAt'>, rate: number): number {
  return sent === 0 ? 0 : (p.lastPublishAt - p.startAt) / 1000 + 1 / rate
}

export function buildResult (f: RunFacts): SimResult {
  const { s, meter, connections: c, publish: p } = f
  const total = sumTotals(f.reports)
  const { rec, puback } = reconcileDevices(f)
  const sent = total('sent')
  const seconds = publishSeconds(sent, p, s.rate)
  const rates: Rates = {
    cpuCores: (p.cpu.user + p.cpu.system) / 1000 / p.wallMs,
    eluWorkers: f.reports.map((r) => round(r.elu, 3)),
    msgPerSec: seconds > 0 ? sent / seconds : 0
  }
  const details = errorDetails(f, total)
  const warnings = runWarnings(f, rec, total, rates)
  const latencyMs = summarize(meter.latency)
  const pubackLatencyMs = s.qos === 1 ? summarize(puback) : null
  const msgPerSec = round(rates.msgPerSec, 1)
  const thresholds = evaluateThresholds({ lost: rec.lost, errors: errorSum(details), msgPerSec, latencyMs, pubackLatencyMs }, s)
  return {
    runId: f.runId,
    startedAt: f.startedAt,
    mode: s.brokerOnly ? 'broker-only' : 'gateway',
    settings: publicSettings(s),
    devices: s.devices,
    connected: c.connected,
    refused: { count: c.refusedCount, byCode: { ...c.refusedByCode, ...(c.unreachable > 0 ? { unreachable: c.unreachable } : {}) } },
    sent,
    acked: s.qos === 1 ? total('acked') : 0,
    deliveryMeasured: f.deliveryMeasured,
    delivered: meter.unique,
    lost: rec.lost,
    duplicates: meter.deliveries.duplicates,
    msgPerSec,
    deliveredPerSec: meter.lastDeliveryAt > p.startAt ? round(meter.unique / ((meter.lastDeliveryAt - p.startAt) / 1000), 1) : 0,
    publishSeconds: round(seconds, 3),
    latencyMs,
    pubackLatencyMs,
    unacked: total('unacked'),
    deliveredUnacked: rec.deliveredUnacked,
    beyondSent: rec.beyondSent,
    invalidDeliveries: meter.deliveries.invalid,
    lostByDevice: rec.lostByDevice,
    errors: errorSum(details),
    errorDetails: details,
    commands: f.commands,
    churn: churnResult(f),
    simulatorCpuCores: round(rates.cpuCores, 2),
    simulatorEventLoopUtilization: { main: round(p.elu, 3), workers: rates.eluWorkers },
    saturated: warnings.some((w) => w.startsWith('the simulator used') || w.startsWith('saturated event loop')),
    warnings,
    thresholds,
    passed: thresholds.every((t) => t.passed),
    series: series(f)
  }
}
