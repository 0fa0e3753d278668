import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, realpath, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { benchHttpPublish } from './http-publish.js'
import { benchLogAppend } from './log-append.js'
import { benchDedupe } from './dedupe.js'
import { runCommandsBench } from './commands.js'
import { runDeliveryBench } from './delivery.js'
import { benchCluster } from './cluster-fanin.js'
import { benchClusterDelivery, CLUSTER_DELIVERY_CASES, type ClusterDeliveryCase } from './cluster-delivery.js'
import { benchMqttIngest } from './mqtt-ingest.js'
import { benchSim } from './sim.js'
import { benchTelemetryIngest } from './telemetry-ingest.js'
import { benchTwinsAsOf } from './twins-asof.js'
import { benchTwinsIngest } from './twins-ingest.js'
import { benchTelemetryQuery } from './telemetry-query.js'
import { benchTelemetryWindows } from './telemetry-windows.js'
import { killAllChildrenSync, ROOT } from './children.js'
import { progress, removeTempDirsSync, type CaseResult } from './common.js'
import { renderMarkdown, type Machine, type Results, type Settings } from './report.js'

// `npm run bench`: log append, HTTP publish and MQTT ingest, each against a baseline
// measured in the same run. Progress on stderr, the Markdown table on stdout, files in bench/results/.

const USAGE = `Usage: npm run bench -- [options]

  --seconds N       measured seconds per round and system (default 3)
  --warmup N        warm-up seconds before each measurement (default 1)
  --rounds N        rounds per case; each runs baseline and gridgate, order alternating (default 4)
  --only log|http|mqtt|delivery|commands|telemetry|twins|sim|cluster|cluster-delivery  run one part only
                    (sim: devices-sim at 1,000 devices × 5,000 msg/s and 10,000 connections, ~4 min;
                    cluster: the fan-in and the delivery cases, cluster-delivery: the delivery cases only)
  --cluster-cases L the cluster delivery cases to run, comma-separated: publish,pull,push,takeover (default all)
  --callers N       concurrent log.append callers (default 64)
  --connections N   HTTP keep-alive connections (default 16)
  --inflight N      HTTP requests in flight (default 32)
  --http-batch N    events per publish request (default 100)
  --mqtt-devices N  simulated MQTT devices for fan-in and latency, and telemetry's ingest case (default 1000)
  --mqtt-inflight N QoS 1 publishes in flight per device in the fan-in cases (default 10)
  --mqtt-rate N     publishes/s in total in the latency case (default 5000)
  --mqtt-idle N     idle connections in the memory, mass-disconnect and reconnect-storm cases, 0 to skip them (default 5000)
  --mqtt-cpu-prof DIR  write CPU profiles of each measured mqtt window (server main thread) and of telemetry's gridgate children to DIR
                    (and of the gridgate nodes in each measured cluster pull and push window)
  --dir DIR         where temp databases go (default: the OS temp dir)
`

const LOG_BATCH_EVENTS = 64

function positive (name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not '${value}'`)
  return n
}

function clusterCases (value: string | undefined): ClusterDeliveryCase[] | undefined {
  if (value === undefined) return undefined
  const list = value.split(',').map((c) => c.trim())
  for (const c of list) if (!(CLUSTER_DELIVERY_CASES as readonly string[]).includes(c)) throw new Error(`--cluster-cases takes ${CLUSTER_DELIVERY_CASES.join(', ')}, not '${c}'`)
  return list as ClusterDeliveryCase[]
}

function packageVersion (name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}

/** The filesystem holding `dir`, from /proc/mounts (Linux); 'unknown' elsewhere. */
function filesystemOf (dir: string): string {
  try {
    let best: { point: string, text: string } | undefined
    for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, point, type] = line.split(' ')
      if (device === undefined || point === undefined || type === undefined) continue
      const inside = dir === point || dir.startsWith(point.endsWith('/') ? point : point + '/')
      if (inside && (best === undefined || point.length > best.point.length)) best = { point, text: `${type} on ${device}, mounted at ${point}` }
    }
    return best?.text ?? 'unknown'
  } catch {
    return 'unknown'
  }
}

/** The commit measured; with a `+` when tracked files differ from it (the run measured changes not committed yet). */
function commit (): string | undefined {
  try {
    const git = (...args: string[]): string => execFileSync('git', args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') === '' ? '' : '+')
  } catch {
    return undefined
  }
}

async function machine (tempDir: string): Promise<Machine> {
  const cpus = os.cpus()
  const m: Machine = {
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    versions: {
      level: packageVersion('level'),
      'classic-level': packageVersion('classic-level'),
      fastify: packageVersion('fastify'),
      undici: packageVersion('undici'),
      aedes: packageVersion('aedes'),
      mqtt: packageVersion('mqtt'),
      'hdr-histogram-js': packageVersion('hdr-histogram-js')
    },
    tempDir,
    tempFs: filesystemOf(tempDir),
    loadAverage: { start: os.loadavg()[0] ?? 0 }
  }
  const c = commit()
  if (c !== undefined) m.commit = c
  return m
}

/** A hash of every file under src/: src is edited by others, and a run must not mix versions. */
async function sourceFingerprint (): Promise<string | undefined> {
  const dir = join(ROOT, 'src')
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => undefined)
  if (entries === undefined) return undefined
  const files = entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort()
  const hash = createHash('sha256')
  for (const f of files) {
    hash.update(f)
    // A file may vanish between listing and reading while someone edits src/.
    hash.update(await readFile(f).catch(() => Buffer.from('\0missing')))
  }
  return hash.digest('hex')
}

function cleanupSync (): void {
  killAllChildrenSync()
  removeTempDirsSync()
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      only: { type: 'string' },
      callers: { type: 'string' },
      connections: { type: 'string' },
      inflight: { type: 'string' },
      'http-batch': { type: 'string' },
      'mqtt-devices': { type: 'string' },
      'mqtt-inflight': { type: 'string' },
      'mqtt-rate': { type: 'string' },
      'mqtt-idle': { type: 'string' },
      'mqtt-cpu-prof': { type: 'string' },
      'cluster-cases': { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  if (values.only !== undefined && !['log', 'http', 'mqtt', 'delivery', 'commands', 'telemetry', 'twins', 'sim', 'cluster', 'cluster-delivery'].includes(values.only)) throw new Error(`--only must be 'log', 'http', 'mqtt', 'delivery', 'commands', 'telemetry', 'twins', 'sim', 'cluster' or 'cluster-delivery', not '${values.only}'`)
  const settings: Settings = {
    warmupSeconds: positive('warmup', values.warmup, 1, false),
    seconds: positive('seconds', values.seconds, 3, false),
    rounds: positive('rounds', values.rounds, 4),
    callers: positive('callers', values.callers, 64),
    logBatchEvents: LOG_BATCH_EVENTS,
    connections: positive('connections', values.connections, 16),
    inflight: positive('inflight', values.inflight, 32),
    httpBatchEvents: positive('http-batch', values['http-batch'], 100),
    mqttDevices: positive('mqtt-devices', values['mqtt-devices'], 1000),
    mqttInflight: positive('mqtt-inflight', values['mqtt-inflight'], 10),
    mqttRate: positive('mqtt-rate', values['mqtt-rate'], 5000),
    mqttIdle: values['mqtt-idle'] === '0' ? 0 : positive('mqtt-idle', values['mqtt-idle'], 5000)
  }
  if (values.only !== undefined) settings.only = values.only
  const baseDir = await realpath(values.dir ?? os.tmpdir())
  const facts = await machine(baseDir)
  const fingerprint = await sourceFingerprint()
  const started = performance.now()
  progress.line(`gridgate bench: ${facts.cpuModel} × ${facts.cores}, Node ${facts.node}, data under ${baseDir} (${facts.tempFs})`)

  const cases: CaseResult[] = []
  const warnings: string[] = []
  const runs = (part: string): boolean => settings.only === undefined || settings.only === part
  if (runs('log')) {
    cases.push(...await benchLogAppend({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      callers: settings.callers,
      batchEvents: settings.logBatchEvents
    }))
    // Ingest with deduplication on vs off: one message in flight per simulated device.
    cases.push(...await benchDedupe({ baseDir, warmupSeconds: settings.warmupSeconds, seconds: settings.seconds, rounds: settings.rounds, callers: settings.mqttDevices }))
  }
  if (runs('http')) {
    cases.push(...await benchHttpPublish({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      connections: settings.connections,
      inflight: settings.inflight,
      batchEvents: settings.httpBatchEvents
    }))
  }
  if (runs('mqtt')) {
    const mqtt = await benchMqttIngest({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      devices: settings.mqttDevices,
      inflight: settings.mqttInflight,
      rate: settings.mqttRate,
      idle: settings.mqttIdle,
      ...(values['mqtt-cpu-prof'] === undefined ? {} : { cpuProfileDir: await realpath(values['mqtt-cpu-prof']) })
    })
    cases.push(...mqtt.cases)
    warnings.push(...mqtt.warnings)
  }
  if (runs('cluster')) {
    const cluster = await benchCluster({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      devices: settings.mqttDevices,
      inflight: settings.mqttInflight
    })
    cases.push(...cluster.cases)
    warnings.push(...cluster.warnings)
  }
  if (runs('cluster') || settings.only === 'cluster-delivery') {
    cases.push(...await benchClusterDelivery({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      connections: settings.connections,
      inflight: settings.inflight,
      batchEvents: settings.httpBatchEvents,
      warnings,
      ...(values['mqtt-cpu-prof'] === undefined ? {} : { cpuProfileDir: await realpath(values['mqtt-cpu-prof']) })
    }, clusterCases(values['cluster-cases'])))
  }
  if (runs('commands')) {
    cases.push(...await runCommandsBench({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      devices: 1000,
      inflight: 64,
      warnings
    }))
    // Low load: one command at a time, where the round trip is the sum of its steps' latencies.
    const low = await runCommandsBench({ baseDir, warmupSeconds: settings.warmupSeconds, seconds: settings.seconds, rounds: settings.rounds, devices: 10, inflight: 1, nagleOffCase: false, warnings })
    for (const c of low) {
      c.id = `${c.id}-low-load`
      c.title = `${c.title} (low load)`
      c.goalCheck = { text: 'p50 ≤ 10 ms', outcome: c.gridgate.latency.p50Ms <= 10 ? 'met' : 'missed' }
    }
    cases.push(...low)
  }
  if (runs('delivery')) {
    cases.push(...await runDeliveryBench({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: Math.min(settings.seconds, 2), // keeps the part near 2 minutes
      rounds: Math.min(settings.rounds, 3),
      backlog: 300_000,
      backlogBatch: 1000,
      smallBacklog: 200_000,
      smallBacklogBatch: 100,
      concurrency: 4,
      fanoutSubscriptions: 10,
      connections: settings.connections,
      inflight: settings.inflight,
      batchEvents: settings.httpBatchEvents,
      warnings
    }))
  }
  if (runs('telemetry')) {
    cases.push(...await benchTelemetryWindows({
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      warnings
    }))
    cases.push(...await benchTelemetryQuery({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      warnings
    }))
    cases.push(...await benchTelemetryIngest({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      devices: settings.mqttDevices,
      inflight: settings.mqttInflight,
      ...(values['mqtt-cpu-prof'] === undefined ? {} : { cpuProfileDir: await realpath(values['mqtt-cpu-prof']) }),
      warnings
    }))
  }
  if (runs('twins')) {
    cases.push(...await benchTwinsIngest({
      baseDir,
      warmupSeconds: settings.warmupSeconds,
      seconds: settings.seconds,
      rounds: settings.rounds,
      devices: settings.mqttDevices,
      inflight: settings.mqttInflight,
      ...(values['mqtt-cpu-prof'] === undefined ? {} : { cpuProfileDir: await realpath(values['mqtt-cpu-prof']) }),
      warnings
    }))
    cases.push(...await benchTwinsAsOf({ baseDir, warmupSeconds: settings.warmupSeconds, seconds: settings.seconds, rounds: settings.rounds, warnings }))
  }
  if (runs('sim')) cases.push(...await benchSim({ baseDir, warnings }))

  facts.loadAverage.end = os.loadavg()[0] ?? 0
  if (fingerprint === undefined || await sourceFingerprint() !== fingerprint) {
    warnings.push('files under src/ changed during the run, so parts of it may have measured different code; run it again')
  }
  for (const c of cases) {
    for (const s of [c.baseline, c.gridgate]) {
      if (s.errors > 0) warnings.push(`${c.title}, ${s.name}: ${s.errors} failed operations (${s.rounds.find((r) => r.firstError !== undefined)?.firstError ?? ''})`)
    }
  }
  if (facts.loadAverage.start > facts.cores * 0.5) {
    warnings.push(`the machine was busy when the run started (1-min load average ${facts.loadAverage.start.toFixed(2)} on ${facts.cores} cores); compare the ratios, not the absolute figures`)
  }
  for (const w of warnings) progress.line(`warning: ${w}`)
  const results: Results = { machine: facts, settings, cases, durationSeconds: (performance.now() - started) / 1000, warnings }
  const markdown = renderMarkdown(results)
  const dir = join(ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const stamp = facts.date.replace(/[:.]/g, '-')
  const json = JSON.stringify(results, null, 2) + '\n'
  await writeFile(join(dir, `bench-${stamp}.json`), json)
  await writeFile(join(dir, `bench-${stamp}.md`), markdown)
  await writeFile(join(dir, 'latest.json'), json)
  await writeFile(join(dir, 'latest.md'), markdown)
  progress.line(`\nwrote bench/results/bench-${stamp}.{json,md} and bench/results/latest.{json,md}\n`)
  process.stdout.write(markdown)
  return 0
}

process.on('exit', cleanupSync)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress.line(`\ninterrupted (${signal}); stopping children and removing temp dirs`)
    cleanupSync()
    process.exit(130)
  })
}

main().then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  progress.line(`\nbench failed: ${(err as Error).stack ?? String(err)}`)
  cleanupSync()
  process.exitCode = 1
})
