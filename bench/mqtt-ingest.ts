import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { Pool, request } from 'undici'
import { openFilesLimit, startChild, type Child } from './children.js'
import {
  combine, compact, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, mainThreadCpuSeconds, mainThreadWaitSeconds, processCpuSeconds, progress,
  removeTempDir, sleep, summarise, timed, type CaseResult, type CpuProbe, type Round, type SystemResult
} from './common.js'
import { BENCH_KEY, metricSum } from './http-publish.js'
import type { ConnectResult, Device, LoadCommand, LoadStream, StopResult } from './mqtt-load.js'
import { Ipc as IpcBase } from './ipc.js'

// MQTT ingest: simulated devices (mqtt.js clients in a load-generator child, bench/mqtt-load.ts)
// publish QoS 1 telemetry to gridgate children and to a bare aedes child (bench/bare-aedes.ts)
// with the same load. Four cases: closed-loop fan-in throughput, publish -> PUBACK latency at a
// fixed rate, RSS per idle connection, and what mqtt.persistence costs.

export interface MqttIngestOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  /** Simulated devices for the throughput and latency cases. */
  devices: number
  /** Publishes each device keeps waiting for their PUBACK (throughput case). */
  inflight: number
  /** Publishes per second in total (latency case). */
  rate: number
  /** Idle connections (memory case); 0 skips the case. */
  idle: number
  /** Where the children of the throughput and latency cases write --cpu-prof profiles. */
  cpuProfileDir?: string
}

export interface MqttIngestResult {
  cases: CaseResult[]
  warnings: string[]
}

export const IDLE_KB_GOAL = 16
/** PUBACK latency at the paced rate (issue goals): p99 and max. */
export const P99_MS_GOAL = 10
export const MAX_MS_GOAL = 50
/** Ingest event-loop delay p99 during the paced rounds. */
export const LOOP_P99_MS_GOAL = 5
export const FAN_IN_GOAL = 0.85
/** gridgate's CPU per PUBACKed message at most this many times bare aedes'. */
export const CPU_PER_MESSAGE_GOAL = 1.5
/** Fan-in with telemetry on (the default) against telemetry off. */
export const TELEMETRY_ON_GOAL = 0.9
/** Devices of the small fan-in case. */
export const SMALL_FAN_IN_DEVICES = 100

export const TELEMETRY = 'telemetry'
export const PREWARM_SECONDS = 2
/** Before a round: wait until the servers use under QUIESCE_CPU of a core over QUIESCE_SAMPLE_MS, at most QUIESCE_MAX_MS. */
const QUIESCE_CPU = 0.1
const QUIESCE_SAMPLE_MS = 200
const QUIESCE_MAX_MS = 2000
const REGISTER_CONCURRENCY = 16
/** Connection set-up: CONNECTs waiting for their CONNACK at most, and new connections per second. */
const CONNECT_CONCURRENCY = 64
export const CONNECT_RATE = 2000
const IDLE_CONNECT_RATE = 1000
/** Long enough that no PINGREQ falls into a measurement. */
const KEEPALIVE_SECONDS = 300
const SETTLE_MS = 2000
/** After a mass disconnect: how long the server's loop delay is watched. */
const DROP_SETTLE_MS = 5000
/** Mass disconnects and reconnect storms per server in the idle case: one alone moved 39-545 ms between runs of the same code. */
const STORMS = 3
/** The issue's bound on a PUBACK's worst wait, applied to the loop a mass disconnect holds. */
export const DROP_LOOP_GOAL_MS = 50
/** Connections of the unmeasured connect/disconnect cycle before the idle measurement (at most a tenth of them). */
const IDLE_WARMUP_CONNECTIONS = 500
const PROBE_ARGS = ['--expose-gc', '--import', './bench/server-probe.ts']
const auth = { authorization: `SharedAccessKey ${BENCH_KEY}` }

// ---------------------------------------------------------------- IPC with the children

export type Ipc = IpcBase<LoadCommand, LoadStream>

export interface Server {
  name: string
  child: Child
  ipc: Ipc
  mqtt: string
  /** gridgate only. */
  http?: string
}

const profile = (dir: string | undefined): string[] => dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]

export async function startLoadGenerator (openFiles: number, cpuProfileDir?: string): Promise<{ child: Child, ipc: Ipc }> {
  const child = await startChild('mqtt load generator', ['bench/mqtt-load.ts'], 30_000, { ipc: true, openFiles, nodeArgs: profile(cpuProfileDir) })
  return { child, ipc: new IpcBase<LoadCommand, LoadStream>(child) }
}

/** `durableDir`: the durable floor (bench/bare-aedes.ts --durable), its LevelDB in that directory. */
export async function startBareAedes (openFiles: number, durableDir?: string): Promise<Server> {
  const name = durableDir === undefined ? 'bare aedes' : 'durable aedes'
  const child = await startChild(name, ['bench/bare-aedes.ts', ...(durableDir === undefined ? [] : ['--durable', durableDir])], 30_000, { ipc: true, nodeArgs: PROBE_ARGS, openFiles })
  const mqtt = child.listeners.mqtt
  if (mqtt === undefined) throw new Error(`${name} did not report its MQTT listener`)
  return { name, child, ipc: new IpcBase<LoadCommand, LoadStream>(child), mqtt }
}

/** `extraConfig`: further top-level config sections (e.g. `telemetry`) for the child. */
/** `cpuProfileDir`: a whole-process --cpu-prof of the child (start-up included); the mqtt cases instead profile their measured windows through the probe. */
export async function startGridgate (name: string, dataDir: string, persistence: boolean, openFiles: number, cpuProfileDir?: string, extraConfig: Record<string, unknown> = {}): Promise<Server> {
  const config = {
    dataDir,
    log: { level: 'info' },
    http: { host: '127.0.0.1', port: 0, keys: [BENCH_KEY] },
    ...extraConfig,
    // Merged, so extra mqtt settings (permissions) keep the listeners on free ports.
    mqtt: { host: '127.0.0.1', port: 0, wsPort: 0, tlsPort: 0, wssPort: 0, persistence, ...(extraConfig.mqtt as Record<string, unknown> | undefined) }
  }
  const file = join(dataDir, 'bench-config.yaml')
  await writeFile(file, JSON.stringify(config, null, 2) + '\n')
  const nodeArgs = [...PROBE_ARGS, ...profile(cpuProfileDir)]
  const child = await startChild(name, ['src/cli.ts', 'start', '--config', file], 30_000, { ipc: true, nodeArgs, openFiles })
  const { mqtt, http } = child.listeners
  if (mqtt === undefined || http === undefined) throw new Error(`${name} did not report its MQTT and HTTP listeners`)
  return { name, child, ipc: new IpcBase<LoadCommand, LoadStream>(child), mqtt, http }
}

/** Starts children side by side; if one fails, the others are stopped too. Warns of a low open-files limit. */
export async function startAll<T extends { child: Child }> (starts: Array<Promise<T>>, openFiles: number, warnings: string[]): Promise<T[]> {
  const settled = await Promise.allSettled(starts)
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed === undefined) {
    const started = settled.map((s) => (s as PromiseFulfilledResult<T>).value)
    for (const { child } of started) {
      const limit = openFilesLimit(child.pid)
      if (limit !== undefined && limit < openFiles) {
        const text = `${child.name} runs with an open-files limit of ${limit} (wanted ${openFiles}: raising it failed), so some connections may fail`
        progress.line(`  warning: ${text}`)
        if (!warnings.includes(text)) warnings.push(text)
      }
    }
    return started
  }
  for (const s of settled) if (s.status === 'fulfilled') await s.value.child.stop()
  throw failed.reason
}

// ---------------------------------------------------------------- gridgate over HTTP

export const deviceIds = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(5, '0')}`)

/**
 * PUT /devices/{id} for every id on every server (side by side, `REGISTER_CONCURRENCY` at a
 * time on each); returns each server's [id, password] pairs.
 */
export async function registerDevices (servers: readonly Server[], ids: readonly string[]): Promise<Device[][]> {
  const done = servers.map(() => [] as Device[])
  const t0 = performance.now()
  const count = (): number => done.reduce((n, d) => n + d.length, 0)
  const ticker = setInterval(() => progress.write(` ${count()}`), 1000)
  progress.write(`  registering ${ids.length} devices on ${servers.map((s) => s.name).join(' and ')} (${REGISTER_CONCURRENCY} at a time on each) |`)
  try {
    await Promise.all(servers.map(async (server, k) => {
      const out = done[k] as Device[]
      const pool = new Pool(server.http as string, { connections: REGISTER_CONCURRENCY })
      let next = 0
      try {
        await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, async () => {
          while (next < ids.length) {
            const id = ids[next++] as string
            const res = await pool.request({ path: `/devices/${id}`, method: 'PUT', headers: auth })
            const text = await res.body.text()
            if (res.statusCode !== 201) throw new Error(`${server.name}: PUT /devices/${id}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
            out.push([id, (JSON.parse(text) as { password: string }).password])
          }
        }))
      } finally {
        await pool.close()
      }
    }))
  } finally {
    clearInterval(ticker)
  }
  const sec = (performance.now() - t0) / 1000
  progress.line(` => ${count()} in ${sec.toFixed(1)} s (${compact(count() / sec)}/s)`)
  return done
}

export async function getJson (url: string, path: string): Promise<string> {
  const res = await request(`${url}${path}`, { headers: auth })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
  return text
}

export const topicEvents = async (url: string): Promise<number> => (JSON.parse(await getJson(url, `/topics/${TELEMETRY}`)) as { events: number }).events

interface BatchCounters {
  batches: number
  items: number
  writeSeconds: number
  /** Cumulative counts of the write-time histogram, one per bucket of WRITE_BUCKETS_MS. */
  writeBuckets: number[]
}

/** gridgate_log_batch_write_seconds' bucket bounds (ms), from src/observability/metrics.ts. */
const WRITE_BUCKETS_MS = [0.5, 1, 2, 5, 10, 20, 50, 100, 250, 1000]

const zeroCounters = (): BatchCounters => ({ batches: 0, items: 0, writeSeconds: 0, writeBuckets: WRITE_BUCKETS_MS.map(() => 0) })

function addDifference (total: BatchCounters, after: BatchCounters, before: BatchCounters): void {
  total.batches += after.batches - before.batches
  total.items += after.items - before.items
  total.writeSeconds += after.writeSeconds - before.writeSeconds
  total.writeBuckets = total.writeBuckets.map((n, i) => n + (after.writeBuckets[i] ?? 0) - (before.writeBuckets[i] ?? 0))
}

/** The bucket bound (ms) that at least `share` of the writes stay within ('> 1000' past the last). */
function writeBound (c: BatchCounters, share: number): string {
  const i = c.writeBuckets.findIndex((n) => n >= c.batches * share)
  return i === -1 ? `> ${WRITE_BUCKETS_MS.at(-1) ?? '?'}` : `≤ ${WRITE_BUCKETS_MS[i] ?? '?'}`
}

async function batchCounters (url: string, metricsText?: string): Promise<BatchCounters> {
  const text = metricsText ?? await getJson(url, '/metrics')
  return {
    batches: metricSum(text, 'gridgate_log_batch_items_count'),
    items: metricSum(text, 'gridgate_log_batch_items_sum'),
    writeSeconds: metricSum(text, 'gridgate_log_batch_write_seconds_sum'),
    writeBuckets: WRITE_BUCKETS_MS.map((ms) => metricSum(text, 'gridgate_log_batch_write_seconds_bucket', `le="${ms / 1000}"`))
  }
}

/** gridgate_event_loop_delay_seconds of one loop, by quantile (ms), from a scrape (the gauge resets at each). */
function loopDelay (text: string, loop = 'ingest'): Record<string, number> {
  const out: Record<string, number> = {}
  for (const q of ['0.5', '0.99', '0.999', '1']) out[q] = metricSum(text, 'gridgate_event_loop_delay_seconds', `loop="${loop}",quantile="${q}"`) * 1000
  return out
}

// ---------------------------------------------------------------- connections

interface Connection {
  server: Server
  group: string
  devices: Device[]
}

/** Connects each list of devices as a load-generator group, side by side, printing progress; throws if any fails. */
export async function connectGroups (load: Ipc, conns: readonly Connection[], rate: number, quiet = false, concurrency = CONNECT_CONCURRENCY): Promise<ConnectResult[]> {
  const total = conns.reduce((n, c) => n + c.devices.length, 0)
  const counts = new Map<string, number>()
  const say = (text: string): void => { if (!quiet) progress.write(text) }
  say(`  connecting ${conns.map((c) => `${c.devices.length} devices to ${c.server.name}`).join(', ')} (≤ ${concurrency} pending, ≤ ${rate}/s each) |`)
  const off = load.onStream((m) => {
    if (m.stream !== 'connecting' || !conns.some((c) => c.group === m.group)) return
    counts.set(m.group, m.connected)
    // One figure a second (the first group's reports pace it).
    if (m.group === conns[0]?.group) say(` ${[...counts.values()].reduce((a, b) => a + b, 0)}`)
  })
  const t0 = performance.now()
  try {
    const results = await Promise.all(conns.map((c) => load.call<ConnectResult>({
      cmd: 'connect', group: c.group, url: c.server.mqtt, devices: c.devices, concurrency, rate, keepalive: KEEPALIVE_SECONDS
    }, Math.max(120_000, c.devices.length / rate * 4000))))
    const failed = results.reduce((n, r) => n + r.failed, 0)
    const first = results.find((r) => r.firstError !== undefined)?.firstError ?? ''
    say(` => ${total - failed} in ${((performance.now() - t0) / 1000).toFixed(1)} s${failed > 0 ? ` (${failed} FAILED: ${first})` : ''}\n`)
    if (failed > 0) throw new Error(`${failed} of ${total} devices could not connect: ${first}`)
    return results
  } finally {
    off()
  }
}

/**
 * Waits (at most `QUIESCE_MAX_MS`) until the servers are nearly idle, so background work one
 * left behind (LevelDB compaction after a fan-in round) does not land in the next round.
 */
async function quiesce (servers: readonly Server[]): Promise<number> {
  const t0 = performance.now()
  const cpu = async (): Promise<number> => (await Promise.all(servers.map((s) => processCpuSeconds(s.child.pid)))).reduce<number>((a, b) => a + (b ?? 0), 0)
  while (performance.now() - t0 < QUIESCE_MAX_MS) {
    const a = await cpu()
    await sleep(QUIESCE_SAMPLE_MS)
    if ((await cpu()) - a < QUIESCE_SAMPLE_MS / 1000 * QUIESCE_CPU) break
  }
  return (performance.now() - t0) / 1000
}

// ---------------------------------------------------------------- measured rounds

export type Load = { mode: 'window', inflight: number } | { mode: 'rate', rate: number }

export interface Target {
  server: Server
  group: string
  /** Closed-loop (throughput) rounds and their PUBACK latencies. */
  window: Round[]
  windowHistogram: Histogram
  /** Fixed-rate rounds, their latencies, and each round's p99. */
  paced: Round[]
  pacedHistogram: Histogram
  pacedP99: number[]
  /** gridgate only: group-commit counters over the measured windows of each kind. */
  windowBatches?: BatchCounters
  pacedBatches?: BatchCounters
  /** gridgate only: the ingest loop's delay (ms) by quantile over each paced round's window. */
  pacedLoopDelay?: Array<Record<string, number>>
  /** gridgate only, one per closed-loop round: its telemetry's backlog and what catching up on it cost. */
  catchUp?: CatchUp[]
}

/**
 * The telemetry worker reads the log behind ingest and may still be reading a round's events
 * when its window closes: `lagOpen` and `lagClose` events behind then (gridgate_telemetry_lag_events).
 * The round then waits (the other servers still paused) until it has read them all, and
 * `extraCpuSeconds` is the process's CPU meanwhile, the share of it for the backlog the window
 * added (lagClose − lagOpen of lagClose): CPU per message counts it with the window's.
 */
export interface CatchUp {
  lagOpen: number
  lagClose: number
  drainSeconds: number
  drainCpuSeconds: number
  extraCpuSeconds: number
}

const LAG_METRIC = 'gridgate_telemetry_lag_events'
const DRAIN_MAX_MS = 60_000

function cpuProbes (server: Server, load: { child: Child, ipc: Ipc }): CpuProbe[] {
  return [
    { name: 'server', read: () => processCpuSeconds(server.child.pid) },
    { name: 'server main', read: async () => await mainThreadCpuSeconds(server.child.pid) },
    { name: 'server loop', read: async () => (await server.ipc.probe()).loopActiveMs / 1000 },
    { name: 'server GC', read: async () => (await server.ipc.probe()).gcMs / 1000 },
    { name: 'server wait', read: async () => await mainThreadWaitSeconds(server.child.pid) },
    { name: 'client', read: () => processCpuSeconds(load.child.pid) },
    { name: 'client loop', read: async () => (await load.ipc.call<{ loopActiveMs: number }>({ cmd: 'loop' })).loopActiveMs / 1000 },
    { name: 'client GC', read: async () => (await load.ipc.call<{ gcMs: number }>({ cmd: 'loop' })).gcMs / 1000 },
    { name: 'client wait', read: async () => await mainThreadWaitSeconds(load.child.pid) },
    { name: 'bench', read: ownCpuSeconds }
  ]
}

export interface Phase {
  opts: MqttIngestOptions
  load: { child: Child, ipc: Ipc }
  /** Every server child of the phase (all must be quiet before a round). */
  servers: Server[]
  /** Seconds spent waiting for quiet servers before rounds. */
  quiesceSeconds: number
  /**
   * Pauses the servers not measured for each round (SIGSTOP, then SIGCONT). Not for a
   * cluster's nodes, which must keep renewing their leases.
   */
  pauseOthers?: boolean
}

let profiles = 0

/** One round of `how` against `target`; a pre-warm round is not recorded. */
export async function round (phase: Phase, target: Target, how: Load, prewarm = false): Promise<Round> {
  phase.quiesceSeconds += await quiesce(phase.servers)
  // The servers not measured sleep through the round, so that background work one of them
  // does at its own pace (a telemetry snapshot every 10 s, a LevelDB compaction) does not
  // share the 2 cores with the one measured: an idle gateway's snapshot took most of a core
  // for half a second, in another server's round. Their clients' keepalive (300 s) outlasts it.
  const paused = phase.pauseOthers === true ? phase.servers.filter((s) => s !== target.server) : []
  for (const s of paused) process.kill(s.child.pid, 'SIGSTOP')
  try {
    return await measure(phase, target, how, prewarm)
  } finally {
    for (const s of paused) process.kill(s.child.pid, 'SIGCONT')
  }
}

async function measure (phase: Phase, target: Target, how: Load, prewarm: boolean): Promise<Round> {
  const { opts, load } = phase
  const histogram = latencyHistogram()
  const http = target.server.http
  let before: BatchCounters | undefined
  const total = how.mode === 'window' ? target.windowBatches : target.pacedBatches
  const profileDir = prewarm ? undefined : opts.cpuProfileDir
  const counted = !(http === undefined || total === undefined || prewarm)
  let lagOpen = 0
  let lagClose = 0
  const onWindow = !counted && profileDir === undefined
    ? undefined
    : async (open: boolean): Promise<void> => {
      if (profileDir !== undefined) {
        const file = join(profileDir, `${target.server.name.replace(/[^a-z0-9]+/gi, '-')}.${how.mode}.${++profiles}.cpuprofile`)
        await target.server.ipc.profile(open ? 'start' : 'stop', file)
      }
      if (!counted || http === undefined || total === undefined) return
      // One scrape for both: scraping resets the delay gauge, so the one at the window's end covers the window.
      const text = await getJson(http, '/metrics')
      const now = await batchCounters(http, text)
      const delay = loopDelay(text)
      if (open) lagOpen = metricSum(text, LAG_METRIC)
      else lagClose = metricSum(text, LAG_METRIC)
      if (open) { before = now; return }
      if (before === undefined) return
      addDifference(total, now, before)
      if (how.mode === 'rate') target.pacedLoopDelay?.push(delay)
    }
  try {
    const result = await timed({
      label: prewarm ? `${target.server.name} (pre-warm)` : target.server.name,
      warmupSeconds: prewarm ? 0 : opts.warmupSeconds,
      seconds: prewarm ? PREWARM_SECONDS : opts.seconds,
      histogram,
      cpu: cpuProbes(target.server, load),
      onWindow
    }, async (ctl) => {
      const off = load.ipc.onStream((m) => {
        if (m.stream === 'acks') {
          for (const ms of m.lat) ctl.done(1, ms)
        } else if (m.stream === 'errors') {
          for (let i = 0; i < m.count; i++) ctl.failed(m.first)
        }
      })
      let running = false
      try {
        await load.ipc.call(how.mode === 'window'
          ? { cmd: 'run', group: target.group, mode: 'window', inflight: how.inflight }
          : { cmd: 'run', group: target.group, mode: 'rate', rate: how.rate })
        running = true
        while (!ctl.stopped) {
          await sleep(20)
          const exit = target.server.child.exitStatus()
          if (exit !== undefined) throw new Error(`${target.server.name} exited (${exit}) during the measurement; its stderr: ${target.server.child.stderr()}`)
        }
        running = false
        const stopped = await load.ipc.call<StopResult>({ cmd: 'stop' }, 60_000)
        if (stopped.unacked > 0) ctl.failed(`${stopped.unacked} publishes still had no PUBACK 15 s after the round ended`)
      } finally {
        off()
        // After a failure the load generator must not keep publishing.
        if (running) await load.ipc.call({ cmd: 'stop' }, 30_000).catch(() => undefined)
      }
    })
    if (!prewarm) {
      if (how.mode === 'window') {
        target.window.push(result)
        target.windowHistogram.add(histogram)
      } else {
        target.paced.push(result)
        target.pacedP99.push(summarise(histogram).p99Ms)
        target.pacedHistogram.add(histogram)
      }
    }
    if (counted && how.mode === 'window' && http !== undefined) target.catchUp?.push(await catchUp(target.server, http, lagOpen, lagClose))
    return result
  } finally {
    histogram.destroy()
  }
}

/** Waits (at most DRAIN_MAX_MS) until the gateway's telemetry has read everything; what that cost. */
async function catchUp (server: Server, http: string, lagOpen: number, lagClose: number): Promise<CatchUp> {
  const t0 = performance.now()
  const cpu0 = await processCpuSeconds(server.child.pid) ?? 0
  let lag = lagClose
  while (lag > 0 && performance.now() - t0 < DRAIN_MAX_MS) {
    await sleep(100)
    lag = metricSum(await getJson(http, '/metrics'), LAG_METRIC)
  }
  if (lag > 0) throw new Error(`${server.name}: its telemetry was still ${lag} events behind ${DRAIN_MAX_MS / 1000} s after the round`)
  const drainCpuSeconds = (await processCpuSeconds(server.child.pid) ?? cpu0) - cpu0
  const added = Math.max(0, lagClose - lagOpen)
  return { lagOpen, lagClose, drainSeconds: (performance.now() - t0) / 1000, drainCpuSeconds, extraCpuSeconds: lagClose > 0 ? drainCpuSeconds * added / lagClose : 0 }
}

function batchStats (c: BatchCounters | undefined): SystemResult['batches'] {
  if (c === undefined || c.batches === 0) return undefined
  return { batches: c.batches, events: c.items, avgEventsPerBatch: c.items / c.batches, avgWriteMs: c.writeSeconds * 1000 / c.batches }
}

export function systemResult (name: string, description: string, latencyOf: string, rounds: Round[], histogram: Histogram, batches?: BatchCounters): SystemResult {
  const result: SystemResult = {
    name,
    description,
    ...combine(rounds),
    latency: summarise(histogram),
    latencyOf,
    rounds,
    cpuPercent: cpuAverage(rounds),
    loopUtilization: loopUtilization(rounds)
  }
  const b = batchStats(batches)
  if (b !== undefined) result.batches = b
  return result
}

export function newTarget (server: Server, group: string, gridgate: boolean): Target {
  const t: Target = { server, group, window: [], windowHistogram: latencyHistogram(), paced: [], pacedHistogram: latencyHistogram(), pacedP99: [] }
  if (gridgate) {
    t.windowBatches = zeroCounters()
    t.pacedBatches = zeroCounters()
    t.pacedLoopDelay = []
    t.catchUp = []
  }
  return t
}

export function ratioCase (id: string, title: string, baseline: SystemResult, gridgate: SystemResult, goal?: number): CaseResult {
  const roundRatios = gridgate.rounds.map((g, i) => g.eventsPerSecond / (baseline.rounds[i]?.eventsPerSecond ?? Number.NaN))
  const c: CaseResult = { id, title, baseline, gridgate, ratio: gridgate.eventsPerSecond / baseline.eventsPerSecond, roundRatios, medianRoundRatio: median(roundRatios) }
  if (goal !== undefined) c.goal = goal
  return c
}

/** 'met' when the figure and its median over rounds both satisfy `ok`, 'missed' when neither does. */
function outcome (values: readonly number[], ok: (v: number) => boolean): 'met' | 'missed' | 'borderline' {
  const n = values.filter(ok).length
  return n === values.length ? 'met' : n === 0 ? 'missed' : 'borderline'
}

const fmtMs = (n: number): string => n.toFixed(2)
const mib = (bytes: number): number => Math.round(bytes / 2 ** 20 * 10) / 10

// ---------------------------------------------------------------- throughput, latency, persistence

/**
 * CPU per PUBACKed message of the server process over fan-in rounds. `durable`: against durable
 * aedes (bench/bare-aedes.ts --durable), a figure without a goal. `catchUp` (gridgate's, one per
 * round): its telemetry's catch-up after each window, counted with the window's CPU, so that
 * work the worker had not done yet when a window closed is not left out of gridgate's figure.
 */
function cpuCase (bare: SystemResult, gg: SystemResult, devices: number, durable = false, catchUp: readonly CatchUp[] = []): CaseResult {
  const cpuSeconds = (r: Round): number => (r.cpuPercent.server ?? Number.NaN) / 100 * r.seconds
  const ggCpu = (r: Round, i: number): number => cpuSeconds(r) + (catchUp[i]?.extraCpuSeconds ?? 0)
  const us = (cpu: number, r: Round): number => cpu / r.events * 1e6
  const perRound = gg.rounds.map((g, i) => {
    const b = bare.rounds[i]
    return b === undefined ? Number.NaN : us(ggCpu(g, i), g) / us(cpuSeconds(b), b)
  })
  const total = (rs: readonly Round[], cpu: (r: Round, i: number) => number): number => rs.reduce((s, r, i) => s + cpu(r, i), 0) / rs.reduce((s, r) => s + r.events, 0) * 1e6
  const ggUs = total(gg.rounds, ggCpu)
  const ggWindowUs = total(gg.rounds, cpuSeconds)
  const bareUs = total(bare.rounds, cpuSeconds)
  const ratio = ggUs / bareUs
  const notes = [`Ratio = gridgate µs/msg / ${durable ? 'durable' : 'bare'} aedes µs/msg (lower is better): the server child's CPU time (all its threads: JS, LevelDB, GC) over the measured windows / PUBACKs in them.`]
  if (catchUp.length > 0) {
    const behind = catchUp.map((c, i) => `${c.lagClose} (${((gg.rounds[i]?.events ?? 0) > 0 ? c.lagClose / (gg.rounds[i]?.events as number) * 100 : 0).toFixed(0)} %)`).join(', ')
    notes.push(`gridgate's figure includes its telemetry's catch-up: the worker reads the log behind ingest, and when a window closed it had not read ${behind} of the window's events; each round then waited until it had (${catchUp.map((c) => c.drainSeconds.toFixed(1)).join(', ')} s) and counts the process's CPU meanwhile for the backlog the window added (${catchUp.map((c) => c.extraCpuSeconds.toFixed(2)).join(', ')} s). Over the windows alone: ${ggWindowUs.toFixed(1)} µs/msg, ${(ggWindowUs / bareUs).toFixed(2)}×.`)
  }
  const c: CaseResult = {
    id: `mqtt-cpu-per-message-${devices}${durable ? '-durable' : ''}`,
    title: `mqtt CPU per message, fan-in ${devices} devices${durable ? ', against durable aedes' : ''} (server process, all threads)`,
    baseline: bare,
    gridgate: gg,
    ratio,
    roundRatios: perRound,
    medianRoundRatio: median(perRound),
    compare: { what: 'server CPU per PUBACKed message', unit: 'µs/msg', gridgate: ggUs, baseline: bareUs, digits: 1 },
    notes
  }
  if (!durable) c.goalCheck = { text: `≤ ${CPU_PER_MESSAGE_GOAL}× bare aedes`, outcome: outcome([ratio, median(perRound)], (v) => v <= CPU_PER_MESSAGE_GOAL) }
  return c
}

async function trafficCases (opts: MqttIngestOptions, openFiles: number, warnings: string[]): Promise<CaseResult[]> {
  const dirs = [
    await makeTempDir(opts.baseDir, 'gridgate-bench-mqtt-'),
    await makeTempDir(opts.baseDir, 'gridgate-bench-mqtt-nopersist-'),
    await makeTempDir(opts.baseDir, 'gridgate-bench-mqtt-notelemetry-'),
    await makeTempDir(opts.baseDir, 'gridgate-bench-mqtt-durable-aedes-')
  ]
  const children: Child[] = []
  try {
    progress.line('  starting children: load generator, bare aedes, durable aedes, gridgate (defaults), gridgate (mqtt.persistence false), gridgate (telemetry.enabled false)')
    const [load] = await startAll([startLoadGenerator(openFiles, opts.cpuProfileDir)], openFiles, warnings)
    if (load === undefined) throw new Error('no load generator')
    children.push(load.child)
    const servers = await startAll([
      startBareAedes(openFiles),
      startGridgate('gridgate', dirs[0] as string, true, openFiles),
      startGridgate('gridgate, no persistence', dirs[1] as string, false, openFiles),
      startGridgate('gridgate, telemetry off', dirs[2] as string, true, openFiles, undefined, { telemetry: { enabled: false } }),
      startBareAedes(openFiles, dirs[3] as string)
    ], openFiles, warnings)
    children.push(...servers.map((s) => s.child))
    if (opts.cpuProfileDir !== undefined) {
      progress.line(`  CPU profiles of each measured window's server main thread go to ${opts.cpuProfileDir} ({server}.{window|rate}.{n}.cpuprofile); the load generator's whole run as CPU.*.${load.child.pid}.*.cpuprofile`)
    }
    const [bare, gg, ggnp, ggnt, dur] = servers as [Server, Server, Server, Server, Server]

    const small = Math.min(SMALL_FAN_IN_DEVICES, opts.devices)
    const [ggDevices, ggnpDevices, ggntDevices] = await registerDevices([gg, ggnp, ggnt], deviceIds('dev', opts.devices)) as [Device[], Device[], Device[]]
    const [ggSmall] = await registerDevices([gg], deviceIds('small', small)) as [Device[]]
    // The baseline gets the same CONNECT packets (its authenticate lets everyone in).
    await connectGroups(load.ipc, [
      { server: bare, group: 'bare', devices: ggDevices },
      { server: dur, group: 'dur', devices: ggDevices },
      { server: gg, group: 'gg', devices: ggDevices },
      { server: ggnp, group: 'ggnp', devices: ggnpDevices },
      { server: ggnt, group: 'ggnt', devices: ggntDevices },
      { server: bare, group: 'bare-small', devices: ggSmall },
      { server: gg, group: 'gg-small', devices: ggSmall }
    ], CONNECT_RATE)

    const tBare = newTarget(bare, 'bare', false)
    const tDur = newTarget(dur, 'dur', false)
    const tGg = newTarget(gg, 'gg', true)
    const tNp = newTarget(ggnp, 'ggnp', true)
    const tNt = newTarget(ggnt, 'ggnt', true)
    const tBareSmall = newTarget(bare, 'bare-small', false)
    const tGgSmall = newTarget(gg, 'gg-small', true)
    const phase: Phase = { opts, load, servers, quiesceSeconds: 0, pauseOthers: true }
    progress.line('  each round runs one server; the others are paused (SIGSTOP) until it ends')
    const window: Load = { mode: 'window', inflight: opts.inflight }
    const paced: Load = { mode: 'rate', rate: opts.rate }

    progress.line(`\n[mqtt] pre-warm (not recorded): ${compact(opts.rate)} publishes/s for ${PREWARM_SECONDS}s on each server`)
    for (const t of [tBare, tDur, tGg, tNp, tNt]) await round(phase, t, paced, true)

    // Latency first: after the fan-in, LevelDB compacts hundreds of MB in the gridgate
    // children for a while, which would then sit in every latency round.
    progress.line(`\n[mqtt latency] ${compact(opts.rate)} QoS 1 publishes/s in total over ${opts.devices} devices, ${opts.rounds} round(s) of ${opts.seconds}s`)
    const gcBefore = await gg.ipc.probe()
    const latencyFrom = Date.now()
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [tBare, tDur, tGg] : [tGg, tDur, tBare]) await round(phase, t, paced)
    }
    // GC pauses of gridgate's ingest thread over the latency rounds (warm-ups and the bare rounds between included).
    const gcAfter = await gg.ipc.probe()
    const gcPauses = { long: gcAfter.gcLongPauses - gcBefore.gcLongPauses, longMinor: gcAfter.gcLongMinorPauses - gcBefore.gcLongMinorPauses, ms: gcAfter.gcMs - gcBefore.gcMs, longest: Math.max(0, ...gcAfter.gcLong.filter(([at]) => at >= latencyFrom).map(([, ms]) => ms)), longestEver: gcAfter.gcMaxMs }

    progress.line(`\n[mqtt fan-in] ${opts.devices} devices × ${opts.inflight} QoS 1 publishes in flight, ${opts.rounds} round(s) of ${opts.seconds}s`)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      // gridgate sits between its baselines, so each pair is measured back to back.
      for (const t of r % 2 === 0 ? [tBare, tDur, tGg, tNp, tNt] : [tNt, tNp, tGg, tDur, tBare]) await round(phase, t, window)
    }
    progress.line(`\n[mqtt fan-in] ${small} devices × ${opts.inflight} QoS 1 publishes in flight, ${opts.rounds} round(s) of ${opts.seconds}s`)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [tBareSmall, tGgSmall] : [tGgSmall, tBareSmall]) await round(phase, t, window)
    }
    progress.line(`  waited ${phase.quiesceSeconds.toFixed(1)} s in total for quiet servers before rounds`)

    // Every PUBACK must stand for an event in the log (pre-warm and warm-up included).
    for (const [server, groups] of [[gg, ['gg', 'gg-small']], [ggnp, ['ggnp']], [ggnt, ['ggnt']]] as const) {
      let acked = 0
      let published = 0
      for (const group of groups) {
        const counts = await load.ipc.call<{ acked: number, published: number }>({ cmd: 'counts', group })
        acked += counts.acked
        published += counts.published
      }
      const stored = await topicEvents(server.http as string)
      if (stored < acked) {
        const text = `MISMATCH: ${server.name} acknowledged ${acked} QoS 1 publishes but topic '${TELEMETRY}' holds only ${stored} events (${acked - stored} acknowledged messages lost)`
        progress.line(`  !!!!!!!! ${text} !!!!!!!!`)
        warnings.push(text)
      } else {
        progress.line(`  check: ${server.name}: topic '${TELEMETRY}' holds ${stored} events for ${acked} PUBACKs (${published} published)`)
      }
    }

    const client = (n: number): string => `${n} mqtt.js clients (MQTT 3.1.1, TCP, clean session) in one load-generator child`
    const windowOf = `one QoS 1 publish → its PUBACK (load generator side), ${opts.inflight} in flight per device`
    const pacedOf = `one QoS 1 publish → its PUBACK (load generator side), paced at ${compact(opts.rate)}/s`
    const bareText = (n: number): string => `Aedes.createBroker(), in-memory persistence, allow-all authenticate; ${client(n)}`
    const ggText = (n: number, extra = 'mqtt.persistence true, storage.sync true, default telemetry'): string => `gridgate start, ${extra}; ${client(n)}`
    const bareWindow = systemResult('bare aedes (child)', bareText(opts.devices), windowOf, tBare.window, tBare.windowHistogram)
    const durText = `aedes as bare aedes, whose authorizePublish queues each payload and lets the PUBACK go once it is in ONE LevelDB record per group commit (sync: true, 64 MiB write buffer): the least a broker acknowledging only what is on disk can do; ${client(opts.devices)}`
    const durWindow = systemResult('durable aedes (child)', durText, windowOf, tDur.window, tDur.windowHistogram)
    const durPaced = systemResult('durable aedes (child)', durText, pacedOf, tDur.paced, tDur.pacedHistogram)
    const ggWindow = systemResult('gridgate (child)', ggText(opts.devices), windowOf, tGg.window, tGg.windowHistogram, tGg.windowBatches)
    const npWindow = systemResult('gridgate, mqtt.persistence false (child)', ggText(opts.devices, 'in-memory aedes persistence, storage.sync true'), windowOf, tNp.window, tNp.windowHistogram, tNp.windowBatches)
    const ntWindow = systemResult('gridgate, telemetry.enabled false (child)', ggText(opts.devices, 'mqtt.persistence true, storage.sync true, telemetry off'), windowOf, tNt.window, tNt.windowHistogram, tNt.windowBatches)
    const bareSmall = systemResult('bare aedes (child)', bareText(small), windowOf, tBareSmall.window, tBareSmall.windowHistogram)
    const ggSmallWindow = systemResult('gridgate (child)', ggText(small), windowOf, tGgSmall.window, tGgSmall.windowHistogram, tGgSmall.windowBatches)
    const barePaced = systemResult('bare aedes (child)', bareWindow.description, pacedOf, tBare.paced, tBare.pacedHistogram)
    const ggPaced = systemResult('gridgate (child)', ggWindow.description, pacedOf, tGg.paced, tGg.pacedHistogram, tGg.pacedBatches)
    for (const t of [tBare, tDur, tGg, tNp, tNt, tBareSmall, tGgSmall]) { t.windowHistogram.destroy(); t.pacedHistogram.destroy() }

    const serverSide = (c: BatchCounters | undefined): string => c === undefined || c.batches === 0
      ? 'n/a'
      : `${(c.items / c.batches).toFixed(1)} events per group-commit batch, ${(c.writeSeconds * 1000 / c.batches).toFixed(2)} ms per write on average, ` +
        `${((1 - (c.writeBuckets[WRITE_BUCKETS_MS.indexOf(5)] ?? 0) / c.batches) * 100).toFixed(1)}% of writes over 5 ms, ` +
        `p99 write ${writeBound(c, 0.99)} ms, slowest ${writeBound(c, 1)} ms (metric buckets)`
    const fanIn = ratioCase('mqtt-fan-in', `mqtt fan-in, ${opts.devices} devices × ${opts.inflight} in flight, QoS 1`, bareWindow, ggWindow, FAN_IN_GOAL)
    fanIn.notes = [
      `gridgate: ${serverSide(tGg.windowBatches)}. Figures are PUBACKs received per second; ` +
        `before each round the bench waited until all servers were nearly idle (${phase.quiesceSeconds.toFixed(1)} s in total over all cases).`
    ]
    const fanInSmall = ratioCase(`mqtt-fan-in-${small}`, `mqtt fan-in, ${small} devices × ${opts.inflight} in flight, QoS 1`, bareSmall, ggSmallWindow, FAN_IN_GOAL)
    fanInSmall.notes = [`gridgate: ${serverSide(tGgSmall.windowBatches)}.`]

    const loop = tGg.pacedLoopDelay ?? []
    const loopP99 = Math.max(...loop.map((d) => d['0.99'] ?? Number.NaN))
    const loopMax = Math.max(...loop.map((d) => d['1'] ?? Number.NaN))
    const pacedRatios = tGg.pacedP99.map((g, i) => g / (tBare.pacedP99[i] ?? Number.NaN))
    const p = ggPaced.latency
    const latencyOk = [p.p99Ms <= P99_MS_GOAL && p.maxMs <= MAX_MS_GOAL && loopP99 <= LOOP_P99_MS_GOAL]
    const latency: CaseResult = {
      id: 'mqtt-latency',
      title: `mqtt PUBACK latency at ${compact(opts.rate)} msg/s from ${opts.devices} devices, QoS 1`,
      baseline: barePaced,
      gridgate: ggPaced,
      ratio: p.p99Ms / barePaced.latency.p99Ms,
      roundRatios: pacedRatios,
      medianRoundRatio: median(pacedRatios),
      compare: { what: 'p99 publish → PUBACK', unit: 'ms p99', gridgate: p.p99Ms, baseline: barePaced.latency.p99Ms, digits: 2 },
      goalCheck: {
        text: `p99 ≤ ${P99_MS_GOAL} ms, max ≤ ${MAX_MS_GOAL} ms, ingest loop delay p99 ≤ ${LOOP_P99_MS_GOAL} ms`,
        outcome: latencyOk.every(Boolean) ? 'met' : 'missed'
      },
      notes: [
        `gridgate p50 ${fmtMs(p.p50Ms)}, p99 ${fmtMs(p.p99Ms)}, p99.9 ${fmtMs(p.p999Ms)}, max ${fmtMs(p.maxMs)} ms; ` +
          `bare aedes p50 ${fmtMs(barePaced.latency.p50Ms)}, p99 ${fmtMs(barePaced.latency.p99Ms)}, p99.9 ${fmtMs(barePaced.latency.p999Ms)}, max ${fmtMs(barePaced.latency.maxMs)} ms. ` +
          `p99 per round: gridgate ${tGg.pacedP99.map(fmtMs).join(', ')} ms; bare aedes ${tBare.pacedP99.map(fmtMs).join(', ')} ms. ` +
          `gridgate's ingest event-loop delay (gridgate_event_loop_delay_seconds, per measured window): p99 ${loop.map((d) => fmtMs(d['0.99'] ?? Number.NaN)).join(', ')} ms, ` +
          `max ${loop.map((d) => fmtMs(d['1'] ?? Number.NaN)).join(', ')} ms (worst p99 ${fmtMs(loopP99)}, worst max ${fmtMs(loopMax)}). ` +
          `Achieved rate: gridgate ${compact(ggPaced.eventsPerSecond)}/s, bare aedes ${compact(barePaced.eventsPerSecond)}/s. ` +
          `gridgate's ingest thread over the latency rounds: ${gcPauses.long} GC pause(s) of 10 ms or more (${gcPauses.longMinor} of them scavenges), the longest ${gcPauses.longest.toFixed(1)} ms, ${gcPauses.ms.toFixed(0)} ms of GC in all (its longest pause since start, connections included: ${gcPauses.longestEver.toFixed(1)} ms); every message that arrives during a pause waits it out. ` +
          `gridgate: ${serverSide(tGg.pacedBatches)}. ` +
          'Ratio = gridgate p99 / bare aedes p99 (lower is better; the goals are on gridgate\'s own figures).'
      ]
    }

    const durP = durPaced.latency
    const durRatios = tGg.pacedP99.map((g, i) => g / (tDur.pacedP99[i] ?? Number.NaN))
    const share = (r: SystemResult): string => `${((r.cpuPercent?.server ?? Number.NaN) / 100).toFixed(2)}`
    const latencyDurable: CaseResult = {
      id: 'mqtt-latency-durable',
      title: `mqtt PUBACK latency at ${compact(opts.rate)} msg/s from ${opts.devices} devices, QoS 1, against durable aedes`,
      baseline: durPaced,
      gridgate: ggPaced,
      ratio: p.p99Ms / durP.p99Ms,
      roundRatios: durRatios,
      medianRoundRatio: median(durRatios),
      compare: { what: 'p99 publish → PUBACK', unit: 'ms p99', gridgate: p.p99Ms, baseline: durP.p99Ms, digits: 2 },
      notes: [
        'The same rounds as the latency case, with durable aedes between gridgate and bare aedes: the floor of a broker that sends a PUBACK only once the message is fsynced. ' +
          `durable aedes p50 ${fmtMs(durP.p50Ms)}, p99 ${fmtMs(durP.p99Ms)}, p99.9 ${fmtMs(durP.p999Ms)}, max ${fmtMs(durP.maxMs)} ms; p99 per round ${tDur.pacedP99.map(fmtMs).join(', ')} ms. ` +
          `Each server process's CPU at this rate, all threads, in cores: gridgate ${share(ggPaced)}, durable aedes ${share(durPaced)}, bare aedes ${share(barePaced)}. ` +
          'Ratio = gridgate p99 / durable aedes p99 (lower is better).'
      ]
    }
    const fanInDurable = ratioCase('mqtt-fan-in-durable', `mqtt fan-in, ${opts.devices} devices × ${opts.inflight} in flight, QoS 1, against durable aedes`, durWindow, ggWindow)
    fanInDurable.notes = ['The same rounds as the fan-in case, with durable aedes next to bare aedes (the order alternates). Ratio = gridgate / durable aedes PUBACKs per second.']

    const persistence = ratioCase('mqtt-persistence', 'mqtt persistence cost (true vs false), fan-in', npWindow, ggWindow)
    persistence.notes = [
      'Baseline = gridgate with mqtt.persistence false (aedes in-memory sessions); ratio = gridgate with the default mqtt.persistence true / that; same gridgate rounds as the fan-in case. ' +
        `mqtt.persistence false: ${serverSide(tNp.windowBatches)}.`
    ]
    const telemetry = ratioCase('mqtt-telemetry-on-off', 'mqtt fan-in with telemetry on (default) vs off', ntWindow, ggWindow, TELEMETRY_ON_GOAL)
    telemetry.notes = ['Baseline = gridgate with telemetry.enabled false; ratio = gridgate with the default telemetry (rollups of every numeric field) / that; same rounds as the fan-in case.']
    const behind = (tGg.catchUp ?? []).map((c, i) => `${c.lagClose} of ${tGg.window[i]?.events ?? 0}`).join(', ')
    if (behind !== '') telemetry.notes.push(`Ingest does not wait for telemetry, so this ratio is ingest's: when each window closed, the worker had yet to read ${behind} of its events, and read them after it (its CPU for them is in the CPU per message case).`)
    return [fanIn, fanInSmall, cpuCase(bareWindow, ggWindow, opts.devices, false, tGg.catchUp), cpuCase(bareSmall, ggSmallWindow, small, false, tGgSmall.catchUp), latency,
      latencyDurable, fanInDurable, cpuCase(durWindow, ggWindow, opts.devices, true, tGg.catchUp), persistence, telemetry]
  } finally {
    for (const c of children.reverse()) await c.stop()
    for (const d of dirs) await removeTempDir(d)
  }
}

// ---------------------------------------------------------------- idle connections

/**
 * Connects `devices` to `server` and measures its memory; `quiet` prints the outcome only when
 * `say` is called. A small connect/disconnect cycle goes first, so one-time growth (compiled
 * code, heap and allocator sizing) is not charged to the connections. Then, `storms` times, all
 * of them drop at once and come back at once: the server's longest loop delay over each, in order.
 */
export async function idleSystem (load: { child: Child, ipc: Ipc }, server: Server, group: string, devices: Device[], quiet = false, storms = 1): Promise<{ result: SystemResult, say: () => void, dropMs: number[], reconnectMs: number[], reconnectSeconds: number[] }> {
  const warm = devices.slice(0, Math.min(IDLE_WARMUP_CONNECTIONS, Math.ceil(devices.length / 10)))
  await connectGroups(load.ipc, [{ server, group: `${group}-warm-up`, devices: warm }], IDLE_CONNECT_RATE, true)
  await load.ipc.call({ cmd: 'end', group: `${group}-warm-up` }, 120_000)
  await sleep(SETTLE_MS / 2)
  const before = await server.ipc.probe(true)
  const cpu0 = await processCpuSeconds(server.child.pid)
  const [r] = await connectGroups(load.ipc, [{ server, group, devices }], IDLE_CONNECT_RATE, quiet) as [ConnectResult]
  const cpu1 = await processCpuSeconds(server.child.pid)
  await sleep(SETTLE_MS)
  const after = await server.ipc.probe(true)
  const n = r.connected
  const kb = (after.rss - before.rss) / 1024 / n
  const heapKb = (after.heapUsed - before.heapUsed) / 1024 / n
  const outcome = `  ${server.name}: ${n} connections in ${r.seconds.toFixed(1)} s; RSS ${mib(before.rss)} → ${mib(after.rss)} MiB, heap ${mib(before.heapUsed)} → ${mib(after.heapUsed)} MiB: ` +
    `${kb.toFixed(1)} KB RSS (${heapKb.toFixed(1)} KB heap) per connection`
  if (!quiet) progress.line(outcome)
  const h = latencyHistogram()
  for (const ms of r.connectMs) h.recordValue(Math.max(1, Math.round(ms * 1000)))
  const latency = summarise(h)
  h.destroy()
  const cpuPercent: Record<string, number> = {}
  if (cpu0 !== undefined && cpu1 !== undefined) cpuPercent.server = Math.round((cpu1 - cpu0) / r.seconds * 1000) / 10
  const one: Round = { events: n, ops: n, seconds: r.seconds, eventsPerSecond: n / r.seconds, errors: r.failed, cpuPercent, eventLoop: { utilization: 0, activeMs: 0 } }
  const dropMs: number[] = []
  const reconnectMs: number[] = []
  const reconnectSeconds: number[] = []
  let connected = group
  for (let k = 0; k < storms; k++) {
    // Then every connection drops at once (sockets destroyed, no DISCONNECT), as when a network
    // path or a load balancer goes: the longest delay of the server's loop while it tears them down.
    await server.ipc.probe(false, true)
    await load.ipc.call({ cmd: 'drop', group: connected }, 120_000)
    await sleep(DROP_SETTLE_MS)
    dropMs.push((await server.ipc.probe()).loopDelayMaxMs)
    // And all of them come back at once (every CONNECT started together), as after that drop.
    await server.ipc.probe(false, true)
    connected = `${group}-again-${k}`
    const [again] = await connectGroups(load.ipc, [{ server, group: connected, devices }], Number.MAX_SAFE_INTEGER, true, devices.length) as [ConnectResult]
    reconnectMs.push((await server.ipc.probe()).loopDelayMaxMs)
    reconnectSeconds.push(again.seconds)
  }
  await load.ipc.call({ cmd: 'end', group: connected }, 120_000)
  const list = (values: number[], digits: number): string => values.map((v) => v.toFixed(digits)).join(', ')
  const dropSaid = `  ${server.name}: ${n} connections dropped at once (${storms}×): longest event-loop delay ${list(dropMs, 1)} ms; ` +
    `all back at once: ${list(reconnectMs, 1)} ms, connected in ${list(reconnectSeconds, 1)} s`
  if (!quiet) progress.line(dropSaid)
  const result: SystemResult = {
    name: server.name === 'bare aedes' ? 'bare aedes (child)' : 'gridgate (child)',
    description: `${n} idle mqtt.js connections (clean session, no traffic)`,
    ...combine([one]),
    latency,
    latencyOf: `CONNECT → CONNACK while connecting ${n} devices (≤ ${CONNECT_CONCURRENCY} pending, ≤ ${IDLE_CONNECT_RATE}/s)`,
    rounds: [one],
    cpuPercent,
    loopUtilization: 0,
    memory: {
      connections: n,
      rssBeforeMiB: mib(before.rss),
      rssAfterMiB: mib(after.rss),
      heapUsedBeforeMiB: mib(before.heapUsed),
      heapUsedAfterMiB: mib(after.heapUsed),
      kbPerConnection: Math.round(kb * 100) / 100,
      heapKbPerConnection: Math.round(heapKb * 100) / 100
    }
  }
  return { result, say: () => { progress.line(outcome); progress.line(dropSaid) }, dropMs, reconnectMs, reconnectSeconds }
}

const NO_LATENCY = { count: 0, meanMs: Number.NaN, p50Ms: Number.NaN, p90Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN }

/**
 * A case whose figure is each server's longest loop delay (ms) over a window of the idle case,
 * one per storm (round): the median of each side is compared, and each round's pair is a round ratio.
 */
export function loopDelayCase (c: { id: string, title: string, of: string, what: string, systems: [baseline: SystemResult, gridgate: SystemResult], ms: [baseline: number[], gridgate: number[]], note: string }): CaseResult {
  const [bareMs, ggMs] = c.ms
  const roundRatios = ggMs.map((g, i) => g / (bareMs[i] as number))
  const rounds = ggMs.length
  return {
    id: c.id,
    title: c.title,
    baseline: { ...c.systems[0], latency: NO_LATENCY, latencyOf: c.of },
    gridgate: { ...c.systems[1], latency: NO_LATENCY, latencyOf: c.of },
    ratio: median(ggMs) / median(bareMs),
    roundRatios,
    medianRoundRatio: median(roundRatios),
    compare: { what: c.what, unit: 'ms loop max', gridgate: median(ggMs), baseline: median(bareMs), digits: 1 },
    goalCheck: { text: `loop max ≤ ${DROP_LOOP_GOAL_MS} ms`, outcome: outcome(ggMs, (v) => v <= DROP_LOOP_GOAL_MS) },
    notes: [`${c.note} Figures: the median of ${rounds} storm(s) on each server; per storm, gridgate ${ggMs.map((v) => v.toFixed(1)).join(', ')} ms, bare aedes ${bareMs.map((v) => v.toFixed(1)).join(', ')} ms.`]
  }
}

async function idleCases (opts: MqttIngestOptions, openFiles: number, warnings: string[]): Promise<CaseResult[]> {
  const dir = await makeTempDir(opts.baseDir, 'gridgate-bench-mqtt-idle-')
  const children: Child[] = []
  try {
    progress.line(`\n[mqtt idle connections] ${opts.idle} devices, RSS of each server before and after (full GC first)`)
    progress.line('  starting children: load generator, bare aedes, gridgate')
    const started = await startAll<{ child: Child, ipc: Ipc }>([startLoadGenerator(openFiles), startBareAedes(openFiles), startGridgate('gridgate', dir, true, openFiles)], openFiles, warnings)
    children.push(...started.map((s) => s.child))
    const [load, bare, gg] = started as [{ child: Child, ipc: Ipc }, Server, Server]
    const ids = deviceIds('idle', opts.idle)
    // The baseline connects while gridgate registers (its RSS does not care), with passwords
    // of the same length as gridgate's (its authenticate lets everyone in).
    progress.line(`  bare aedes: connecting ${ids.length} devices (≤ ${CONNECT_CONCURRENCY} pending, ≤ ${IDLE_CONNECT_RATE}/s) while gridgate registers them`)
    const bareDevices = ids.map((id): Device => [id, randomBytes(32).toString('base64url')])
    const [bareIdle, registered] = await Promise.all([
      idleSystem(load, bare, 'idle-bare', bareDevices, true, STORMS),
      registerDevices([gg], ids)
    ])
    bareIdle.say()
    const ggIdle = await idleSystem(load, gg, 'idle-gg', registered[0] as Device[], false, STORMS)
    const baseline = bareIdle.result
    const gridgate = ggIdle.result
    const g = gridgate.memory?.kbPerConnection ?? Number.NaN
    const b = baseline.memory?.kbPerConnection ?? Number.NaN
    const drop = loopDelayCase({
      id: 'mqtt-drop',
      title: `mqtt mass disconnect, ${opts.idle} idle devices drop at once`,
      of: `the longest delay of the server's main event loop (1 ms resolution) in the ${DROP_SETTLE_MS / 1000} s after ${opts.idle} idle connections dropped at once`,
      what: 'longest event-loop delay while the connections are torn down',
      systems: [baseline, gridgate],
      ms: [bareIdle.dropMs, ggIdle.dropMs],
      note: `After the idle case's measurement, the load generator destroys all ${opts.idle} sockets of a server in one loop (no DISCONNECT, as a network drop); ` +
        `the server's probe reads its main loop's longest delay over the next ${DROP_SETTLE_MS / 1000} s; the devices then come back (the reconnect storm) and drop again, ${STORMS} times. Ratio = gridgate's median / bare aedes' (lower is better). ` +
        'gridgate paces the teardowns (src/core/turn-budget.ts, src/broker/broker.ts): a few milliseconds of them per turn of the loop, at most 16 under way; bare aedes tears each one down as its socket ends.'
    })
    const reconnect = loopDelayCase({
      id: 'mqtt-reconnect',
      title: `mqtt reconnect storm, ${opts.idle} devices connect at once`,
      of: `the longest delay of the server's main event loop (1 ms resolution) while ${opts.idle} devices connect at once, until the last CONNACK`,
      what: 'longest event-loop delay while the devices connect',
      systems: [baseline, gridgate],
      ms: [bareIdle.reconnectMs, ggIdle.reconnectMs],
      note: `After the mass disconnect, the load generator starts all ${opts.idle} devices' connections at once (their credentials known to the server, as when devices come back); ` +
        `the server's probe reads its main loop's longest delay until the last CONNACK: gridgate's were all in after ${ggIdle.reconnectSeconds.map((v) => v.toFixed(1)).join(', ')} s, bare aedes' after ${bareIdle.reconnectSeconds.map((v) => v.toFixed(1)).join(', ')} s. ` +
        `${STORMS} storms, each after a mass disconnect; ratio = gridgate's median / bare aedes' (lower is better). Unlike teardowns, gridgate does not pace new connections.`
    })
    return [drop, reconnect, {
      id: 'mqtt-idle',
      title: `mqtt idle connections, ${opts.idle}`,
      baseline,
      gridgate,
      ratio: g / b,
      roundRatios: [g / b],
      medianRoundRatio: g / b,
      compare: { what: 'RSS per idle connection', unit: 'KB/conn', gridgate: g, baseline: b, digits: 1 },
      goalCheck: { text: `≤ ${IDLE_KB_GOAL} KB/conn`, outcome: outcome([g], (v) => v <= IDLE_KB_GOAL) },
      notes: [
        `RSS after a full GC, before connecting and ${SETTLE_MS / 1000} s after the last CONNACK (both after an unmeasured cycle of ` +
          `${Math.min(IDLE_WARMUP_CONNECTIONS, Math.ceil(opts.idle / 10))} connections that connect and leave, so one-time growth is not counted): ` +
          `gridgate ${gridgate.memory?.rssBeforeMiB ?? '?'} → ${gridgate.memory?.rssAfterMiB ?? '?'} MiB (JS heap ${gridgate.memory?.heapKbPerConnection ?? '?'} KB/conn), ` +
          `bare aedes ${baseline.memory?.rssBeforeMiB ?? '?'} → ${baseline.memory?.rssAfterMiB ?? '?'} MiB (JS heap ${baseline.memory?.heapKbPerConnection ?? '?'} KB/conn). ` +
          'One round; ratio = gridgate / bare aedes KB per connection (lower is better). ' +
          'gridgate figures include what it does per connection (session, compiled permissions, a device.connected event, the registry\'s lastSeen write, the scrypt result cache).'
      ]
    }]
  } finally {
    for (const c of children.reverse()) await c.stop()
    await removeTempDir(dir)
  }
}

// ---------------------------------------------------------------- the part

export async function benchMqttIngest (opts: MqttIngestOptions): Promise<MqttIngestResult> {
  const warnings: string[] = []
  const biggest = Math.max(opts.devices * 3, opts.idle)
  const openFiles = biggest + 1024
  const limit = openFilesLimit()
  progress.line(`\n[mqtt ingest] open-files soft limit ${String(limit ?? 'unknown')}${limit !== undefined && limit < openFiles ? `, children get ulimit -n ${openFiles}` : ''}`)
  const cases = await trafficCases(opts, openFiles, warnings)
  if (opts.idle > 0) {
    const idle = await idleCases(opts, openFiles, warnings)
    cases.splice(2, 0, ...idle)
  }
  return { cases, warnings }
}
