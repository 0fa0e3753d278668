import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { Pool, request } from 'undici'
import { startChild, type Child } from './children.js'
import {
  combine, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, processCpuSeconds, progress, removeTempDir,
  summarise, telemetryEvent, timed, type CaseResult, type Round, type SystemResult
} from './common.js'

// HTTP publish: batches of CloudEvents POSTed to a gridgate child process, against a bare
// node:http child that only reads the body, with the same undici client in this process.

export interface HttpPublishOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  /** Keep-alive connections in the undici Pool. */
  connections: number
  /** Requests in flight at any time. */
  inflight: number
  /** CloudEvents per publish request. */
  batchEvents: number
}

export const BENCH_KEY = 'bench-key-0123456789abcdef'
const TOPIC = 'bench'
const PUBLISH_PATH = `/topics/${TOPIC}:publish`
const DISTINCT_BODIES = 32
// A freshly started server is slower for its first seconds (JIT of the decode and
// validation paths), which one round's warm-up may not cover; both servers get this first.
const PREWARM_SECONDS = 3

const publishHeaders = {
  authorization: `SharedAccessKey ${BENCH_KEY}`,
  'content-type': 'application/cloudevents-batch+json; charset=utf-8'
}

function bodies (batchEvents: number): Buffer[] {
  return Array.from({ length: DISTINCT_BODIES }, (_, b) =>
    Buffer.from(JSON.stringify(Array.from({ length: batchEvents }, (_, i) => telemetryEvent(b * batchEvents + i))), 'utf8'))
}

async function startGridgate (dataDir: string): Promise<Child> {
  // YAML is a superset of JSON. Log level info: the "listening" line is an info record
  // (request logging is off in gridgate, so nothing else is logged per request).
  const config = {
    dataDir,
    log: { level: 'info' },
    http: { host: '127.0.0.1', port: 0, keys: [BENCH_KEY] },
    mqtt: { host: '127.0.0.1', port: 0, wsPort: 0, tlsPort: 0, wssPort: 0 }
  }
  const file = join(dataDir, 'bench-config.yaml')
  await writeFile(file, JSON.stringify(config, null, 2) + '\n')
  return await startChild('gridgate', ['src/cli.ts', 'start', '--config', file])
}

async function createTopic (url: string): Promise<void> {
  const res = await request(`${url}/topics/${TOPIC}`, { method: 'PUT', headers: { authorization: publishHeaders.authorization } })
  const text = await res.body.text()
  if (res.statusCode !== 201 && res.statusCode !== 200) throw new Error(`PUT /topics/${TOPIC}: HTTP ${res.statusCode}: ${text}`)
}

async function topicEvents (url: string): Promise<number> {
  const res = await request(`${url}/topics/${TOPIC}`, { headers: { authorization: publishHeaders.authorization } })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET /topics/${TOPIC}: HTTP ${res.statusCode}: ${text}`)
  return (JSON.parse(text) as { events: number }).events
}

/** Sums the samples of one metric (all label sets, or those containing `labels`) in Prometheus text. */
export function metricSum (text: string, name: string, labels = ''): number {
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue
    const rest = line.slice(name.length)
    if (rest[0] !== ' ' && rest[0] !== '{') continue
    if (labels !== '' && !rest.includes(labels)) continue
    const value = Number(rest.slice(rest.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) sum += value
  }
  return sum
}

interface ServerCounters {
  batches: number
  appends: number
  writeSeconds: number
  requests: number
  requestSeconds: number
}

/** gridgate's own view of the window, from GET /metrics (group-commit batches, server-side request time). */
async function serverCounters (url: string): Promise<ServerCounters> {
  const res = await request(`${url}/metrics`, { headers: { authorization: publishHeaders.authorization } })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET /metrics: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
  const publish = 'method="POST"'
  return {
    batches: metricSum(text, 'gridgate_log_batch_items_count'),
    appends: metricSum(text, 'gridgate_log_batch_items_sum'),
    writeSeconds: metricSum(text, 'gridgate_log_batch_write_seconds_sum'),
    requests: metricSum(text, 'gridgate_http_request_seconds_count', publish),
    requestSeconds: metricSum(text, 'gridgate_http_request_seconds_sum', publish)
  }
}

interface Target {
  child: Child
  url: string
  histogram: Histogram
  rounds: Round[]
  /** Events acknowledged with 200, warm-up included. */
  accepted: number
  /** gridgate only: its counters summed over the measured windows. */
  server?: ServerCounters
}

/** One round against `target`; with `prewarm`, an unrecorded run that only warms the server up. */
async function round (opts: HttpPublishOptions, target: Target, payloads: readonly Buffer[], prewarm = false): Promise<void> {
  const pool = new Pool(target.url, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  let before: ServerCounters | undefined
  const onWindow = target.server === undefined || prewarm
    ? undefined
    : async (open: boolean): Promise<void> => {
      const now = await serverCounters(target.url)
      if (open) { before = now; return }
      const total = target.server
      if (before === undefined || total === undefined) return
      for (const k of Object.keys(now) as Array<keyof ServerCounters>) total[k] += now[k] - before[k]
    }
  const histogram = prewarm ? latencyHistogram() : target.histogram
  try {
    const result = await timed({
      label: prewarm ? `${target.child.name} (pre-warm)` : target.child.name,
      warmupSeconds: prewarm ? 0 : opts.warmupSeconds,
      seconds: prewarm ? PREWARM_SECONDS : opts.seconds,
      histogram,
      cpu: [
        { name: 'server', read: () => processCpuSeconds(target.child.pid) },
        { name: 'client', read: ownCpuSeconds }
      ],
      onWindow
    }, async (ctl) => {
      const worker = async (w: number): Promise<void> => {
        for (let i = w; !ctl.stopped; i += opts.inflight) {
          const body = payloads[i % payloads.length] as Buffer
          const started = performance.now()
          try {
            const res = await pool.request({ path: PUBLISH_PATH, method: 'POST', headers: publishHeaders, body })
            const text = await res.body.text()
            const ms = performance.now() - started
            if (res.statusCode === 200) {
              target.accepted += opts.batchEvents
              ctl.done(opts.batchEvents, ms)
            } else {
              ctl.failed(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
            }
          } catch (err) {
            const exit = target.child.exitStatus()
            if (exit !== undefined) throw new Error(`${target.child.name} exited (${exit}) during the measurement; its stderr: ${target.child.stderr()}`)
            ctl.failed((err as Error).message)
          }
        }
      }
      await Promise.all(Array.from({ length: opts.inflight }, (_, w) => worker(w)))
    })
    if (!prewarm) target.rounds.push(result)
  } finally {
    if (prewarm) histogram.destroy()
    await pool.close()
  }
}

function systemResult (target: Target, name: string, description: string, batchEvents: number): SystemResult {
  const server = target.server
  const result: SystemResult = {
    name,
    description,
    ...combine(target.rounds),
    latency: summarise(target.histogram),
    latencyOf: 'one publish request (client side, keep-alive connection)',
    rounds: target.rounds,
    cpuPercent: cpuAverage(target.rounds),
    loopUtilization: loopUtilization(target.rounds)
  }
  if (server !== undefined && server.batches > 0) {
    result.batches = {
      batches: server.batches,
      events: server.appends * batchEvents,
      avgEventsPerBatch: server.appends * batchEvents / server.batches,
      avgWriteMs: server.writeSeconds * 1000 / server.batches
    }
  }
  if (server !== undefined && server.requests > 0) result.serverRequestMeanMs = server.requestSeconds * 1000 / server.requests
  return result
}

export async function benchHttpPublish (opts: HttpPublishOptions): Promise<CaseResult[]> {
  const title = `http publish, ${opts.batchEvents} events/request`
  progress.line(`\n[${title}] ${opts.connections} connections, ${opts.inflight} requests in flight, ${opts.rounds} round(s) of ${opts.seconds}s`)
  const payloads = bodies(opts.batchEvents)
  const dataDir = await makeTempDir(opts.baseDir, 'gridgate-bench-http-')
  const children: Child[] = []
  try {
    progress.line('  starting children: gridgate (node --import tsx src/cli.ts start), bare node:http')
    const gridgate = await startGridgate(dataDir)
    children.push(gridgate)
    const bare = await startChild('bare node:http', ['bench/bare-server.ts'])
    children.push(bare)
    const ggUrl = gridgate.listeners.http
    const bareUrl = bare.listeners.http
    if (ggUrl === undefined || bareUrl === undefined) throw new Error('a child did not report its HTTP listener')
    await createTopic(ggUrl)

    const gg: Target = {
      child: gridgate,
      url: ggUrl,
      histogram: latencyHistogram(),
      rounds: [],
      accepted: 0,
      server: { batches: 0, appends: 0, writeSeconds: 0, requests: 0, requestSeconds: 0 }
    }
    const base: Target = { child: bare, url: bareUrl, histogram: latencyHistogram(), rounds: [], accepted: 0 }
    progress.line(' pre-warm (not recorded)')
    for (const t of [base, gg]) await round(opts, t, payloads, true)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [base, gg] : [gg, base]) await round(opts, t, payloads)
    }
    // Every acknowledged event must be in the log: a benchmark of lost writes is worthless.
    const stored = await topicEvents(ggUrl)
    if (stored !== gg.accepted) throw new Error(`gridgate acknowledged ${gg.accepted} events but the topic holds ${stored}`)
    progress.line(`  check: the topic holds all ${stored} acknowledged events`)

    const client = `undici Pool, ${opts.connections} keep-alive connections, ${opts.inflight} requests in flight, ${opts.batchEvents} events (${payloads[0]?.length ?? 0} bytes) per request`
    const baseline = systemResult(base, 'bare node:http (child)', `reads the body into a Buffer, answers 200 {} without parsing; ${client}`, opts.batchEvents)
    const gateway = systemResult(gg, 'gridgate (child)', `POST ${PUBLISH_PATH}, storage.sync=true (default); ${client}`, opts.batchEvents)
    gg.histogram.destroy()
    base.histogram.destroy()
    const roundRatios = gg.rounds.map((g, i) => g.eventsPerSecond / (base.rounds[i]?.eventsPerSecond ?? Number.NaN))
    return [{
      id: 'http-publish',
      title,
      baseline,
      gridgate: gateway,
      ratio: gateway.eventsPerSecond / baseline.eventsPerSecond,
      roundRatios,
      medianRoundRatio: median(roundRatios)
    }]
  } finally {
    for (const c of children.reverse()) await c.stop()
    await removeTempDir(dataDir)
  }
}
