import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { Pool, request } from 'undici'
import { startChild, type Child } from './children.js'
import {
  combine, cpuAverage, latencyHistogram, makeTempDir, ownCpuSeconds, processCpuSeconds, progress, removeTempDir,
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

interface Target {
  child: Child
  url: string
  histogram: Histogram
  rounds: Round[]
  /** Events acknowledged with 200, warm-up included. */
  accepted: number
}

async function round (opts: HttpPublishOptions, target: Target, payloads: readonly Buffer[]): Promise<void> {
  const pool = new Pool(target.url, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  try {
    target.rounds.push(await timed({
      label: target.child.name,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram: target.histogram,
      cpu: [
        { name: 'server', read: () => processCpuSeconds(target.child.pid) },
        { name: 'client', read: ownCpuSeconds }
      ]
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
            ctl.failed((err as Error).message)
          }
        }
      }
      await Promise.all(Array.from({ length: opts.inflight }, (_, w) => worker(w)))
    }))
  } finally {
    await pool.close()
  }
}

function systemResult (target: Target, name: string, description: string): SystemResult {
  return {
    name,
    description,
    ...combine(target.rounds),
    latency: summarise(target.histogram),
    latencyOf: 'one publish request (client side, keep-alive connection)',
    rounds: target.rounds,
    cpuPercent: cpuAverage(target.rounds)
  }
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

    const gg: Target = { child: gridgate, url: ggUrl, histogram: latencyHistogram(), rounds: [], accepted: 0 }
    const base: Target = { child: bare, url: bareUrl, histogram: latencyHistogram(), rounds: [], accepted: 0 }
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [base, gg] : [gg, base]) await round(opts, t, payloads)
    }
    // Every acknowledged event must be in the log: a benchmark of lost writes is worthless.
    const stored = await topicEvents(ggUrl)
    if (stored !== gg.accepted) throw new Error(`gridgate acknowledged ${gg.accepted} events but the topic holds ${stored}`)
    progress.line(`  check: the topic holds all ${stored} acknowledged events`)

    const client = `undici Pool, ${opts.connections} keep-alive connections, ${opts.inflight} requests in flight, ${opts.batchEvents} events (${payloads[0]?.length ?? 0} bytes) per request`
    const baseline = systemResult(base, 'bare node:http (child)', `reads the body into a Buffer, answers 200 {} without parsing; ${client}`)
    const gateway = systemResult(gg, 'gridgate (child)', `POST ${PUBLISH_PATH}, storage.sync=true (default); ${client}`)
    gg.histogram.destroy()
    base.histogram.destroy()
    return [{
      id: 'http-publish',
      title,
      baseline,
      gridgate: gateway,
      ratio: gateway.eventsPerSecond / baseline.eventsPerSecond,
      roundRatios: gg.rounds.map((g, i) => g.eventsPerSecond / (base.rounds[i]?.eventsPerSecond ?? Number.NaN))
    }]
  } finally {
    for (const c of children.reverse()) await c.stop()
    await removeTempDir(dataDir)
  }
}
