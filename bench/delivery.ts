import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { Pool, request } from 'undici'
import { startChild, type Child } from './children.js'
import {
  combine, compact, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, processCpuSeconds, progress, removeTempDir,
  sleep, summarise, telemetryEvent, timed, type CaseResult, type Control, type CpuProbe, type LatencySummary, type Round, type SystemResult
} from './common.js'
import { BENCH_KEY, metricSum } from './http-publish.js'
import type { ProbeReply } from './server-probe.js'
import type { PathStats } from './webhook-sink.js'

// Event delivery: push to a webhook, pull (receive + acknowledge), and what subscriptions
// cost ingest, each against a baseline measured in the same run.
//
//   push   gridgate drains a pre-published backlog into bench/webhook-sink.ts (a child that
//          answers 200 and counts events), maxEventsPerBatch 1 and 100; baseline = this
//          process POSTing the same bodies to the same sink with an undici Pool, as many in
//          flight as gridgate's webhooks.concurrency: the HTTP floor.
//   pull   `concurrency` receivers loop :receive?maxEvents=100 + :acknowledge on the backlog;
//          baseline = replay pages (GET /topics/bench/events, limit 100) at the same
//          concurrency: the same HTTP stack and log reads without locks and acknowledgements.
//   fanout HTTP publish throughput with N subscriptions on the topic against 1, for idle
//          pull subscriptions and for push subscriptions to the sink.
//
// Every event carries a unique data.seq, so the sink and the pull receivers can tell
// duplicates, and every round checks its counts; a mismatch is a loud warning.

export type DeliveryPart = 'push' | 'pull' | 'fanout'

export interface DeliveryBenchOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  /** Events published before the push and pull cases; each of their rounds starts a fresh subscription at the beginning. */
  backlog: number
  /** Events per publish request while building the backlog (one request = one log segment). */
  backlogBatch: number
  /** A second backlog in smaller segments for a second pull case; 0 events skips it. */
  smallBacklog: number
  smallBacklogBatch: number
  /** Push requests in flight (gridgate's webhooks.concurrency, and the baseline's), and concurrent pull receivers. */
  concurrency: number
  /** Subscriptions in the fan-out cases (against 1). */
  fanoutSubscriptions: number
  /** Fan-out publish client: keep-alive connections, requests in flight, events per request. */
  connections: number
  inflight: number
  batchEvents: number
  /** Parts to run (all by default). */
  parts?: readonly DeliveryPart[]
  /** Writes a --cpu-prof profile of the gridgate child into this directory. */
  cpuProfileDir?: string
  /** Count mismatches and other findings are appended here (and printed on stderr at once). */
  warnings?: string[]
}

/** The topic of the main backlog and of the fan-out cases. */
const TOPIC = 'bench'
/** The topic of the small-segment backlog. */
const SMALL_TOPIC = 'bench-small'
const AUTH = `SharedAccessKey ${BENCH_KEY}`
const PUBLISH_HEADERS = { authorization: AUTH, 'content-type': 'application/cloudevents-batch+json; charset=utf-8' }
const JSON_HEADERS = { authorization: AUTH, 'content-type': 'application/json' }
const ORIGIN = 'gridgate'
// What gridgate's push sends (src/delivery/push/webhook-client.ts), for the baseline.
const PUSH_HEADERS_SINGLE = { 'content-type': 'application/cloudevents+json; charset=utf-8', 'webhook-request-origin': ORIGIN }
const PUSH_HEADERS_BATCH = { 'content-type': 'application/cloudevents-batch+json; charset=utf-8', 'webhook-request-origin': ORIGIN }
const PULL_MAX_EVENTS = 100
const REPLAY_LIMIT = 100
const PUSH_BATCHES = [1, 100] as const
const FANOUT_PUSH_BATCH = 100
const PUSH_GOAL = 20_000
const PULL_GOAL = 20_000
const FANOUT_GOAL = 0.77
const POLL_MS = 100
// As bench/http-publish.ts: a publish path fresh from start-up is slower for its first seconds.
const PREWARM_SECONDS = 3

// ---------------------------------------------------------------- events with a unique seq

/**
 * bench/common.ts telemetry events whose data.seq (the last field of their JSON) is any number
 * we like: the JSON of template `seq % TEMPLATES` up to `"seq":`, then the number and `}}`.
 */
const TEMPLATES = 256
const templates = Array.from({ length: TEMPLATES }, (_, i) => {
  const json = JSON.stringify(telemetryEvent(i))
  const at = json.lastIndexOf('"seq":') + '"seq":'.length
  if (!json.endsWith(`${i}}}`)) throw new Error('telemetryEvent changed shape: data.seq is no longer its last field')
  return json.slice(0, at)
})

function eventJson (seq: number): string {
  return `${templates[seq % TEMPLATES] as string}${seq}}}`
}

/** A JSON array of `count` events with seqs from `from`. */
function batchBody (from: number, count: number): Buffer {
  const parts = new Array<string>(count)
  for (let i = 0; i < count; i++) parts[i] = eventJson(from + i)
  return Buffer.from(`[${parts.join(',')}]`, 'utf8')
}

/** Seqs seen, one bit each; counts duplicates. */
class SeqSet {
  private bits = new Uint8Array(1 << 16)
  distinct = 0
  duplicates = 0

  add (seq: number): void {
    const byte = seq >>> 3
    if (byte >= this.bits.length) {
      let size = this.bits.length
      while (size <= byte) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.bits)
      this.bits = grown
    }
    const bit = 1 << (seq & 7)
    if (((this.bits[byte] as number) & bit) !== 0) {
      this.duplicates++
    } else {
      this.bits[byte] = (this.bits[byte] as number) | bit
      this.distinct++
    }
  }
}

// ---------------------------------------------------------------- children

let nextIpcId = 1

/** One request over a child's IPC channel, answered by a message carrying `key: id`. */
async function ask<T> (child: Child, key: string, message: Record<string, unknown>, timeoutMs = 10_000): Promise<T> {
  const id = nextIpcId++
  return await new Promise<T>((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if (m !== null && typeof m === 'object' && (m as Record<string, unknown>)[key] === id) {
        done()
        resolve(m as T)
      }
    }
    const timer = setTimeout(() => { done(); reject(new Error(`${child.name}: no IPC answer within ${timeoutMs} ms (${child.exitStatus() ?? 'running'})`)) }, timeoutMs)
    function done (): void {
      clearTimeout(timer)
      child.proc.off('message', onMessage)
    }
    child.proc.on('message', onMessage)
    child.proc.send({ ...message, [key]: id })
  })
}

interface Sink {
  child: Child
  url: string
  stats: () => Promise<{ loopActiveMs: number, paths: Record<string, PathStats> }>
  path: (path: string) => Promise<PathStats>
  forget: (path: string) => Promise<void>
}

const EMPTY_PATH: PathStats = { requests: 0, events: 0, duplicates: 0, distinct: 0, minSeq: Number.POSITIVE_INFINITY, maxSeq: -1, unparsed: 0 }

async function startSink (): Promise<Sink> {
  const child = await startChild('webhook sink', ['bench/webhook-sink.ts'], 30_000, { ipc: true })
  const url = child.listeners.http
  if (url === undefined) throw new Error('the webhook sink did not report its listener')
  const stats = async (): Promise<{ loopActiveMs: number, paths: Record<string, PathStats> }> => await ask(child, 'sink', { op: 'stats' })
  return {
    child,
    url,
    stats,
    path: async (path) => (await stats()).paths[path] ?? EMPTY_PATH,
    forget: async (path) => { await ask(child, 'sink', { op: 'forget', path }) }
  }
}

interface Gateway {
  child: Child
  url: string
  loopSeconds: () => Promise<number>
}

async function startGateway (dataDir: string, concurrency: number, cpuProfileDir: string | undefined): Promise<Gateway> {
  const config = {
    dataDir,
    log: { level: 'info' },
    http: { host: '127.0.0.1', port: 0, keys: [BENCH_KEY] },
    mqtt: { host: '127.0.0.1', port: 0, wsPort: 0, tlsPort: 0, wssPort: 0 },
    webhooks: { allowLoopback: true, concurrency }
  }
  const file = join(dataDir, 'bench-config.yaml')
  await writeFile(file, JSON.stringify(config, null, 2) + '\n')
  const nodeArgs = ['--import', './bench/server-probe.ts',
    ...(cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`])]
  const child = await startChild('gridgate', ['src/cli.ts', 'start', '--config', file], 30_000, { ipc: true, nodeArgs })
  const url = child.listeners.http
  if (url === undefined) throw new Error('gridgate did not report its HTTP listener')
  return { child, url, loopSeconds: async () => (await ask<ProbeReply>(child, 'probe', {})).loopActiveMs / 1000 }
}

// ---------------------------------------------------------------- gridgate's HTTP API

async function api (gw: Gateway, method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, body?: unknown): Promise<{ status: number, json: unknown, text: string }> {
  const res = await request(`${gw.url}${path}`, {
    method,
    headers: body === undefined ? { authorization: AUTH } : JSON_HEADERS,
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await res.body.text()
  let json: unknown
  try { json = text === '' ? undefined : JSON.parse(text) } catch { json = undefined }
  return { status: res.statusCode, json, text }
}

async function expectOk (gw: Gateway, method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await api(gw, method, path, body)
  if (res.status < 200 || res.status > 204) throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.text.slice(0, 400)}`)
  return res.json
}

interface TopicInfo { firstOffset: number, nextOffset: number, events: number }
interface SubStatus { cursor: number, backlog: number, inFlight: number, delivered: number, failed: number, deadLettered: number, lastError: string | null }

const topicInfo = async (gw: Gateway, topic: string): Promise<TopicInfo> => await expectOk(gw, 'GET', `/topics/${topic}`) as TopicInfo
const subStatus = async (gw: Gateway, topic: string, name: string): Promise<SubStatus> => await expectOk(gw, 'GET', `/topics/${topic}/eventsubscriptions/${name}/status`) as SubStatus
const deleteSub = async (gw: Gateway, topic: string, name: string): Promise<void> => { await expectOk(gw, 'DELETE', `/topics/${topic}/eventsubscriptions/${name}`) }

function pushSpec (endpointUrl: string, maxEventsPerBatch: number, startAt: 'beginning' | 'end'): unknown {
  return {
    properties: {
      startAt,
      deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { endpointType: 'WebHook', properties: { endpointUrl, maxEventsPerBatch } } } }
    }
  }
}

function pullSpec (startAt: 'beginning' | 'end'): unknown {
  return { properties: { startAt, deliveryConfiguration: { deliveryMode: 'Queue' } } }
}

async function putSub (gw: Gateway, topic: string, name: string, spec: unknown): Promise<{ startOffset: number }> {
  const res = await expectOk(gw, 'PUT', `/topics/${topic}/eventsubscriptions/${name}`, spec) as { properties: { startOffset: number } }
  return { startOffset: res.properties.startOffset }
}

/** gridgate's push counter of one subscription and outcome (gridgate_delivery_events_total). */
async function pushedEvents (gw: Gateway, name: string, outcome: 'success' | 'retry' | 'deadletter'): Promise<number> {
  const text = await api(gw, 'GET', '/metrics').then((r) => r.text)
  let sum = 0
  for (const line of text.split('\n')) {
    if (!line.startsWith('gridgate_delivery_events_total{') || !line.includes(`subscription="${name}"`) || !line.includes(`outcome="${outcome}"`)) continue
    const value = Number(line.slice(line.lastIndexOf(' ') + 1))
    if (Number.isFinite(value)) sum += value
  }
  return sum
}

/** Group-commit writes and events appended so far (one write = one segment per topic). */
async function logWrites (gw: Gateway): Promise<{ writes: number, events: number }> {
  const text = await api(gw, 'GET', '/metrics').then((r) => r.text)
  return { writes: metricSum(text, 'gridgate_log_batch_items_count'), events: metricSum(text, 'gridgate_log_events_appended_total') }
}

// ---------------------------------------------------------------- results

const NO_LATENCY: LatencySummary = { count: 0, meanMs: Number.NaN, p50Ms: Number.NaN, p90Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN }

interface Side {
  name: string
  description: string
  latencyOf: string
  /** undefined: latency not measured (push through gridgate: the requests are its own). */
  histogram: Histogram | undefined
  rounds: Round[]
}

function side (name: string, description: string, latencyOf: string, withLatency = true): Side {
  return { name, description, latencyOf, histogram: withLatency ? latencyHistogram() : undefined, rounds: [] }
}

function systemResult (s: Side): SystemResult {
  return {
    name: s.name,
    description: s.description,
    ...combine(s.rounds),
    latency: s.histogram === undefined ? NO_LATENCY : summarise(s.histogram),
    latencyOf: s.latencyOf,
    rounds: s.rounds,
    cpuPercent: cpuAverage(s.rounds),
    loopUtilization: loopUtilization(s.rounds)
  }
}

function absoluteGoal (what: string, min: number, s: SystemResult): CaseResult['goalCheck'] {
  const perRound = median(s.rounds.map((r) => r.eventsPerSecond))
  const met = [s.eventsPerSecond, perRound].filter((v) => v >= min).length
  return { text: `${what} ≥ ${min.toLocaleString('en-US')} events/s`, outcome: met === 2 ? 'met' : met === 0 ? 'missed' : 'borderline' }
}

function caseResult (id: string, title: string, base: Side, gg: Side, extra: Pick<CaseResult, 'goal'> = {}): CaseResult {
  const baseline = systemResult(base)
  const gridgate = systemResult(gg)
  base.histogram?.destroy()
  gg.histogram?.destroy()
  const roundRatios = gg.rounds.map((g, i) => g.eventsPerSecond / (base.rounds[i]?.eventsPerSecond ?? Number.NaN))
  return { id, title, baseline, gridgate, ratio: gridgate.eventsPerSecond / baseline.eventsPerSecond, roundRatios, medianRoundRatio: median(roundRatios), ...extra }
}

// ---------------------------------------------------------------- the bench

/** A topic filled before the push and pull cases, one request (= one segment) at a time, so offset = seq. */
interface Backlog {
  topic: string
  events: number
  perSegment: number
  note: string
}

interface Context {
  opts: DeliveryBenchOptions
  gw: Gateway
  sink: Sink
  /** The seq of the next event the fan-out cases publish (above every backlog seq). */
  nextSeq: number
  /** Subscription names are never reused: gridgate's delivery counters are per name. */
  subsCreated: number
  warnings: string[]
  /** Per case id: lines for the report. */
  checks: Map<string, string[]>
}

function warn (ctx: Context, text: string): void {
  ctx.warnings.push(text)
  progress.line(`\n  !!!!!!!! WARNING: ${text}\n`)
}

function note (ctx: Context, id: string, text: string): void {
  const list = ctx.checks.get(id) ?? []
  list.push(text)
  ctx.checks.set(id, list)
}

function aliveOrThrow (child: Child): void {
  const exit = child.exitStatus()
  if (exit !== undefined) throw new Error(`${child.name} exited (${exit}); its stderr: ${child.stderr()}`)
}

function cpuProbes (ctx: Context, withSink: boolean): CpuProbe[] {
  const probes: CpuProbe[] = [
    { name: 'gridgate', read: () => processCpuSeconds(ctx.gw.child.pid) },
    { name: 'gridgate loop', read: ctx.gw.loopSeconds }
  ]
  if (withSink) {
    probes.push({ name: 'sink', read: () => processCpuSeconds(ctx.sink.child.pid) })
    probes.push({ name: 'sink loop', read: async () => (await ctx.sink.stats()).loopActiveMs / 1000 })
  }
  probes.push({ name: 'bench', read: ownCpuSeconds })
  return probes
}

/** Loops `body` in `n` workers until ctl.stopped; an error while `child` is dead ends the run. */
async function workers (n: number, ctl: Control, child: Child, body: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => {
    while (!ctl.stopped) {
      try {
        await body()
      } catch (err) {
        aliveOrThrow(child)
        ctl.failed((err as Error).message)
        await sleep(10)
      }
    }
  }))
}

/** Rounds alternate which side goes first. */
async function alternate (rounds: number, base: (r: number) => Promise<void>, gg: (r: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    progress.line(` round ${r + 1}/${rounds}`)
    if (r % 2 === 0) {
      await base(r)
      await gg(r)
    } else {
      await gg(r)
      await base(r)
    }
  }
}

const EVENT_BYTES = batchBody(0, 1).length - 2

/** Publishes `events` events (seq = offset) into a new topic, `per` per request, one request at a time. */
async function publishBacklog (ctx: Context, topic: string, events: number, per: number): Promise<Backlog> {
  const { gw } = ctx
  await expectOk(gw, 'PUT', `/topics/${topic}`)
  const before = await logWrites(gw)
  const started = performance.now()
  const pool = new Pool(gw.url, { connections: 1, pipelining: 1 })
  try {
    progress.write(`  topic '${topic}': publishing a backlog of ${events.toLocaleString('en-US')} events, ${per} per request, one request at a time ...`)
    for (let from = 0; from < events; from += per) {
      const count = Math.min(per, events - from)
      const res = await pool.request({ path: `/topics/${topic}:publish`, method: 'POST', headers: PUBLISH_HEADERS, body: batchBody(from, count) })
      const text = await res.body.text()
      if (res.statusCode !== 200) throw new Error(`publish: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
    }
  } finally {
    await pool.close()
  }
  const seconds = (performance.now() - started) / 1000
  const info = await topicInfo(gw, topic)
  if (info.events !== events || info.firstOffset !== 0) throw new Error(`published ${events} events but topic '${topic}' holds ${info.events} from offset ${info.firstOffset}`)
  const after = await logWrites(gw)
  const writes = after.writes - before.writes
  const perSegment = events / writes
  progress.line(` ${seconds.toFixed(1)} s (${compact(events / seconds)} ev/s), ${writes} segments of ${perSegment.toFixed(0)} events`)
  ctx.nextSeq = Math.max(ctx.nextSeq, events)
  return {
    topic,
    events,
    perSegment,
    note: `backlog: topic '${topic}', ${events.toLocaleString('en-US')} events of ~${EVENT_BYTES} bytes, published ${per} per request one request at a time (${compact(events / seconds)} events/s) ` +
      `before any subscription existed, so the log holds them in ${writes} segments of ${perSegment.toFixed(0)} events (~${Math.round(perSegment * (EVENT_BYTES + 4) / 1024)} KiB each) and offset = seq`
  }
}

// ------------------------------------------------ push

async function pushGridgateRound (ctx: Context, s: Side, b: Backlog, id: string, batch: number, r: number): Promise<void> {
  const { gw, sink, opts } = ctx
  const name = `push-b${batch}-${ctx.subsCreated++}`
  const path = `/hook/${name}`
  await putSub(gw, b.topic, name, pushSpec(`${sink.url}${path}`, batch, 'beginning'))
  let open: PathStats = EMPTY_PATH
  let close: PathStats = EMPTY_PATH
  const scratch = latencyHistogram()
  let round: Round
  try {
    round = await timed({
      label: `gridgate push b${batch}`,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram: scratch,
      cpu: cpuProbes(ctx, true),
      onWindow: async (isOpen) => {
        if (isOpen) open = await sink.path(path)
        else close = await sink.path(path)
      }
    }, async (ctl) => {
      // Progress only: the figures are the sink's counts at the window's edges (onWindow).
      let last = 0
      while (!ctl.stopped) {
        await sleep(POLL_MS)
        aliveOrThrow(gw.child)
        const now = (await sink.path(path)).events
        if (now > last) ctl.done(now - last, 0)
        last = now
      }
    })
  } finally {
    scratch.destroy()
  }
  round.events = close.events - open.events
  round.ops = close.requests - open.requests
  round.eventsPerSecond = round.events / round.seconds
  s.rounds.push(round)

  const status = await subStatus(gw, b.topic, name)
  await deleteSub(gw, b.topic, name) // waits for the requests in flight and their acknowledgements
  const got = await sink.path(path)
  const acked = await pushedEvents(gw, name, 'success')
  const retried = await pushedEvents(gw, name, 'retry')
  await sink.forget(path)
  const problems: string[] = []
  if (got.events !== acked) problems.push(`the sink received ${got.events} events but gridgate counted ${acked} delivered`)
  if (got.duplicates > retried) problems.push(`${got.duplicates} duplicate events at the sink, only ${retried} retried`)
  if (got.unparsed > 0) problems.push(`${got.unparsed} requests without a bench event`)
  // Every event taken was sent and answered before the delete returned: the sink holds offsets 0..n-1.
  if (got.events > 0 && (got.minSeq !== 0 || got.distinct !== got.maxSeq + 1)) problems.push(`the sink holds ${got.distinct} distinct seqs from ${got.minSeq} to ${got.maxSeq}, not the offsets 0..n-1 from the beginning`)
  if (status.failed > 0 || status.deadLettered > 0) problems.push(`${status.failed} failed and ${status.deadLettered} dead-lettered deliveries (${status.lastError ?? ''})`)
  if (status.backlog === 0) problems.push('the backlog ran out before the window closed, so the figure is too low: raise --backlog')
  for (const p of problems) warn(ctx, `push b${batch}, round ${r + 1}: ${p}`)
  if (problems.length === 0) {
    note(ctx, id, `round ${r + 1} check: the sink got ${got.events.toLocaleString('en-US')} events (offsets 0..${got.maxSeq.toLocaleString('en-US')}, each once) in ${got.requests.toLocaleString('en-US')} requests = gridgate's delivered count; no retries; backlog left ${status.backlog.toLocaleString('en-US')}`)
  }
}

async function pushBaselineRound (ctx: Context, s: Side, batch: number, bodies: readonly Buffer[], r: number): Promise<void> {
  const { sink, opts } = ctx
  const path = `/base/b${batch}-r${r}`
  const headers = batch === 1 ? PUSH_HEADERS_SINGLE : PUSH_HEADERS_BATCH
  const pool = new Pool(sink.url, { connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 60_000 })
  let sent = 0
  try {
    s.rounds.push(await timed({
      label: `undici → sink b${batch}`,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram: s.histogram as Histogram,
      cpu: cpuProbes(ctx, true)
    }, async (ctl) => {
      let i = 0
      await workers(opts.concurrency, ctl, sink.child, async () => {
        const body = bodies[i++ % bodies.length] as Buffer
        const started = performance.now()
        const res = await pool.request({ path, method: 'POST', headers, body })
        await res.body.dump()
        if (res.statusCode !== 200) throw new Error(`sink: HTTP ${res.statusCode}`)
        sent += batch
        ctl.done(batch, performance.now() - started)
      })
    }))
  } finally {
    await pool.close()
  }
  const got = await sink.path(path)
  await sink.forget(path)
  if (got.events !== sent) warn(ctx, `push baseline b${batch}, round ${r + 1}: the sink counted ${got.events} events, the client sent ${sent}`)
}

async function benchPush (ctx: Context, b: Backlog, batch: number): Promise<CaseResult> {
  const { opts } = ctx
  const id = `delivery-push-b${batch}`
  const title = `push to webhook, ${batch} event${batch === 1 ? '' : 's'}/request, ${opts.concurrency} in flight`
  progress.line(`\n[${title}] draining topic '${b.topic}' (segments of ${b.perSegment.toFixed(0)} events) into the sink; ${opts.rounds} round(s) of ${opts.seconds}s`)
  const bodies = Array.from({ length: 64 }, (_, k) => batch === 1 ? Buffer.from(eventJson(k), 'utf8') : batchBody(k * batch, batch))
  const base = side('undici Pool → sink (bench)',
    `this process POSTs what gridgate would send (${bodies[0]?.length ?? 0}-byte ${batch === 1 ? 'application/cloudevents+json' : 'application/cloudevents-batch+json'} bodies) to the same sink: undici Pool, ${opts.concurrency} connections, ${opts.concurrency} requests in flight`,
    `one POST to the sink (client side), ${batch} event(s)`)
  const gg = side('gridgate push (child)',
    `a push subscription (startAt beginning, maxEventsPerBatch ${batch}, webhooks.concurrency ${opts.concurrency}) drains the ${b.events.toLocaleString('en-US')}-event backlog of topic '${b.topic}'; a fresh subscription every round; events/s and requests/s are the sink's counts in the window`,
    'not measured: gridgate makes the requests (events/s and ops/s are the sink\'s counts)', false)
  await alternate(opts.rounds, (r) => pushBaselineRound(ctx, base, batch, bodies, r), (r) => pushGridgateRound(ctx, gg, b, id, batch, r))
  const result = caseResult(id, title, base, gg)
  if (batch > 1) result.goalCheck = absoluteGoal('push batched', PUSH_GOAL, result.gridgate)
  note(ctx, id, b.note)
  return result
}

// ------------------------------------------------ pull

interface Received { value: Array<{ brokerProperties: { lockToken: string }, event: { data: { seq: number } } }> }
interface Settled { succeededLockTokens: string[], failedLockTokens: unknown[] }
interface Replayed { value: Array<{ offset: number, event: { data: { seq: number } } }> }

async function pullGridgateRound (ctx: Context, s: Side, b: Backlog, id: string, r: number): Promise<void> {
  const { gw, opts } = ctx
  const name = `pull-${ctx.subsCreated++}`
  await putSub(gw, b.topic, name, pullSpec('beginning'))
  const pool = new Pool(gw.url, { connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 60_000 })
  const seen = new SeqSet()
  let acked = 0
  let maxSeq = -1
  let empty = 0
  const receivePath = `/topics/${b.topic}/eventsubscriptions/${name}:receive?maxEvents=${PULL_MAX_EVENTS}&maxWaitTime=10`
  const ackPath = `/topics/${b.topic}/eventsubscriptions/${name}:acknowledge`
  try {
    s.rounds.push(await timed({
      label: 'gridgate pull',
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram: s.histogram as Histogram,
      cpu: cpuProbes(ctx, false)
    }, async (ctl) => {
      await workers(opts.concurrency, ctl, gw.child, async () => {
        const started = performance.now()
        const res = await pool.request({ path: receivePath, method: 'POST', headers: { authorization: AUTH } })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`receive: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
        const got = (JSON.parse(text) as Received).value
        if (got.length === 0) {
          empty++
          return
        }
        const lockTokens = got.map((v) => v.brokerProperties.lockToken)
        for (const v of got) {
          seen.add(v.event.data.seq)
          if (v.event.data.seq > maxSeq) maxSeq = v.event.data.seq
        }
        const ack = await pool.request({ path: ackPath, method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ lockTokens }) })
        const answer = await ack.body.text()
        if (ack.statusCode !== 200) throw new Error(`acknowledge: HTTP ${ack.statusCode}: ${answer.slice(0, 300)}`)
        const { succeededLockTokens, failedLockTokens } = JSON.parse(answer) as Settled
        if (failedLockTokens.length > 0) ctl.failed(`acknowledge: ${failedLockTokens.length} lock tokens failed: ${JSON.stringify(failedLockTokens[0])}`)
        acked += succeededLockTokens.length
        ctl.done(succeededLockTokens.length, performance.now() - started)
      })
    }))
  } finally {
    await pool.close()
  }
  const status = await subStatus(gw, b.topic, name)
  await deleteSub(gw, b.topic, name)
  const problems: string[] = []
  if (status.delivered !== acked) problems.push(`gridgate counts ${status.delivered} acknowledged, the receivers ${acked}`)
  if (seen.duplicates > 0) problems.push(`${seen.duplicates} events received twice`)
  if (seen.distinct !== acked) problems.push(`${seen.distinct} distinct events received, ${acked} acknowledged`)
  if (acked > 0 && maxSeq + 1 !== acked) problems.push(`received seqs up to ${maxSeq}, but ${acked} events: not the offsets 0..n-1 from the beginning`)
  if (status.inFlight !== 0) problems.push(`${status.inFlight} events still locked after the receivers stopped`)
  if (empty > 0 || status.backlog === 0) problems.push(`the backlog ran out (${empty} empty receives), so the figure is too low: raise the backlog`)
  for (const p of problems) warn(ctx, `pull on '${b.topic}', round ${r + 1}: ${p}`)
  if (problems.length === 0) {
    note(ctx, id, `round ${r + 1} check: ${acked.toLocaleString('en-US')} events received (offsets 0..${maxSeq.toLocaleString('en-US')}, each once) and acknowledged = gridgate's delivered count; none left locked; backlog left ${status.backlog.toLocaleString('en-US')}`)
  }
}

async function replayRound (ctx: Context, s: Side, b: Backlog, r: number): Promise<void> {
  const { gw, opts } = ctx
  const pool = new Pool(gw.url, { connections: opts.concurrency, pipelining: 1, keepAliveTimeout: 60_000 })
  const span = Math.floor(b.events / REPLAY_LIMIT) * REPLAY_LIMIT
  let next = 0
  let wrong = 0
  try {
    s.rounds.push(await timed({
      label: 'gridgate replay',
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram: s.histogram as Histogram,
      cpu: cpuProbes(ctx, false)
    }, async (ctl) => {
      await workers(opts.concurrency, ctl, gw.child, async () => {
        const from = next
        next = (next + REPLAY_LIMIT) % span
        const started = performance.now()
        const res = await pool.request({ path: `/topics/${b.topic}/events?fromOffset=${from}&limit=${REPLAY_LIMIT}`, method: 'GET', headers: { authorization: AUTH } })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`replay: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
        const got = (JSON.parse(text) as Replayed).value
        for (let i = 0; i < got.length; i++) if (got[i]?.offset !== from + i || got[i]?.event.data.seq !== from + i) wrong++
        if (got.length !== REPLAY_LIMIT) ctl.failed(`replay from ${from}: ${got.length} events, expected ${REPLAY_LIMIT}`)
        ctl.done(got.length, performance.now() - started)
      })
    }))
  } finally {
    await pool.close()
  }
  if (wrong > 0) warn(ctx, `replay of '${b.topic}', round ${r + 1}: ${wrong} events with an unexpected offset or seq`)
}

async function benchPull (ctx: Context, b: Backlog, id: string, titleSuffix: string): Promise<CaseResult> {
  const { opts } = ctx
  const title = `pull receive(${PULL_MAX_EVENTS}) + acknowledge, ${opts.concurrency} receivers${titleSuffix}`
  progress.line(`\n[${title}] draining topic '${b.topic}' (segments of ${b.perSegment.toFixed(0)} events); ${opts.rounds} round(s) of ${opts.seconds}s`)
  const base = side('gridgate replay GET /events (child)',
    `GET /topics/${b.topic}/events?fromOffset=N&limit=${REPLAY_LIMIT}, consecutive pages over the backlog, ${opts.concurrency} in flight (undici Pool, ${opts.concurrency} connections), answers parsed`,
    `one replay page of ${REPLAY_LIMIT} events (client side)`)
  const gg = side('gridgate pull (child)',
    `a Queue subscription (startAt beginning; a fresh one every round) on the ${b.events.toLocaleString('en-US')}-event backlog of topic '${b.topic}'; ${opts.concurrency} receivers each loop POST :receive?maxEvents=${PULL_MAX_EVENTS}&maxWaitTime=10, then POST :acknowledge with its lock tokens (undici Pool, ${opts.concurrency} connections), answers parsed`,
    `one :receive of up to ${PULL_MAX_EVENTS} events plus its :acknowledge (client side)`)
  await alternate(opts.rounds, (r) => replayRound(ctx, base, b, r), (r) => pullGridgateRound(ctx, gg, b, id, r))
  const result = caseResult(id, title, base, gg)
  result.goalCheck = absoluteGoal('pull', PULL_GOAL, result.gridgate)
  note(ctx, id, b.note)
  return result
}

// ------------------------------------------------ fan-out

interface FanoutSub { name: string, path: string, startOffset: number }
interface FanoutCounts { delivered: number, published: number }

async function addFanoutSub (ctx: Context, mode: 'pull' | 'push'): Promise<FanoutSub> {
  const name = `fan-${mode}-${ctx.subsCreated++}`
  const path = `/fan/${name}`
  const spec = mode === 'pull' ? pullSpec('end') : pushSpec(`${ctx.sink.url}${path}`, FANOUT_PUSH_BATCH, 'end')
  const { startOffset } = await putSub(ctx.gw, TOPIC, name, spec)
  return { name, path, startOffset }
}

/** Deletes a fan-out subscription; for push, checks the sink got exactly what gridgate delivered, each once. */
async function removeFanoutSub (ctx: Context, mode: 'pull' | 'push', sub: FanoutSub, firstSeq: number, counts: FanoutCounts): Promise<void> {
  const status = await subStatus(ctx.gw, TOPIC, sub.name)
  const end = (await topicInfo(ctx.gw, TOPIC)).nextOffset
  await deleteSub(ctx.gw, TOPIC, sub.name)
  counts.published += end - sub.startOffset
  if (mode === 'pull') {
    if (status.delivered !== 0 || status.cursor !== sub.startOffset) warn(ctx, `fan-out: idle pull subscription ${sub.name} moved (cursor ${status.cursor}, start ${sub.startOffset})`)
    return
  }
  const got = await ctx.sink.path(sub.path)
  const acked = await pushedEvents(ctx.gw, sub.name, 'success')
  const retried = await pushedEvents(ctx.gw, sub.name, 'retry')
  await ctx.sink.forget(sub.path)
  counts.delivered += acked
  const accounted = status.delivered + status.backlog + status.inFlight + status.deadLettered
  const problems: string[] = []
  if (got.events !== acked) problems.push(`the sink received ${got.events} events, gridgate counted ${acked} delivered`)
  if (got.duplicates > retried) problems.push(`${got.duplicates} duplicates at the sink, only ${retried} retried`)
  if (got.events > 0 && got.minSeq < firstSeq) problems.push(`seq ${got.minSeq} delivered, published before the fan-out cases`)
  if (accounted !== end - sub.startOffset) problems.push(`delivered ${status.delivered} + backlog ${status.backlog} + in flight ${status.inFlight} + dead ${status.deadLettered} = ${accounted}, but ${end - sub.startOffset} events were published since it was created`)
  for (const p of problems) warn(ctx, `fan-out push, ${sub.name}: ${p}`)
}

async function fanoutRound (ctx: Context, s: Side, mode: 'pull' | 'push', subs: number, permanent: FanoutSub, id: string, firstSeq: number, counts: FanoutCounts): Promise<void> {
  const { gw, opts } = ctx
  const extra: FanoutSub[] = []
  for (let i = 1; i < subs; i++) extra.push(await addFanoutSub(ctx, mode))
  const pool = new Pool(gw.url, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  const before = (await topicInfo(gw, TOPIC)).nextOffset
  let accepted = 0
  try {
    s.rounds.push(await timed({
      label: `publish, ${subs} ${mode} sub${subs === 1 ? '' : 's'}`,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram: s.histogram as Histogram,
      cpu: cpuProbes(ctx, mode === 'push')
    }, async (ctl) => {
      await workers(opts.inflight, ctl, gw.child, async () => {
        const from = ctx.nextSeq
        ctx.nextSeq += opts.batchEvents
        const body = batchBody(from, opts.batchEvents)
        const started = performance.now()
        const res = await pool.request({ path: `/topics/${TOPIC}:publish`, method: 'POST', headers: PUBLISH_HEADERS, body })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`publish: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
        accepted += opts.batchEvents
        ctl.done(opts.batchEvents, performance.now() - started)
      })
    }))
  } finally {
    await pool.close()
  }
  const after = (await topicInfo(gw, TOPIC)).nextOffset
  if (after - before !== accepted) warn(ctx, `fan-out ${mode}, ${subs} subscription(s): gridgate acknowledged ${accepted} events but the topic grew by ${after - before}`)
  if (mode === 'push') {
    let backlog = 0
    for (const sub of [permanent, ...extra]) backlog += (await subStatus(gw, TOPIC, sub.name)).backlog
    note(ctx, id, `${subs} subscription(s), round ${s.rounds.length}: ${accepted.toLocaleString('en-US')} events published (warm-up included); right after, the push subscriptions were ${backlog.toLocaleString('en-US')} events behind in all`)
  }
  for (const sub of extra) await removeFanoutSub(ctx, mode, sub, firstSeq, counts)
}

/** Unrecorded publishing with the fan-out client, so the first measured round does not pay for JIT warm-up. */
async function prewarmPublish (ctx: Context): Promise<void> {
  const { gw, opts } = ctx
  const pool = new Pool(gw.url, { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 })
  const scratch = latencyHistogram()
  const before = (await topicInfo(gw, TOPIC)).nextOffset
  let accepted = 0
  try {
    progress.line('\n[fan-out] pre-warm of the publish path (not recorded)')
    await timed({ label: 'publish (pre-warm)', warmupSeconds: 0, seconds: PREWARM_SECONDS, histogram: scratch }, async (ctl) => {
      await workers(opts.inflight, ctl, gw.child, async () => {
        const from = ctx.nextSeq
        ctx.nextSeq += opts.batchEvents
        const res = await pool.request({ path: `/topics/${TOPIC}:publish`, method: 'POST', headers: PUBLISH_HEADERS, body: batchBody(from, opts.batchEvents) })
        const text = await res.body.text()
        if (res.statusCode !== 200) throw new Error(`publish: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
        accepted += opts.batchEvents
        ctl.done(opts.batchEvents, 0)
      })
    })
  } finally {
    scratch.destroy()
    await pool.close()
  }
  const after = (await topicInfo(gw, TOPIC)).nextOffset
  if (after - before !== accepted) warn(ctx, `fan-out pre-warm: gridgate acknowledged ${accepted} events but the topic grew by ${after - before}`)
}

async function benchFanout (ctx: Context, mode: 'pull' | 'push'): Promise<CaseResult> {
  const { opts } = ctx
  const n = opts.fanoutSubscriptions
  const id = `delivery-fanout-${mode}`
  const what = mode === 'pull' ? 'idle pull subscriptions (no receivers)' : `push subscriptions to the sink (maxEventsPerBatch ${FANOUT_PUSH_BATCH}, startAt end)`
  const title = `publish with ${n} ${mode === 'pull' ? 'idle pull' : 'push'} subscriptions vs 1`
  progress.line(`\n[${title}] ${opts.connections} connections, ${opts.inflight} in flight, ${opts.batchEvents} events/request; ${opts.rounds} round(s) of ${opts.seconds}s`)
  const client = `undici Pool, ${opts.connections} keep-alive connections, ${opts.inflight} requests in flight, ${opts.batchEvents} events (${batchBody(0, opts.batchEvents).length} bytes) per request`
  const base = side('1 subscription (gridgate child)', `POST /topics/${TOPIC}:publish with 1 ${what} on the topic; ${client}`, 'one publish request (client side)')
  const gg = side(`${n} subscriptions (gridgate child)`, `POST /topics/${TOPIC}:publish with ${n} ${what} on the topic (${n - 1} of them created before and deleted after each round); ${client}`, 'one publish request (client side)')
  const counts: FanoutCounts = { delivered: 0, published: 0 }
  const firstSeq = ctx.nextSeq
  const permanent = await addFanoutSub(ctx, mode)
  try {
    await alternate(opts.rounds,
      (r) => fanoutRound(ctx, base, mode, 1, permanent, id, firstSeq, counts),
      (r) => fanoutRound(ctx, gg, mode, n, permanent, id, firstSeq, counts))
  } finally {
    await removeFanoutSub(ctx, mode, permanent, firstSeq, counts).catch((err: unknown) => warn(ctx, `fan-out: removing ${permanent.name}: ${(err as Error).message}`))
  }
  const result = caseResult(id, title, base, gg, { goal: FANOUT_GOAL })
  note(ctx, id, `cost of ${n} subscriptions against 1: ${(1 / result.ratio).toFixed(2)}× (1-subscription / ${n}-subscription throughput; goal ≤ ${(1 / FANOUT_GOAL).toFixed(2)}×, i.e. ratio ≥ ${FANOUT_GOAL})`)
  if (mode === 'push') {
    note(ctx, id, `the push subscriptions delivered ${counts.delivered.toLocaleString('en-US')} of the ${counts.published.toLocaleString('en-US')} events published while they existed (the rest was still backlog when they were deleted); for each, the sink's count equalled gridgate's, with no duplicates`)
  }
  return result
}

// ---------------------------------------------------------------- entry

const METHOD = 'method: gridgate (`node --import tsx src/cli.ts start`, default settings: fsync per group-commit batch, webhooks.concurrency 4; webhooks.allowLoopback true) ' +
  'and the webhook sink (bench/webhook-sink.ts: node:http, answers 200 with an empty body once it has read the request, counts events by their data.seq) are child processes; ' +
  'this process is the client. Every event is a ~285-byte telemetry CloudEvent with a unique data.seq, so duplicates and gaps show. Rounds alternate which side goes first. ' +
  'CPU: gridgate / sink / bench = the process, all threads; "gridgate loop" / "sink loop" = share of the time their main event loop was busy.'

/**
 * The delivery part: push throughput (maxEventsPerBatch 1 and 100) against undici → sink,
 * pull throughput against replay (on a backlog in segments of `backlogBatch` events, and
 * optionally in segments of `smallBacklogBatch`), and the cost of N subscriptions on ingest.
 */
export async function runDeliveryBench (opts: DeliveryBenchOptions): Promise<CaseResult[]> {
  const parts = new Set<DeliveryPart>(opts.parts ?? ['push', 'pull', 'fanout'])
  const warnings = opts.warnings ?? []
  const dataDir = await makeTempDir(opts.baseDir, 'gridgate-bench-delivery-')
  const children: Child[] = []
  const cases: CaseResult[] = []
  try {
    progress.line('\n[delivery] starting children: gridgate (node --import tsx src/cli.ts start), webhook sink (bench/webhook-sink.ts)')
    const gw = await startGateway(dataDir, opts.concurrency, opts.cpuProfileDir)
    children.push(gw.child)
    const sink = await startSink()
    children.push(sink.child)
    const ctx: Context = { opts, gw, sink, nextSeq: 0, subsCreated: 0, warnings, checks: new Map() }
    const main = parts.has('push') || parts.has('pull')
      ? await publishBacklog(ctx, TOPIC, opts.backlog, opts.backlogBatch)
      : undefined
    if (main === undefined) await expectOk(gw, 'PUT', `/topics/${TOPIC}`)
    const small = parts.has('pull') && opts.smallBacklog > 0
      ? await publishBacklog(ctx, SMALL_TOPIC, opts.smallBacklog, opts.smallBacklogBatch)
      : undefined
    if (main !== undefined && parts.has('push')) for (const b of PUSH_BATCHES) cases.push(await benchPush(ctx, main, b))
    if (main !== undefined && parts.has('pull')) cases.push(await benchPull(ctx, main, 'delivery-pull', `, segments of ${main.perSegment.toFixed(0)}`))
    if (small !== undefined) cases.push(await benchPull(ctx, small, 'delivery-pull-small-segments', `, segments of ${small.perSegment.toFixed(0)}`))
    if (parts.has('fanout')) {
      await prewarmPublish(ctx)
      cases.push(await benchFanout(ctx, 'pull'))
      cases.push(await benchFanout(ctx, 'push'))
    }
    aliveOrThrow(gw.child)
    cases.forEach((c, i) => {
      c.notes = [...(c.notes ?? []), ...(i === 0 ? [METHOD] : []), ...(ctx.checks.get(c.id) ?? [])]
    })
    return cases
  } finally {
    for (const c of children.reverse()) await c.stop(10_000)
    await removeTempDir(dataDir)
  }
}
