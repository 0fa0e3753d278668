import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, realpath, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { killAllChildrenSync, ROOT } from './children.js'
import { progress, removeTempDirsSync } from './common.js'
import { runDeliveryBench, type DeliveryPart } from './delivery.js'
import { renderMarkdown, type Machine, type Results, type Settings } from './report.js'

// `npx tsx bench/delivery-main.ts`: the delivery part of the bench on its own (push, pull,
// fan-out). Progress on stderr, the Markdown on stdout, delivery-<timestamp>.{json,md} in
// bench/results/.

const USAGE = `Usage: npx tsx bench/delivery-main.ts [options]

  --seconds N       measured seconds per round and system (default 2)
  --warmup N        warm-up seconds before each measurement (default 1)
  --rounds N        rounds per case, order alternating (default 3)
  --backlog N       events published before the push and pull cases (default 300000)
  --backlog-batch N events per publish request while building it, one request at a time,
                    so each request becomes one log segment (default 1000)
  --small-backlog N events of a second backlog, in smaller segments, for a second pull
                    case (default 200000; 0 skips it)
  --small-batch N   events per request (= per segment) of that backlog (default 100)
  --concurrency N   push requests in flight (webhooks.concurrency) and pull receivers (default 4)
  --fanout N        subscriptions in the fan-out cases, against 1 (default 10)
  --connections N   fan-out publish: keep-alive connections (default 16)
  --inflight N      fan-out publish: requests in flight (default 32)
  --batch N         fan-out publish: events per request (default 100)
  --only LIST       comma-separated parts: push, pull, fanout (default all)
  --cpu-prof DIR    write a --cpu-prof profile of the gridgate child to DIR
  --dir DIR         where the temp database goes (default: the OS temp dir)
`

function positive (name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}, not '${value}'`)
  return n
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

function commit (): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
  } catch {
    return undefined
  }
}

function machine (tempDir: string): Machine {
  const cpus = os.cpus()
  const m: Machine = {
    date: new Date().toISOString(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    versions: Object.fromEntries(['level', 'classic-level', 'fastify', 'undici', 'hdr-histogram-js'].map((p) => [p, packageVersion(p)])),
    tempDir,
    tempFs: filesystemOf(tempDir),
    loadAverage: { start: os.loadavg()[0] ?? 0 }
  }
  const c = commit()
  if (c !== undefined) m.commit = c
  return m
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      backlog: { type: 'string' },
      'backlog-batch': { type: 'string' },
      'small-backlog': { type: 'string' },
      'small-batch': { type: 'string' },
      concurrency: { type: 'string' },
      fanout: { type: 'string' },
      connections: { type: 'string' },
      inflight: { type: 'string' },
      batch: { type: 'string' },
      only: { type: 'string' },
      'cpu-prof': { type: 'string' },
      dir: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const parts = values.only?.split(',').map((p) => p.trim()) as DeliveryPart[] | undefined
  for (const p of parts ?? []) if (!['push', 'pull', 'fanout'].includes(p)) throw new Error(`--only takes push, pull and fanout, not '${p}'`)
  const warmupSeconds = positive('warmup', values.warmup, 1, false)
  const seconds = positive('seconds', values.seconds, 2, false)
  const rounds = positive('rounds', values.rounds, 3)
  const connections = positive('connections', values.connections, 16)
  const inflight = positive('inflight', values.inflight, 32)
  const batchEvents = positive('batch', values.batch, 100)
  const baseDir = await realpath(values.dir ?? os.tmpdir())
  const facts = machine(baseDir)
  // The shared report wants the whole run's settings; the log/http/mqtt ones are unused here,
  // and `only: 'delivery'` keeps their method notes out (the cases carry their own).
  const settings: Settings = {
    warmupSeconds,
    seconds,
    rounds,
    callers: 0,
    logBatchEvents: 0,
    connections,
    inflight,
    httpBatchEvents: batchEvents,
    mqttDevices: 0,
    mqttInflight: 0,
    mqttRate: 0,
    mqttIdle: 0,
    only: 'delivery'
  }
  const started = performance.now()
  progress.line(`gridgate delivery bench: ${facts.cpuModel} × ${facts.cores}, Node ${facts.node}, data under ${baseDir}`)
  const warnings: string[] = []
  const cases = await runDeliveryBench({
    baseDir,
    warmupSeconds,
    seconds,
    rounds,
    backlog: positive('backlog', values.backlog, 300_000),
    backlogBatch: positive('backlog-batch', values['backlog-batch'], 1000),
    smallBacklog: values['small-backlog'] === '0' ? 0 : positive('small-backlog', values['small-backlog'], 200_000),
    smallBacklogBatch: positive('small-batch', values['small-batch'], 100),
    concurrency: positive('concurrency', values.concurrency, 4),
    fanoutSubscriptions: positive('fanout', values.fanout, 10),
    connections,
    inflight,
    batchEvents,
    ...(parts === undefined ? {} : { parts }),
    ...(values['cpu-prof'] === undefined ? {} : { cpuProfileDir: await realpath(values['cpu-prof']) }),
    warnings
  })
  facts.loadAverage.end = os.loadavg()[0] ?? 0
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
  await writeFile(join(dir, `delivery-${stamp}.json`), JSON.stringify(results, null, 2) + '\n')
  await writeFile(join(dir, `delivery-${stamp}.md`), markdown)
  progress.line(`\nwrote bench/results/delivery-${stamp}.{json,md}\n`)
  process.stdout.write(markdown)
  return 0
}

function cleanupSync (): void {
  killAllChildrenSync()
  removeTempDirsSync()
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
  progress.line(`\ndelivery bench failed: ${(err as Error).stack ?? String(err)}`)
  cleanupSync()
  process.exitCode = 1
})
