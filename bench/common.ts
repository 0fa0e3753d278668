import { rmSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { build, type Histogram } from 'hdr-histogram-js'

// Shared pieces of the benchmark: the timed measuring loop, latency histograms, temp
// directories that are always removed, CPU sampling and the sample CloudEvents.

export { sleep }

// ---------------------------------------------------------------- progress (stderr)

export const progress = {
  write: (text: string): void => { process.stderr.write(text) },
  line: (text = ''): void => { process.stderr.write(text + '\n') }
}

export function compact (n: number): string {
  if (!Number.isFinite(n)) return String(n)
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(2)}M`
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`
  return n.toFixed(0)
}

// ---------------------------------------------------------------- temp directories

const tempDirs = new Set<string>()

/** A fresh directory under `base`; removed by `removeTempDir` or, at the latest, on exit. */
export async function makeTempDir (base: string, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(base, prefix))
  tempDirs.add(dir)
  return dir
}

export async function removeTempDir (dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  tempDirs.delete(dir)
}

/** Last-resort cleanup for exit paths that cannot wait. */
export function removeTempDirsSync (): void {
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }) } catch { /* best effort */ }
  }
  tempDirs.clear()
}

// ---------------------------------------------------------------- latency

/** Latencies are recorded in microseconds (1 µs .. 10 min, 3 significant digits). */
export function latencyHistogram (): Histogram {
  return build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3, autoResize: true })
}

export interface LatencySummary {
  count: number
  meanMs: number
  p50Ms: number
  p90Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
}

export function summarise (h: Histogram): LatencySummary {
  const ms = (us: number): number => Math.round(us) / 1000
  return {
    count: h.totalCount,
    meanMs: ms(h.mean),
    p50Ms: ms(h.getValueAtPercentile(50)),
    p90Ms: ms(h.getValueAtPercentile(90)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue)
  }
}

/**
 * Latencies collected during a measurement: a typed-array store per sample, so the
 * measured code pays almost nothing; they go into the histogram after the window.
 */
class Samples {
  private static readonly CHUNK = 1 << 16
  private readonly full: Float64Array[] = []
  private current = new Float64Array(Samples.CHUNK)
  private n = 0

  push (value: number): void {
    if (this.n === Samples.CHUNK) {
      this.full.push(this.current)
      this.current = new Float64Array(Samples.CHUNK)
      this.n = 0
    }
    this.current[this.n++] = value
  }

  /** Records every sample (ms) into `h` (µs). */
  drainInto (h: Histogram): void {
    const record = (chunk: Float64Array, length: number): void => {
      for (let i = 0; i < length; i++) h.recordValue(Math.max(1, Math.round((chunk[i] ?? 0) * 1000)))
    }
    for (const chunk of this.full) record(chunk, chunk.length)
    record(this.current, this.n)
    this.full.length = 0
    this.n = 0
  }
}

// ---------------------------------------------------------------- CPU

/** CPU seconds (user + system, all threads) used so far by this process. */
export function ownCpuSeconds (): number {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/**
 * CPU seconds (user + system, all threads) used so far by another process, from
 * /proc/<pid>/stat (Linux; assumes the usual USER_HZ of 100). undefined elsewhere.
 */
export async function processCpuSeconds (pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Field 3 (state) is fields[0], so utime (14) and stime (15) are fields[11] and fields[12].
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? ticks / 100 : undefined
  } catch {
    return undefined
  }
}

/**
 * CPU seconds the process' main thread (gridgate's ingest loop) has run, from the first
 * field of /proc/{pid}/task/{pid}/schedstat (Linux); the process's other threads (workers,
 * the libuv pool, GC helpers) are the rest of processCpuSeconds.
 */
export async function mainThreadCpuSeconds (pid: number): Promise<number | undefined> {
  try {
    const ns = Number((await readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')).split(' ')[0])
    return Number.isFinite(ns) ? ns / 1e9 : undefined
  } catch {
    return undefined
  }
}

/**
 * Seconds the process' main thread has been ready to run but waited for a CPU (the run-queue
 * time of /proc/{pid}/task/{pid}/schedstat, Linux with schedstats). On 2 cores shared by the
 * server, its load generator and their helper threads, this is where latency hides that no
 * profile of the server shows.
 */
export async function mainThreadWaitSeconds (pid: number): Promise<number | undefined> {
  try {
    const fields = (await readFile(`/proc/${pid}/task/${pid}/schedstat`, 'utf8')).trim().split(' ')
    const ns = Number(fields[1])
    return Number.isFinite(ns) ? ns / 1e9 : undefined
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------- timed measurement

export interface Control {
  /** Set once the measurement is over: loops finish what they have in flight and return. */
  readonly stopped: boolean
  /** Reports completed work: `events` events in one operation that took `latencyMs`. */
  done: (events: number, latencyMs: number) => void
  /** Counts a failed operation (`message` of the first one is kept). */
  failed: (message: string) => void
}

export interface CpuProbe {
  name: string
  read: () => number | undefined | Promise<number | undefined>
}

export interface Round {
  events: number
  ops: number
  seconds: number
  eventsPerSecond: number
  errors: number
  firstError?: string
  /** Per CPU probe: percent of one core during the measured window. */
  cpuPercent: Record<string, number>
  /** This process's event loop during the window: share of time busy, and busy milliseconds. */
  eventLoop: { utilization: number, activeMs: number }
}

export interface TimedOptions {
  label: string
  warmupSeconds: number
  seconds: number
  /** Latencies of operations completed inside the window go here (µs). */
  histogram: Histogram
  cpu?: CpuProbe[]
  /** Called when the measured window opens and closes (e.g. to count group-commit batches). */
  onWindow?: (open: boolean) => void | Promise<void>
}

/**
 * Runs `work` (which loops until `ctl.stopped`), lets it warm up, then counts what it
 * completes during `seconds`, printing the rate of every second on stderr.
 */
export async function timed (opts: TimedOptions, work: (ctl: Control) => Promise<void>): Promise<Round> {
  let events = 0
  let ops = 0
  let errors = 0
  let firstError: string | undefined
  let measuring = false
  let stopped = false
  let failure: unknown
  const samples = new Samples()
  const ctl: Control = {
    get stopped () { return stopped },
    done (n, latencyMs) {
      events += n
      ops += 1
      if (measuring) samples.push(latencyMs)
    },
    failed (message) {
      errors += 1
      firstError ??= message
    }
  }
  // `running` never rejects; it settles early only if the work failed or gave up.
  const running = (async () => { await work(ctl) })().then(
    () => { if (!stopped) failure = new Error('the workload ended before the measurement did') },
    (err: unknown) => { failure = err }
  ).finally(() => { stopped = true })
  const check = (): void => {
    if (failure !== undefined) throw failure
    if (errors > 100 && errors > ops) throw new Error(`${opts.label}: most operations fail: ${firstError ?? ''}`)
  }
  const pause = async (ms: number): Promise<void> => {
    await Promise.race([sleep(Math.max(0, ms)), running])
    check()
  }
  const readCpu = async (): Promise<Array<number | undefined>> => await Promise.all((opts.cpu ?? []).map((p) => p.read()))

  try {
    progress.write(`  ${opts.label.padEnd(26)} warm-up ${opts.warmupSeconds}s |`)
    await pause(opts.warmupSeconds * 1000)
    await opts.onWindow?.(true)
    const cpu0 = await readCpu()
    const elu0 = performance.eventLoopUtilization()
    const t0 = performance.now()
    const e0 = events
    const o0 = ops
    const err0 = errors
    measuring = true
    const windowMs = opts.seconds * 1000
    let lastT = t0
    let lastE = e0
    for (let tick = 1; ; tick++) {
      const target = Math.min(tick * 1000, windowMs)
      await pause(t0 + target - performance.now())
      const now = performance.now()
      progress.write(` ${compact((events - lastE) / ((now - lastT) / 1000))}`)
      lastT = now
      lastE = events
      if (target >= windowMs) break
    }
    measuring = false
    const t1 = performance.now()
    const elu = performance.eventLoopUtilization(elu0)
    const e1 = events
    const o1 = ops
    const cpu1 = await readCpu()
    await opts.onWindow?.(false)
    stopped = true
    await running
    check()
    samples.drainInto(opts.histogram)
    const seconds = (t1 - t0) / 1000
    const cpuPercent: Record<string, number> = {}
    ;(opts.cpu ?? []).forEach((p, i) => {
      const a = cpu0[i]
      const b = cpu1[i]
      if (a !== undefined && b !== undefined) cpuPercent[p.name] = Math.round((b - a) / seconds * 1000) / 10
    })
    const round: Round = {
      events: e1 - e0,
      ops: o1 - o0,
      seconds,
      eventsPerSecond: (e1 - e0) / seconds,
      errors: errors - err0,
      cpuPercent,
      eventLoop: { utilization: Math.round(elu.utilization * 1000) / 1000, activeMs: Math.round(elu.active * 10) / 10 }
    }
    if (firstError !== undefined) round.firstError = firstError
    progress.line(` ev/s => ${compact(round.eventsPerSecond)} ev/s${round.errors > 0 ? ` (${round.errors} errors: ${firstError ?? ''})` : ''}`)
    return round
  } catch (err) {
    progress.line(' FAILED')
    stopped = true
    await running
    throw err
  }
}

/** Sums rounds into one figure: total events over total measured time. */
export function combine (rounds: readonly Round[]): { events: number, ops: number, seconds: number, eventsPerSecond: number, opsPerSecond: number, errors: number } {
  const events = rounds.reduce((s, r) => s + r.events, 0)
  const ops = rounds.reduce((s, r) => s + r.ops, 0)
  const seconds = rounds.reduce((s, r) => s + r.seconds, 0)
  const errors = rounds.reduce((s, r) => s + r.errors, 0)
  return { events, ops, seconds, eventsPerSecond: events / seconds, opsPerSecond: ops / seconds, errors }
}

export function median (values: readonly number[]): number {
  const sorted = values.filter(Number.isFinite).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] as number : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function average (values: readonly number[]): number | undefined {
  return values.length === 0 ? undefined : values.reduce((s, v) => s + v, 0) / values.length
}

// ---------------------------------------------------------------- sample events

const DEVICES = 250

/**
 * A telemetry CloudEvent as a device would publish it (about 270-290 bytes of JSON).
 * `n` varies the id, device, readings and sequence number deterministically.
 */
export function telemetryEvent (n: number, namespace = 'gridgate'): Record<string, unknown> {
  const device = `sensor-${String(n % DEVICES).padStart(4, '0')}`
  const hex = (n * 2654435761 >>> 0).toString(16).padStart(8, '0')
  return {
    specversion: '1.0',
    id: `${hex}-${String(n).padStart(4, '0').slice(-4)}-4${hex.slice(0, 3)}-8${hex.slice(3, 6)}-${String(n).padStart(12, '0')}`,
    source: `/${namespace}/devices/${device}`,
    type: 'io.gridgate.telemetry.v1',
    subject: `devices/${device}/telemetry`,
    time: new Date(Date.UTC(2026, 0, 1) + n * 250).toISOString(),
    datacontenttype: 'application/json',
    data: {
      temperature: Math.round((18 + (n % 97) / 10) * 100) / 100,
      humidity: Math.round((35 + (n % 311) / 10) * 10) / 10,
      seq: n
    }
  }
}

/** `count` distinct events, serialised as gridgate stores them (JSON, UTF-8). */
export function serialisedEvents (count: number, from = 0): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.from(JSON.stringify(telemetryEvent(from + i)), 'utf8'))
}

// ---------------------------------------------------------------- results

export interface BatchStats {
  batches: number
  events: number
  avgEventsPerBatch: number
  /** Mean time from storage.batch/db.batch call to its promise settling. */
  avgWriteMs: number
  /** Busy time of this process's event loop per batch: the serial JS/native work between writes (in-process cases). */
  loopBusyUsPerBatch?: number
}

export interface SystemResult {
  name: string
  description: string
  events: number
  seconds: number
  eventsPerSecond: number
  opsPerSecond: number
  errors: number
  latency: LatencySummary
  latencyOf: string
  rounds: Round[]
  cpuPercent?: Record<string, number>
  /** Share of the measured time this process's event loop was busy (0..1). */
  loopUtilization: number
  batches?: BatchStats
  /** gridgate child only: mean request duration as the server measured it (its metrics). */
  serverRequestMeanMs?: number
  /** Memory cases: the server child's memory before and after opening `connections` (after a full GC). */
  memory?: {
    connections: number
    rssBeforeMiB: number
    rssAfterMiB: number
    heapUsedBeforeMiB: number
    heapUsedAfterMiB: number
    kbPerConnection: number
    heapKbPerConnection: number
  }
}

export interface CaseResult {
  id: string
  title: string
  baseline: SystemResult
  gridgate: SystemResult
  /** Total gridgate events/s over total baseline events/s. */
  ratio: number
  /** gridgate / baseline of each round (the two were measured back to back). */
  roundRatios: number[]
  /** The median of roundRatios: less swayed by a burst of noise that hit one side. */
  medianRoundRatio: number
  /** Goal on the ratio: ratio ≥ goal. */
  goal?: number
  /**
   * When the case compares something other than events/s (a latency, memory per connection):
   * the figures shown in the summary instead, with ratio/roundRatios computed on them.
   */
  compare?: { what: string, unit: string, gridgate: number, baseline: number, digits: number }
  /** A goal that is not on the ratio (e.g. p99 ≤ 5 ms), with its outcome. */
  goalCheck?: { text: string, outcome: 'met' | 'missed' | 'borderline' }
  /** Extra lines for the report (how the case was measured, figures the tables do not show). */
  notes?: string[]
}

/** Event-loop busy share over all rounds (0..1). */
export function loopUtilization (rounds: readonly Round[]): number {
  const active = rounds.reduce((s, r) => s + r.eventLoop.activeMs, 0)
  const total = rounds.reduce((s, r) => s + r.seconds * 1000, 0)
  return total === 0 ? 0 : active / total
}

export function cpuAverage (rounds: readonly Round[]): Record<string, number> {
  const names = new Set(rounds.flatMap((r) => Object.keys(r.cpuPercent)))
  const out: Record<string, number> = {}
  for (const name of names) {
    const avg = average(rounds.flatMap((r) => r.cpuPercent[name] ?? []))
    if (avg !== undefined) out[name] = Math.round(avg * 10) / 10
  }
  return out
}

// ---------------------------------------------------------------- paced starts

/**
 * Starts `count` tasks at most `rate` per second with at most `concurrency` unfinished; each
 * task calls `done` once when it has finished. Resolves when all have.
 */
export async function pacedStarts (count: number, rate: number, concurrency: number, start: (i: number, done: () => void) => void): Promise<void> {
  const t0 = performance.now()
  let next = 0
  let pending = 0
  await new Promise<void>((resolve) => {
    let waiting: NodeJS.Timeout | undefined
    const pump = (): void => {
      const allowed = Math.floor(rate * (performance.now() - t0) / 1000) + 1
      while (next < count && pending < concurrency && next < allowed) {
        pending += 1
        start(next++, () => { pending -= 1; pump() })
      }
      if (next >= count && pending === 0) { resolve(); return }
      if (next < count && pending < concurrency && waiting === undefined) {
        waiting = setTimeout(() => { waiting = undefined; pump() }, 2)
      }
    }
    pump()
  })
}
