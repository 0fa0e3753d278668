import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startChild, ROOT, type Child } from './children.js'
import {
  compact, makeTempDir, processCpuSeconds, progress, removeTempDir, sleep,
  type CaseResult, type LatencySummary, type Round, type SystemResult
} from './common.js'
import { BENCH_KEY } from './http-publish.js'
import { Ipc as IpcBase } from './ipc.js'
import type { Device, LoadCommand, LoadStream } from './mqtt-load.js'
import { idleSystem, registerDevices, startAll, startGridgate, startLoadGenerator, type Ipc, type Server } from './mqtt-ingest.js'

// `--only sim`: the device simulator (devices-sim/cli.ts, a child process) against gridgate
// children. (a) 1,000 devices at 5,000 msg/s QoS 1, a 5 s warm-up and 20 s measured, against
// gridgate with telemetry off and with its default telemetry; baseline = the same simulator
// and load against bare aedes (`--broker-only --subscribe`: one MQTT subscriber measures
// delivery where gridgate's pull subscription does).
// (b) 10,000 devices connected by the simulator: the gateway child's RSS before and with all
// connected; baseline = the mqtt part's idle-connection measurement of bare aedes.

const DEVICES = 1000
const RATE = 5000
/** Measured seconds of (a), after WARMUP_SECONDS of the same load that the latency figures leave out (devices-sim --warmup). */
const SECONDS = 20
const WARMUP_SECONDS = 5
const CONN_DEVICES = 10_000
const CONN_RAMP = 2000
const CONN_SECONDS = 8
const SIM_TIMEOUT_MS = 240_000
/** Seconds devices-sim waits for deliveries after its last publish (its default is 10; late ones count as lost). */
const DRAIN_SECONDS = 20
const PROBE_ARGS = ['--expose-gc', '--import', './bench/server-probe.ts']

export interface SimBenchOptions {
  baseDir: string
  warnings: string[]
}

/** What the simulator writes with --out (the fields the bench reads). */
interface SimLatency { count: number, p50: number, p90: number, p99: number, p999: number, max: number, mean: number }
interface SimJson {
  devices: number
  connected: number
  sent: number
  acked: number
  delivered: number
  lost: number
  duplicates: number
  msgPerSec: number
  deliveredPerSec: number
  publishSeconds: number
  latencyMs: SimLatency
  pubackLatencyMs: SimLatency | null
  errors: number
  errorDetails: { first: string[] }
  simulatorCpuCores: number
  warnings: string[]
}

const sims = new Set<ReturnType<typeof spawn>>()
process.on('exit', () => { for (const p of sims) { try { p.kill('SIGKILL') } catch { /* gone */ } } })

/**
 * Runs `node --import tsx devices-sim/cli.ts ARGS --out FILE`; `onLine` sees every stderr
 * line (its progress line once a second). Resolves with the parsed JSON and the exit code.
 */
async function runSimulator (args: string[], out: string, onLine: (line: string) => void = () => {}): Promise<{ result: SimJson, code: number, seconds: number }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GRIDGATE_')) env[k] = v
  const t0 = performance.now()
  const proc = spawn(process.execPath, ['--import', 'tsx', 'devices-sim/cli.ts', ...args, '--out', out], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] })
  sims.add(proc)
  let err = ''
  let partial = ''
  proc.stderr.on('data', (d: Buffer) => {
    const text = d.toString()
    err = (err + text).slice(-8192)
    const lines = (partial + text).split(/\r|\n/)
    partial = lines.pop() ?? ''
    for (const line of lines) if (line !== '') onLine(line)
  })
  const timer = setTimeout(() => proc.kill('SIGKILL'), SIM_TIMEOUT_MS)
  const code = await new Promise<number>((resolve) => proc.once('exit', (c, s) => resolve(c ?? (s === null ? -1 : 128))))
  clearTimeout(timer)
  sims.delete(proc)
  if (code !== 0 && code !== 1) throw new Error(`devices-sim exited with ${code}; stderr: ${err}`)
  const result = JSON.parse(await readFile(out, 'utf8')) as SimJson
  return { result, code, seconds: (performance.now() - t0) / 1000 }
}

const vmRssKiB = async (pid: number): Promise<number> => {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  if (m === null) throw new Error(`no VmRSS in /proc/${pid}/status`)
  return Number(m[1])
}

const toSummary = (l: SimLatency | null): LatencySummary => l === null
  ? { count: 0, meanMs: Number.NaN, p50Ms: Number.NaN, p90Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN }
  : { count: l.count, meanMs: l.mean, p50Ms: l.p50, p90Ms: l.p90, p99Ms: l.p99, p999Ms: l.p999, maxMs: l.max }

const f = (n: number): string => n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)

function simSystem (name: string, r: SimJson, latency: LatencySummary, latencyOf: string, serverCpuPercent: number | undefined): SystemResult {
  const cpuPercent: Record<string, number> = { client: Math.round(r.simulatorCpuCores * 1000) / 10 }
  if (serverCpuPercent !== undefined) cpuPercent.server = serverCpuPercent
  const one: Round = {
    events: r.delivered,
    ops: r.acked,
    seconds: r.publishSeconds,
    eventsPerSecond: r.deliveredPerSec,
    errors: r.errors,
    cpuPercent,
    eventLoop: { utilization: 0, activeMs: 0 }
  }
  if (r.errorDetails.first[0] !== undefined) one.firstError = r.errorDetails.first[0]
  return {
    name,
    description: `devices-sim (child, node --import tsx), ${r.devices} devices, ${RATE} msg/s QoS 1 for a ${WARMUP_SECONDS} s warm-up + ${SECONDS} s`,
    events: r.delivered,
    seconds: r.publishSeconds,
    eventsPerSecond: r.deliveredPerSec,
    opsPerSecond: r.msgPerSec,
    errors: r.errors,
    latency,
    latencyOf,
    rounds: [one],
    cpuPercent,
    loopUtilization: 0
  }
}

/** The part of the simulator's arguments every run of (a) shares: the load, the warm-up, the drain. */
const LOAD_ARGS = [
  '--devices', String(DEVICES), '--rate', String(RATE), '--duration', String(WARMUP_SECONDS + SECONDS), '--warmup', String(WARMUP_SECONDS),
  '--qos', '1', '--ramp', '2000', '--prefix', 'simb', '--drain', String(DRAIN_SECONDS)
]

/** One simulator run against `server` (a child); the child's CPU is measured over the publish phase. */
async function simulate (label: string, server: Child, args: string[], out: string): Promise<{ r: SimJson, serverCpu: number | undefined }> {
  progress.line(`  ${label}: devices-sim ${DEVICES} devices, ${compact(RATE)} msg/s QoS 1, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s`)
  let cpu0: { cpu: number, t: number } | undefined
  let cpu1: { cpu: number, t: number } | undefined
  const sample = (set: (v: { cpu: number, t: number }) => void): void => {
    const t = performance.now()
    void processCpuSeconds(server.pid).then((cpu) => { if (cpu !== undefined) set({ cpu, t }) })
  }
  let last = ''
  const { result: r } = await runSimulator([...args, ...LOAD_ARGS], out, (line) => {
    if (cpu0 === undefined && line.includes('publishing]')) sample((v) => { cpu0 = v })
    if (cpu1 === undefined && cpu0 !== undefined && line.includes('draining]')) sample((v) => { cpu1 = v })
    if (line.includes('publishing]') || line.includes('draining]')) {
      const text = line.replace(/^\[\s*/, '[')
      if (text !== last) progress.line(`    ${text}`)
      last = text
    } else if (line.startsWith('devices-sim:')) progress.line(`    ${line}`)
  })
  const serverCpu = cpu0 !== undefined && cpu1 !== undefined ? Math.round((cpu1.cpu - cpu0.cpu) / ((cpu1.t - cpu0.t) / 1000) * 1000) / 10 : undefined
  progress.line(`    => sent ${r.sent}, acked ${r.acked}, delivered ${r.delivered}, lost ${r.lost}, duplicates ${r.duplicates}; ${compact(r.msgPerSec)} msg/s published, ` +
    `${compact(r.deliveredPerSec)} delivered/s; after the warm-up: delivery p50/p99/max ${f(r.latencyMs.p50)}/${f(r.latencyMs.p99)}/${f(r.latencyMs.max)} ms, ` +
    `PUBACK p99 ${r.pubackLatencyMs === null ? 'n/a' : f(r.pubackLatencyMs.p99)} ms; simulator ${r.simulatorCpuCores} cores`)
  return { r, serverCpu }
}

/** A run of the load against a fresh gridgate child. */
async function gridgateRun (opts: SimBenchOptions, label: string, extraConfig: Record<string, unknown>, openFiles: number): Promise<{ r: SimJson, serverCpu: number | undefined }> {
  const dir = await makeTempDir(opts.baseDir, 'gridgate-bench-sim-')
  let gg: Server | undefined
  try {
    gg = await startGridgate(label, dir, true, openFiles, undefined, extraConfig)
    const run = await simulate(label, gg.child, ['--http', gg.http as string, '--mqtt', gg.mqtt, '--key', BENCH_KEY], join(dir, 'sim-result.json'))
    for (const w of run.r.warnings) opts.warnings.push(`sim, ${label}: ${w}`)
    return run
  } finally {
    await gg?.child.stop()
    await removeTempDir(dir)
  }
}

/**
 * The baseline of (a): the same simulator and load against a fresh bare aedes child, with
 * `--broker-only --subscribe` (anonymous devices; one MQTT subscriber on devices/+/telemetry
 * measures delivery, where against gridgate the pull subscription does).
 */
async function baselineRun (opts: SimBenchOptions, openFiles: number): Promise<{ r: SimJson, serverCpu: number | undefined }> {
  const dir = await makeTempDir(opts.baseDir, 'bare-bench-sim-')
  let bare: Child | undefined
  try {
    bare = await startChild('bare aedes', ['bench/bare-aedes.ts'], 30_000, { ipc: true, nodeArgs: PROBE_ARGS, openFiles })
    const run = await simulate('bare aedes', bare, ['--broker-only', '--subscribe', '--mqtt', bare.listeners.mqtt as string], join(dir, 'sim-result.json'))
    for (const w of run.r.warnings) opts.warnings.push(`sim, bare aedes: ${w}`)
    return run
  } finally {
    await bare?.stop()
    await removeTempDir(dir)
  }
}

async function connectionsCase (opts: SimBenchOptions, openFiles: number): Promise<CaseResult> {
  const dir = await makeTempDir(opts.baseDir, 'gridgate-bench-sim-conn-')
  const children: Child[] = []
  try {
    progress.line(`\n[sim connections] ${compact(CONN_DEVICES)} devices connected by devices-sim; gateway RSS (VmRSS after a full GC) before and with all connected`)
    const started = await startAll<{ child: Child, ipc: Ipc }>([startLoadGenerator(openFiles), startGridgate('gridgate', dir, true, openFiles)], openFiles, opts.warnings)
    children.push(...started.map((s) => s.child))
    const [load, gg] = started as [{ child: Child, ipc: Ipc }, Server]
    const bareChild = await startChild('bare aedes', ['bench/bare-aedes.ts'], 30_000, { ipc: true, nodeArgs: PROBE_ARGS, openFiles })
    children.push(bareChild)
    const bare: Server = { name: 'bare aedes', child: bareChild, ipc: new IpcBase<LoadCommand, LoadStream>(bareChild), mqtt: bareChild.listeners.mqtt as string }
    const ids = Array.from({ length: CONN_DEVICES }, (_, i) => `simc-${i + 1}`)
    // The devices file is written once by the bench's registration, so the simulator only
    // checks them (PUT answers 200) instead of hashing 10,000 passwords itself.
    progress.line(`  bare aedes: connecting ${ids.length} devices (mqtt part's idle-connection code) while gridgate registers them`)
    const bareDevices = ids.map((id): Device => [id, randomBytes(32).toString('base64url')])
    const [bareIdle, registered] = await Promise.all([
      idleSystem(load, bare, 'conn-bare', bareDevices, true),
      registerDevices([gg], ids)
    ])
    bareIdle.say()
    await bareChild.stop()
    await load.child.stop()
    const http = gg.http as string
    const devicesFile = join(dir, 'sim-devices.json')
    await writeFile(devicesFile, JSON.stringify({ gateway: new URL(http).href.replace(/\/+$/, ''), devices: Object.fromEntries(registered[0] ?? []) }) + '\n', { mode: 0o600 })

    await sleep(1000)
    await gg.ipc.probe(true)
    const before = await vmRssKiB(gg.child.pid)
    let after: number | undefined
    let peak = before
    let measuring: Promise<void> | undefined
    const sampler = setInterval(() => { void vmRssKiB(gg.child.pid).then((kb) => { peak = Math.max(peak, kb) }, () => {}) }, 250)
    const cpu0 = await processCpuSeconds(gg.child.pid)
    let connectedAt: number | undefined
    const t0 = performance.now()
    let r: SimJson
    try {
      const run = await runSimulator([
        '--http', http, '--mqtt', gg.mqtt, '--key', BENCH_KEY, '--devices', String(CONN_DEVICES), '--rate', '1', '--duration', String(CONN_SECONDS),
        '--ramp', String(CONN_RAMP), '--prefix', 'simc', '--devices-file', devicesFile, '--drain', '2'
      ], join(dir, 'sim-conn.json'), (line) => {
        if (line.startsWith('devices-sim:')) progress.line(`    ${line}`)
        if (measuring === undefined && line.includes('publishing]')) {
          connectedAt = performance.now()
          progress.line(`    ${line.replace(/^\[\s*/, '[')}`)
          measuring = (async () => {
            await sleep(1500)
            await gg.ipc.probe(true)
            after = await vmRssKiB(gg.child.pid)
          })()
        }
      })
      r = run.result
      await measuring
    } finally {
      clearInterval(sampler)
    }
    const cpu1 = await processCpuSeconds(gg.child.pid)
    if (after === undefined) throw new Error('devices-sim never reached its publish phase, so the RSS with all devices connected was not measured')
    const n = r.connected
    const kb = (after - before) / n
    const connectSeconds = ((connectedAt ?? performance.now()) - t0) / 1000
    progress.line(`  gridgate: ${n} of ${CONN_DEVICES} connected (simulator run ${connectSeconds.toFixed(1)} s to the publish phase, registration check included); VmRSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB (peak ${(peak / 1024).toFixed(1)}): ${kb.toFixed(1)} KB per device`)
    for (const w of r.warnings) opts.warnings.push(`sim connections: ${w}`)

    const cpuPercent: Record<string, number> = {}
    if (cpu0 !== undefined && cpu1 !== undefined) cpuPercent.server = Math.round((cpu1 - cpu0) / ((performance.now() - t0) / 1000) * 1000) / 10
    const one: Round = { events: n, ops: n, seconds: connectSeconds, eventsPerSecond: n / connectSeconds, errors: r.errors, cpuPercent, eventLoop: { utilization: 0, activeMs: 0 } }
    if (r.errorDetails.first[0] !== undefined) one.firstError = r.errorDetails.first[0]
    const gridgate: SystemResult = {
      name: 'gridgate (child)',
      description: `${n} devices connected by devices-sim (--ramp ${CONN_RAMP}, --rate 1, --duration ${CONN_SECONDS})`,
      events: n,
      seconds: connectSeconds,
      eventsPerSecond: n / connectSeconds,
      opsPerSecond: n / connectSeconds,
      errors: r.errors,
      latency: { count: 0, meanMs: Number.NaN, p50Ms: Number.NaN, p90Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN },
      latencyOf: 'connections per second = devices / (simulator start → its publish phase: the registration check over HTTP and the connect ramp); no latencies',
      rounds: [one],
      cpuPercent,
      loopUtilization: 0,
      memory: {
        connections: n,
        rssBeforeMiB: Math.round(before / 1024 * 10) / 10,
        rssAfterMiB: Math.round(after / 1024 * 10) / 10,
        heapUsedBeforeMiB: Number.NaN,
        heapUsedAfterMiB: Number.NaN,
        kbPerConnection: Math.round(kb * 100) / 100,
        heapKbPerConnection: Number.NaN
      }
    }
    const baseline = bareIdle.result
    const b = baseline.memory?.kbPerConnection ?? Number.NaN
    return {
      id: 'sim-connections',
      title: `sim connections, ${compact(CONN_DEVICES)} devices`,
      baseline,
      gridgate,
      ratio: kb / b,
      roundRatios: [kb / b],
      medianRoundRatio: kb / b,
      compare: { what: 'RSS per connected device', unit: 'KB/conn', gridgate: kb, baseline: b, digits: 1 },
      notes: [
        `gridgate (default config): VmRSS from /proc/<pid>/status after a full GC (server probe), after registering the ${CONN_DEVICES} devices over HTTP and before devices-sim started, ` +
          `then 1.5 s after devices-sim entered its publish phase with ${n} devices connected: ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MiB, peak ${(peak / 1024).toFixed(1)} MiB (sampled every 250 ms, no GC). ` +
          'The devices file is written by the bench from its own registration, so devices-sim only re-checks the devices (PUT answers 200) and does not hash passwords. ' +
          'Every first connect runs scrypt in the gateway, so the connect phase is bound by the gateway\'s CPU rather than --ramp. ' +
          `Baseline: bare aedes with the mqtt part's idle-connection code (load generator, ≤ 1000/s, RSS after a full GC, after a ${Math.min(500, CONN_DEVICES / 10)}-connection warm-up cycle): ` +
          `${baseline.memory?.rssBeforeMiB ?? '?'} → ${baseline.memory?.rssAfterMiB ?? '?'} MiB. gridgate got no warm-up cycle, so one-time growth is charged to its devices. Ratio = gridgate / bare aedes KB per device (lower is better). ` +
          `devices-sim: sent ${r.sent}, acked ${r.acked}, delivered ${r.delivered}, lost ${r.lost}, errors ${r.errors}.`
      ]
    }
  } finally {
    for (const c of children.reverse()) await c.stop()
    await removeTempDir(dir)
  }
}

export async function benchSim (opts: SimBenchOptions): Promise<CaseResult[]> {
  // One socket per device in each process (the bench's own limit is often 20,000).
  const openFiles = CONN_DEVICES + 4096
  progress.line(`\n[sim] devices-sim: ${DEVICES} devices at ${compact(RATE)} msg/s QoS 1, ${WARMUP_SECONDS} s warm-up + ${SECONDS} s, against gridgate (telemetry off, then default) and against bare aedes (--broker-only --subscribe)`)
  const off = await gridgateRun(opts, 'gridgate, telemetry off', { telemetry: { enabled: false } }, openFiles)
  const on = await gridgateRun(opts, 'gridgate, default telemetry', {}, openFiles)
  const bareRun = await baselineRun(opts, openFiles)

  const cases: CaseResult[] = []
  const deliveryOf = 'publish (sentAt in the payload) → delivery to devices-sim\'s pull subscription, messages sent after the warm-up; events/s = delivered/s, ops/s = published/s'
  const pubackOf = 'publish → PUBACK as devices-sim measures it, messages sent after the warm-up'
  const bare = simSystem('bare aedes (child)', bareRun.r, toSummary(bareRun.r.latencyMs),
    'publish → delivery to one MQTT subscriber on devices/+/telemetry (devices-sim --broker-only --subscribe), messages sent after the warm-up', bareRun.serverCpu)
  const barePuback = toSummary(bareRun.r.pubackLatencyMs)
  for (const [run, label, id] of [[off, 'telemetry off', 'off'], [on, 'default telemetry', 'default']] as const) {
    const { r, serverCpu } = run
    const gg = simSystem(`gridgate, ${label} (child)`, r, toSummary(r.latencyMs), deliveryOf, serverCpu)
    const ratio = r.deliveredPerSec / bare.eventsPerSecond
    const pub = toSummary(r.pubackLatencyMs)
    const pubRatio = pub.p99Ms / barePuback.p99Ms
    cases.push({
      id: `sim-${id}`,
      title: `sim ${compact(DEVICES)} devices, ${compact(RATE)} msg/s QoS 1, ${label}`,
      baseline: bare,
      gridgate: gg,
      ratio,
      roundRatios: [ratio],
      medianRoundRatio: ratio,
      notes: [
        `devices-sim: sent ${r.sent}, acked ${r.acked}, delivered ${r.delivered}, lost ${r.lost}, duplicates ${r.duplicates}, errors ${r.errors}; ` +
          `${f(r.msgPerSec)} msg/s published, ${f(r.deliveredPerSec)} delivered/s; after the ${WARMUP_SECONDS} s warm-up: publish → delivery p50/p99/max ${f(r.latencyMs.p50)}/${f(r.latencyMs.p99)}/${f(r.latencyMs.max)} ms ` +
          `(bare aedes to an MQTT subscriber ${f(bare.latency.p50Ms)}/${f(bare.latency.p99Ms)}/${f(bare.latency.maxMs)} ms), ` +
          `publish → PUBACK p50/p99/max ${f(pub.p50Ms)}/${f(pub.p99Ms)}/${f(pub.maxMs)} ms (bare aedes ${f(barePuback.p50Ms)}/${f(barePuback.p99Ms)}/${f(barePuback.maxMs)} ms; PUBACK p99 ratio ${pubRatio.toFixed(2)}); ` +
          `simulator CPU ${r.simulatorCpuCores} cores (against bare aedes ${bareRun.r.simulatorCpuCores}), server ${serverCpu === undefined ? '?' : `${serverCpu.toFixed(0)}%`} of a core over the publish phase ` +
          `(bare aedes ${bareRun.serverCpu === undefined ? '?' : `${bareRun.serverCpu.toFixed(0)}%`}). ` +
          `Ratio = gridgate delivered/s ÷ bare aedes delivered/s (${f(bare.eventsPerSecond)}/s): the same simulator and load, against bare aedes with --broker-only --subscribe (one MQTT subscriber measures delivery, where against gridgate its pull subscription does). ` +
          `lost = not delivered within --drain ${DRAIN_SECONDS} s after the last publish. Both servers are fresh children (no pre-warm: the first ${WARMUP_SECONDS} s are the warm-up); the simulator shares the machine's cores with them.`
      ]
    })
    cases.push({
      id: `sim-${id}-puback`,
      title: `sim PUBACK p99, ${label}`,
      baseline: { ...bare, latency: barePuback, latencyOf: pubackOf },
      gridgate: { ...gg, latency: pub, latencyOf: pubackOf },
      ratio: pubRatio,
      roundRatios: [pubRatio],
      medianRoundRatio: pubRatio,
      compare: { what: 'p99 publish → PUBACK', unit: 'ms p99', gridgate: pub.p99Ms, baseline: barePuback.p99Ms, digits: 2 },
      notes: [`Ratio = devices-sim's PUBACK p99 against gridgate / its PUBACK p99 against bare aedes at the same rate (lower is better), messages sent after the ${WARMUP_SECONDS} s warm-up.`]
    })
  }
  cases.push(await connectionsCase(opts, openFiles))
  return cases
}
