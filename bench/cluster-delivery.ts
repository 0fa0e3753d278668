import { createServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { Redis } from 'ioredis'
import { Pool, request } from 'undici'
import { preferredOwner } from '../src/core/leases.js'
import { REDIS_MISSING, redisServerInstalled, startRedisServer, type RedisServer } from '../test/helpers/redis-server.js'
import { startChild, type Child } from './children.js'
import {
  combine, compact, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, processCpuSeconds, progress, removeTempDir,
  sleep, summarise, telemetryEvent, timed, type CaseResult, type Control, type CpuProbe, type LatencySummary, type Round, type SystemResult
} from './common.js'
import { BENCH_KEY } from './http-publish.js'
import { startAll, startGridgate, type Server } from './mqtt-ingest.js'
import type { PathStats } from './webhook-sink.js'

// The cluster part's delivery cases (issue 15's goals), all in one run on this machine against
// one redis-server (appendonly yes, appendfsync always) started here:
//   publish   HTTP publish (the http part's load: undici Pool, batches of events) on a redis
//             node against the same on a leveldb node; goal ≥ 0.5.
//   pull      receivers loop :receive(100) + :acknowledge on a pre-filled topic, on the
//             subscription's owner (a redis node) against a leveldb node; goal ≥ 0.5.
//   push      several push subscriptions (maxEventsPerBatch 100) spread over two redis nodes
//             by ownership drain a backlog into bench/webhook-sink.ts; baseline the same
//             subscriptions on one leveldb node; goal ≥ 20,000 events/s for the cluster.
//   takeover  kill -9 of a push subscription's owner while events are published: time from
//             the kill to the first request from the next owner, against the lease
//             (cluster.heartbeatExpiryMs, default settings); goal ≤ lease + 1 s.

export interface ClusterDeliveryOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  /** Publish client: keep-alive connections, requests in flight, events per request (the http part's). */
  connections: number
  inflight: number
  batchEvents: number
  warnings: string[]
  /** Writes a CPU profile of each gridgate node's main thread for every measured pull and push window into this directory. */
  cpuProfileDir?: string
}

export const PUBLISH_GOAL = 0.5
export const PULL_GOAL = 0.5
export const PUSH_GOAL = 20_000
/** The defaults of cluster.heartbeatIntervalMs / heartbeatExpiryMs (src/config/schema.ts): the nodes run with them. */
const INTERVAL_MS = 1000
const LEASE_MS = 5000
const TAKEOVER_SLACK_MS = 1000

const AUTH = `SharedAccessKey ${BENCH_KEY}`
const PUBLISH_HEADERS = { authorization: AUTH, 'content-type': 'application/cloudevents-batch+json; charset=utf-8' }
const JSON_HEADERS = { authorization: AUTH, 'content-type': 'application/json' }
const PREWARM_SECONDS = 3
const PULL_RECEIVERS = 4
const PULL_MAX_EVENTS = 100
const PULL_BACKLOG = 400_000
const PUSH_SUBSCRIPTIONS = 8
const PUSH_BATCH = 100
const PUSH_BACKLOG = 150_000
const BACKLOG_PER_REQUEST = 1000
const TAKEOVER_BATCH = 10
const TAKEOVER_PUBLISH_MS = 20
/** Requests the killed owner had on the wire may still be read just after its exit; the next owner cannot deliver within this (its lease outlives it by far). */
const TAKEOVER_GUARD_MS = 250

// ---------------------------------------------------------------- events and HTTP

/** A JSON array of `count` telemetry events whose data.seq runs from `from`. */
function batchBody (from: number, count: number): Buffer {
  return Buffer.from(JSON.stringify(Array.from({ length: count }, (_, i) => telemetryEvent(from + i))), 'utf8')
}

async function api (url: string, method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await request(`${url}${path}`, {
    method,
    headers: body === undefined ? { authorization: AUTH } : JSON_HEADERS,
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await res.body.text()
  if (res.statusCode < 200 || res.statusCode > 204) throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 400)}`)
  return text === '' ? undefined : JSON.parse(text)
}

interface SubStatus { cursor: number, backlog: number, inFlight: number, delivered: number, failed: number, deadLettered: number, lastError: string | null, node?: string }
interface NodeInfo { id: string, listeners: { http?: string } }

const status = async (url: string, topic: string, name: string): Promise<SubStatus> => await api(url, 'GET', `/topics/${topic}/eventsubscriptions/${name}/status`) as SubStatus
const clusterNodes = async (url: string): Promise<NodeInfo[]> => (await api(url, 'GET', '/cluster/nodes') as { value: NodeInfo[] }).value

function pushSpec (endpointUrl: string, maxEventsPerBatch: number, startAt: 'beginning' | 'end'): unknown {
  return { properties: { startAt, deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { endpointType: 'WebHook', properties: { endpointUrl, maxEventsPerBatch } } } } } }
}
const pullSpec = { properties: { startAt: 'beginning', deliveryConfiguration: { deliveryMode: 'Queue' } } }

/** Publishes `events` events into a new topic, BACKLOG_PER_REQUEST per request, one request at a time (so seq = offset). */
async function publishBacklog (url: string, topic: string, events: number): Promise<void> {
  await api(url, 'PUT', `/topics/${topic}`)
  const started = performance.now()
  const pool = new Pool(url, { connections: 1, pipelining: 1 })
  try {
    progress.write(`  ${url}: topic '${topic}', a backlog of ${events.toLocaleString('en-US')} events ...`)
    for (let from = 0; from < events; from += BACKLOG_PER_REQUEST) {
      const res = await pool.request({ path: `/topics/${topic}:publish`, method: 'POST', headers: PUBLISH_HEADERS, body: batchBody(from, Math.min(BACKLOG_PER_REQUEST, events - from)) })
      const text = await res.body.text()
      if (res.statusCode !== 200) throw new Error(`publish: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
    }
  } finally {
    await pool.close()
  }
  const seconds = (performance.now() - started) / 1000
  const info = await api(url, 'GET', `/topics/${topic}`) as { events: number }
  if (info.events !== events) throw new Error(`published ${events} events but topic '${topic}' holds ${info.events}`)
  progress.line(` ${seconds.toFixed(1)} s (${compact(events / seconds)} ev/s)`)
}

// ---------------------------------------------------------------- the webhook sink (child)

let nextAsk = 1

interface Sink { child: Child, url: string, stats: () => Promise<Record<string, PathStats>>, forget: (path: string) => Promise<void> }

async function startSink (): Promise<Sink> {
  const child = await startChild('webhook sink', ['bench/webhook-sink.ts'], 30_000, { ipc: true })
  const url = child.listeners.http
  if (url === undefined) throw new Error('the webhook sink did not report its listener')
  const ask = async (message: Record<string, unknown>): Promise<Record<string, PathStats>> => await new Promise((resolve, reject) => {
    const id = nextAsk++
    const onMessage = (m: unknown): void => {
      const reply = m as { sink?: number, paths?: Record<string, PathStats> }
      if (reply.sink !== id) return
      done()
      resolve(reply.paths ?? {})
    }
    const timer = setTimeout(() => { done(); reject(new Error('the webhook sink did not answer within 10 s')) }, 10_000)
    function done (): void { clearTimeout(timer); child.proc.off('message', onMessage) }
    child.proc.on('message', onMessage)
    child.proc.send({ ...message, sink: id })
  })
  return { child, url, stats: async () => await ask({ op: 'stats' }), forget: async (path) => { await ask({ op: 'forget', path }) } }
}

// ---------------------------------------------------------------- results

interface Side { name: string, description: string, latencyOf: string, histogram: Histogram, rounds: Round[], withLatency: boolean }

const side = (name: string, description: string, latencyOf: string, withLatency = true): Side => ({ name, description, latencyOf, histogram: latencyHistogram(), rounds: [], withLatency })

const NO_LATENCY: LatencySummary = { count: 0, meanMs: Number.NaN, p50Ms: Number.NaN, p90Ms: Number.NaN, p99Ms: Number.NaN, p999Ms: Number.NaN, maxMs: Number.NaN }

function systemResult (s: Side): SystemResult {
  const result: SystemResult = {
    name: s.name,
    description: s.description,
    ...combine(s.rounds),
    latency: s.withLatency ? summarise(s.histogram) : NO_LATENCY,
    latencyOf: s.latencyOf,
    rounds: s.rounds,
    cpuPercent: cpuAverage(s.rounds),
    loopUtilization: loopUtilization(s.rounds)
  }
  s.histogram.destroy()
  return result
}

function caseOf (id: string, title: string, base: Side, gg: Side, notes: string[], goal?: number): CaseResult {
  const baseline = systemResult(base)
  const gridgate = systemResult(gg)
  const roundRatios = gg.rounds.map((g, i) => g.eventsPerSecond / (base.rounds[i]?.eventsPerSecond ?? Number.NaN))
  return { id, title, baseline, gridgate, ratio: gridgate.eventsPerSecond / baseline.eventsPerSecond, roundRatios, medianRoundRatio: median(roundRatios), notes, ...(goal === undefined ? {} : { goal }) }
}

/** Alternates which side goes first. */
async function alternate (rounds: number, base: (r: number) => Promise<void>, gg: (r: number) => Promise<void>): Promise<void> {
  for (let r = 0; r < rounds; r++) {
    progress.line(` round ${r + 1}/${rounds}`)
    if (r % 2 === 0) { await base(r); await gg(r) } else { await gg(r); await base(r) }
  }
}

/** Loops `body` in `n` workers until ctl.stopped; errors are counted (a dead child ends the run). */
async function workers (n: number, ctl: Control, children: readonly Child[], body: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => {
    while (!ctl.stopped) {
      try {
        await body()
      } catch (err) {
        for (const c of children) if (c.exitStatus() !== undefined) throw new Error(`${c.name} exited (${c.exitStatus() ?? ''}); its stderr: ${c.stderr()}`)
        ctl.failed((err as Error).message)
        await sleep(10)
      }
    }
  }))
}

// ---------------------------------------------------------------- the bench

interface Context {
  opts: ClusterDeliveryOptions
  redis: RedisServer
  redisClient: Redis
  sink: Sink
  level: Server
  nodes: [Server, Server]
  /** Every child started, for the final stop (killed ones included). */
  children: Child[]
  subs: number
  dirs: string[]
}

function warn (ctx: Context, text: string): void {
  ctx.opts.warnings.push(text)
  progress.line(`\n  !!!!!!!! WARNING: ${text}\n`)
}

/** Redis' own CPU seconds (INFO cpu: main thread and its background threads). */
async function redisCpuSeconds (ctx: Context): Promise<number | undefined> {
  const info = await ctx.redisClient.info('cpu').catch(() => '')
  const value = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN)
  const total = value('used_cpu_user') + value('used_cpu_sys')
  return Number.isFinite(total) ? total : undefined
}

type CommandStats = Map<string, { calls: number, usec: number }>

async function commandStats (ctx: Context): Promise<CommandStats> {
  const info = await ctx.redisClient.info('commandstats').catch(() => '')
  const out: CommandStats = new Map()
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) })
  return out
}

/**
 * Redis' work in a measured window (INFO commandstats before and after), and how long one write
 * (INCR: answered after the AOF fsync) and one read (GET) took meanwhile, one at a time, for the notes.
 */
function redisWindow (ctx: Context): { onWindow: (open: boolean) => Promise<void>, note: (events: number) => string } {
  let before: CommandStats = new Map()
  let after: CommandStats = new Map()
  let probing = false
  let probe: Promise<void> = Promise.resolve()
  const writes: number[] = []
  const reads: number[] = []
  const timeIt = async (into: number[], call: () => Promise<unknown>): Promise<void> => {
    const t0 = performance.now()
    await call()
    into.push(performance.now() - t0)
  }
  const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN
  return {
    onWindow: async (open) => {
      if (open) {
        before = await commandStats(ctx)
        probing = true
        probe = (async () => {
          // `probing` is cleared when the window closes, while this loop awaits.
          // eslint-disable-next-line no-unmodified-loop-condition
          while (probing) {
            await timeIt(writes, async () => await ctx.redisClient.incr('bench-probe:writes'))
            await timeIt(reads, async () => await ctx.redisClient.get('bench-probe:writes'))
            await sleep(5)
          }
        })().catch(() => undefined)
      } else {
        probing = false
        await probe
        after = await commandStats(ctx)
      }
    },
    note: (events) => {
      const rows = [...after].map(([cmd, a]) => ({ cmd, calls: a.calls - (before.get(cmd)?.calls ?? 0), usec: a.usec - (before.get(cmd)?.usec ?? 0) }))
        .filter((r) => r.calls > 0).sort((x, y) => y.usec - x.usec)
      const usec = rows.reduce((t, r) => t + r.usec, 0)
      const per = (n: number): string => (n / events * 100).toFixed(1)
      const ms = (xs: number[]): string => `${quantile(xs, 0.5).toFixed(1)} / ${quantile(xs, 0.99).toFixed(1)} ms`
      return `Redis in the window: ${(usec / events).toFixed(1)} µs of Redis time per event; calls per 100 events, by Redis time: ${rows.slice(0, 6).map((r) => `${r.cmd} ${per(r.calls)} (${(r.usec / Math.max(1, usec) * 100).toFixed(0)}%)`).join(', ')} (commands run by scripts are counted too); ` +
        `meanwhile one write (INCR, answered after the AOF fsync) took ${ms(writes)} (p50 / p99) and one read (GET) ${ms(reads)} from the bench process`
    }
  }
}

/** With a profile directory: CPU profiles of the servers' main threads over the measured window. */
function profileWindow (ctx: Context, servers: readonly Server[], label: string): (open: boolean) => Promise<void> {
  const dir = ctx.opts.cpuProfileDir
  return async (open) => {
    if (dir === undefined) return
    await Promise.all(servers.map(async (srv, i) => {
      if (open) await srv.ipc.profile('start')
      else await srv.ipc.profile('stop', join(dir, `${label}-${servers.length === 1 ? 'node' : `node${i + 1}`}-${Date.now()}.cpuprofile`))
    }))
  }
}

function cpuProbes (ctx: Context, servers: readonly Server[], withRedis: boolean, withSink: boolean): CpuProbe[] {
  const probes: CpuProbe[] = []
  servers.forEach((s, i) => {
    const name = servers.length === 1 ? 'gridgate' : `node ${i + 1}`
    probes.push({ name, read: () => processCpuSeconds(s.child.pid) })
    probes.push({ name: `${name} loop`, read: async () => (await s.ipc.probe()).loopActiveMs / 1000 })
  })
  if (withRedis) probes.push({ name: 'redis', read: () => redisCpuSeconds(ctx) })
  if (withSink) probes.push({ name: 'sink', read: () => processCpuSeconds(ctx.sink.child.pid) })
  probes.push({ name: 'bench', read: ownCpuSeconds })
  return probes
}

const httpOf = (s: Server): string => s.http as string

/** The server a subscription's status names as its owner (the leveldb node is its own). */
async function ownerOf (ctx: Context, via: Server, topic: string, name: string): Promise<Server> {
  const node = (await status(httpOf(via), topic, name)).node
  if (node === undefined) return via
  const info = (await clusterNodes(httpOf(via))).find((n) => n.id === node)
  const owner = ctx.nodes.find((s) => s.http === info?.listeners.http)
  if (owner === undefined) throw new Error(`subscription ${topic}/${name} is owned by ${node}, not one of this bench's nodes`)
  return owner
}

// ------------------------------------------------ 1. HTTP publish

async function benchPublish (ctx: Context): Promise<CaseResult> {
  const { opts } = ctx
  const title = `cluster http publish, redis node vs leveldb node, ${opts.batchEvents} events/request`
  progress.line(`\n[${title}] ${opts.connections} connections, ${opts.inflight} requests in flight, ${opts.rounds} round(s) of ${opts.seconds}s`)
  const bodies = Array.from({ length: 32 }, (_, b) => batchBody(b * opts.batchEvents, opts.batchEvents))
  const topic = 'bench-publish'
  const [nodeA] = ctx.nodes
  for (const s of [ctx.level, nodeA]) await api(httpOf(s), 'PUT', `/topics/${topic}`)
  const client = `undici Pool, ${opts.connections} keep-alive connections, ${opts.inflight} requests in flight, ${opts.batchEvents} events (${bodies[0]?.length ?? 0} bytes) per request`
  const base = side('gridgate, leveldb (child)', `POST /topics/${topic}:publish on a node of the leveldb engine (storage.sync true); ${client}`, 'one publish request (client side)')
  const gg = side('gridgate, redis node (child)', `POST /topics/${topic}:publish on a node of the redis engine (one of two; redis-server on this machine, appendfsync always); ${client}`, 'one publish request (client side)')
  const accepted = new Map<Server, number>([[ctx.level, 0], [nodeA, 0]])
  const notes: string[] = []
  const run = async (s: Side | undefined, server: Server, label: string): Promise<void> => {
    const pool = new Pool(httpOf(server), { connections: opts.connections, pipelining: 1, keepAliveTimeout: 60_000 })
    const scratch = s === undefined ? latencyHistogram() : undefined
    const rw = server === ctx.level ? undefined : redisWindow(ctx)
    try {
      const round = await timed({
        label,
        warmupSeconds: s === undefined ? 0 : opts.warmupSeconds,
        seconds: s === undefined ? PREWARM_SECONDS : opts.seconds,
        histogram: s?.histogram ?? scratch as Histogram,
        cpu: cpuProbes(ctx, [server], server !== ctx.level, false),
        ...(rw === undefined ? {} : { onWindow: rw.onWindow })
      }, async (ctl) => {
        let i = 0
        await workers(opts.inflight, ctl, [server.child], async () => {
          const body = bodies[i++ % bodies.length] as Buffer
          const started = performance.now()
          const res = await pool.request({ path: `/topics/${topic}:publish`, method: 'POST', headers: PUBLISH_HEADERS, body })
          const text = await res.body.text()
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
          accepted.set(server, (accepted.get(server) ?? 0) + opts.batchEvents)
          ctl.done(opts.batchEvents, performance.now() - started)
        })
      })
      s?.rounds.push(round)
      if (s !== undefined && rw !== undefined) notes.push(`${server.name}, round ${s.rounds.length}: ${rw.note(round.events)}`)
    } finally {
      scratch?.destroy()
      await pool.close()
    }
  }
  progress.line(' pre-warm (not recorded)')
  await run(undefined, ctx.level, 'leveldb (pre-warm)')
  await run(undefined, nodeA, 'redis node (pre-warm)')
  await alternate(opts.rounds, async () => await run(base, ctx.level, 'leveldb node'), async () => await run(gg, nodeA, 'redis node'))
  for (const [server, n] of accepted) {
    const held = (await api(httpOf(server), 'GET', `/topics/${topic}`) as { events: number }).events
    if (held !== n) warn(ctx, `http publish on ${server.name}: ${n} events acknowledged but the topic holds ${held}`)
    else notes.push(`check: ${server.name} acknowledged ${n.toLocaleString('en-US')} events (pre-warm included) and its topic holds exactly that many`)
  }
  // What Redis keeps of it is not needed any more.
  await api(httpOf(nodeA), 'DELETE', `/topics/${topic}`).catch(() => undefined)
  return caseOf('cluster-http-publish-redis-vs-leveldb', title, base, gg, notes, PUBLISH_GOAL)
}

// ------------------------------------------------ 2. pull

interface Received { value: Array<{ brokerProperties: { lockToken: string }, event: { data: { seq: number } } }> }
interface Settled { succeededLockTokens: string[], failedLockTokens: unknown[] }

async function benchPull (ctx: Context): Promise<CaseResult> {
  const { opts } = ctx
  const title = `cluster pull receive(${PULL_MAX_EVENTS}) + acknowledge, redis node vs leveldb node, ${PULL_RECEIVERS} receivers`
  progress.line(`\n[${title}] ${opts.rounds} round(s) of ${opts.seconds}s; a fresh subscription (startAt beginning) every round`)
  const topic = 'bench-pull'
  const [nodeA] = ctx.nodes
  for (const s of [ctx.level, nodeA]) await publishBacklog(httpOf(s), topic, PULL_BACKLOG)
  const what = (engine: string): string => `a Queue subscription on a ${PULL_BACKLOG.toLocaleString('en-US')}-event backlog (${BACKLOG_PER_REQUEST} events per publish request) on ${engine}; ` +
    `${PULL_RECEIVERS} receivers each loop POST :receive?maxEvents=${PULL_MAX_EVENTS}&maxWaitTime=10, then POST :acknowledge with its lock tokens (undici Pool, ${PULL_RECEIVERS} connections)`
  const base = side('gridgate, leveldb (child)', what('a leveldb node'), `one :receive of up to ${PULL_MAX_EVENTS} events plus its :acknowledge (client side)`)
  const gg = side('gridgate, redis node (child)', `${what('the redis node that owns the subscription (of two)')}, answers parsed`, `one :receive of up to ${PULL_MAX_EVENTS} events plus its :acknowledge (client side)`)
  const notes: string[] = []
  const run = async (s: Side, via: Server, r: number): Promise<void> => {
    const name = `pull-${ctx.subs++}`
    await api(httpOf(via), 'PUT', `/topics/${topic}/eventsubscriptions/${name}`, pullSpec)
    const owner = await ownerOf(ctx, via, topic, name)
    const pool = new Pool(httpOf(owner), { connections: PULL_RECEIVERS, pipelining: 1, keepAliveTimeout: 60_000 })
    const seen = new Set<number>()
    let acked = 0
    let duplicates = 0
    let empty = 0
    const base = `/topics/${topic}/eventsubscriptions/${name}`
    const rw = owner === ctx.level ? undefined : redisWindow(ctx)
    const profile = profileWindow(ctx, [owner], `pull-${owner === ctx.level ? 'leveldb' : 'redis'}-r${r + 1}`)
    try {
      s.rounds.push(await timed({
        label: owner === ctx.level ? 'leveldb node' : 'redis node (owner)',
        warmupSeconds: opts.warmupSeconds,
        seconds: opts.seconds,
        histogram: s.histogram,
        cpu: cpuProbes(ctx, [owner], owner !== ctx.level, false),
        onWindow: async (open) => {
          await rw?.onWindow(open)
          await profile(open)
        }
      }, async (ctl) => {
        await workers(PULL_RECEIVERS, ctl, [owner.child], async () => {
          const started = performance.now()
          const res = await pool.request({ path: `${base}:receive?maxEvents=${PULL_MAX_EVENTS}&maxWaitTime=10`, method: 'POST', headers: { authorization: AUTH } })
          const text = await res.body.text()
          if (res.statusCode !== 200) throw new Error(`receive: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
          const got = (JSON.parse(text) as Received).value
          if (got.length === 0) { empty++; return }
          for (const v of got) {
            if (seen.has(v.event.data.seq)) duplicates++
            seen.add(v.event.data.seq)
          }
          const ack = await pool.request({ path: `${base}:acknowledge`, method: 'POST', headers: JSON_HEADERS, body: JSON.stringify({ lockTokens: got.map((v) => v.brokerProperties.lockToken) }) })
          const answer = JSON.parse(await ack.body.text()) as Settled
          if (ack.statusCode !== 200) throw new Error(`acknowledge: HTTP ${ack.statusCode}`)
          if (answer.failedLockTokens.length > 0) ctl.failed(`acknowledge: ${answer.failedLockTokens.length} lock tokens failed: ${JSON.stringify(answer.failedLockTokens[0])}`)
          acked += answer.succeededLockTokens.length
          ctl.done(answer.succeededLockTokens.length, performance.now() - started)
        })
      }))
    } finally {
      await pool.close()
    }
    const st = await status(httpOf(owner), topic, name)
    await api(httpOf(via), 'DELETE', `${base}`)
    const problems: string[] = []
    if (st.delivered !== acked) problems.push(`gridgate counts ${st.delivered} acknowledged, the receivers ${acked}`)
    if (duplicates > 0) problems.push(`${duplicates} events received twice`)
    if (st.inFlight !== 0) problems.push(`${st.inFlight} events still locked after the receivers stopped`)
    if (empty > 0 || st.backlog === 0) problems.push(`the backlog ran out (${empty} empty receives): the figure is too low`)
    for (const p of problems) warn(ctx, `pull on ${owner.name}, round ${r + 1}: ${p}`)
    if (problems.length === 0) notes.push(`${owner.name}, round ${r + 1}: ${acked.toLocaleString('en-US')} events received once each and acknowledged (= the subscription's delivered count), none left locked, ${st.backlog.toLocaleString('en-US')} left`)
    if (rw !== undefined) notes.push(`${owner.name}, round ${r + 1}: ${rw.note(s.rounds[s.rounds.length - 1]?.events ?? 0)}`)
  }
  await alternate(opts.rounds, (r) => run(base, ctx.level, r), (r) => run(gg, ctx.nodes[r % 2] as Server, r))
  await api(httpOf(nodeA), 'DELETE', `/topics/${topic}`).catch(() => undefined)
  return caseOf('cluster-pull-redis-vs-leveldb', title, base, gg, notes, PULL_GOAL)
}

// ------------------------------------------------ 3. push, two nodes

/** `count` subscription names, alternately preferred by each node (rendezvous hashing, as ownership spreads them). */
function spreadNames (topic: string, prefix: string, nodeIds: readonly string[], count: number): string[] {
  const names: string[] = []
  const want = (i: number): string | undefined => nodeIds.length < 2 ? undefined : [...nodeIds].sort()[i % nodeIds.length]
  for (let k = 0; names.length < count && k < 10_000; k++) {
    const name = `${prefix}-${k}`
    const target = want(names.length)
    if (target === undefined || preferredOwner(`${topic}!${name}`, nodeIds) === target) names.push(name)
  }
  return names
}

async function benchPush (ctx: Context): Promise<CaseResult> {
  const { opts, sink } = ctx
  const title = `cluster push to webhook, ${PUSH_SUBSCRIPTIONS} subscriptions × ${PUSH_BATCH} events/request, two redis nodes vs one leveldb node`
  progress.line(`\n[${title}] ${opts.rounds} round(s) of ${opts.seconds}s; fresh subscriptions (startAt beginning) every round`)
  const topic = 'bench-push'
  const [nodeA, nodeB] = ctx.nodes
  for (const s of [ctx.level, nodeA]) await publishBacklog(httpOf(s), topic, PUSH_BACKLOG)
  const ids = (await clusterNodes(httpOf(nodeA))).map((n) => n.id)
  const what = `${PUSH_SUBSCRIPTIONS} push subscriptions (maxEventsPerBatch ${PUSH_BATCH}, webhooks.concurrency 4 each, startAt beginning) drain a ${PUSH_BACKLOG.toLocaleString('en-US')}-event backlog into the webhook sink (bench/webhook-sink.ts, answers 200); events/s = the sink's count of all of them in the window`
  const base = side('gridgate, one leveldb node (child)', `${what}; one node of the leveldb engine delivers all`, 'not measured: gridgate makes the requests', false)
  const gg = side('gridgate, two redis nodes (children)', `${what}; two nodes of the redis engine, each delivering the subscriptions it owns`, 'not measured: gridgate makes the requests', false)
  const notes: string[] = []
  const run = async (s: Side, cluster: boolean, r: number): Promise<void> => {
    const servers = cluster ? [nodeA, nodeB] : [ctx.level]
    const prefix = `push-${ctx.subs++}`
    const names = cluster ? spreadNames(topic, prefix, ids, PUSH_SUBSCRIPTIONS) : Array.from({ length: PUSH_SUBSCRIPTIONS }, (_, i) => `${prefix}-${i}`)
    const paths = names.map((n) => `/cluster/${n}`)
    // Distinct events: one delivered twice (at least once, after an ownership change) counts once.
    const sumOf = async (): Promise<number> => { const all = await sink.stats(); return paths.reduce((t, p) => t + (all[p]?.distinct ?? 0), 0) }
    const duplicatesNow = async (): Promise<number> => { const all = await sink.stats(); return paths.reduce((t, p) => t + (all[p]?.duplicates ?? 0), 0) }
    let atOpen = 0
    let atClose = 0
    let duplicatesAtClose = 0
    for (const [i, name] of names.entries()) {
      const via = servers[i % servers.length] as Server
      await api(httpOf(via), 'PUT', `/topics/${topic}/eventsubscriptions/${name}`, pushSpec(`${sink.url}${paths[i] as string}`, PUSH_BATCH, 'beginning'))
    }
    const ownersOf = async (): Promise<string[]> => await Promise.all(names.map(async (name) => (await status(httpOf(servers[0] as Server), topic, name)).node ?? 'leveldb'))
    const ownersAtStart = await ownersOf()
    const scratch = latencyHistogram()
    const rw = cluster ? redisWindow(ctx) : undefined
    const profile = profileWindow(ctx, servers, `push-${cluster ? 'redis' : 'leveldb'}-r${r + 1}`)
    let round: Round
    try {
      round = await timed({
        label: cluster ? 'two redis nodes' : 'one leveldb node',
        warmupSeconds: opts.warmupSeconds,
        seconds: opts.seconds,
        histogram: scratch,
        cpu: cpuProbes(ctx, servers, cluster, true),
        onWindow: async (open) => {
          if (open) atOpen = await sumOf(); else { atClose = await sumOf(); duplicatesAtClose = await duplicatesNow() }
          await rw?.onWindow(open)
          await profile(open)
        }
      }, async (ctl) => {
        // Progress only: the figure is the sink's count at the window's edges.
        let last = 0
        while (!ctl.stopped) {
          await sleep(100)
          for (const srv of servers) if (srv.child.exitStatus() !== undefined) throw new Error(`${srv.name} exited: ${srv.child.stderr()}`)
          const now = await sumOf()
          if (now > last) ctl.done(now - last, 0)
          last = now
        }
      })
    } finally {
      scratch.destroy()
    }
    round.events = atClose - atOpen
    round.eventsPerSecond = round.events / round.seconds
    s.rounds.push(round)
    const owners = new Map<string, number>()
    let backlog = 0
    let failed = 0
    let moved = 0
    for (const [i, name] of names.entries()) {
      const st = await status(httpOf(servers[0] as Server), topic, name)
      owners.set(st.node ?? 'leveldb', (owners.get(st.node ?? 'leveldb') ?? 0) + 1)
      if ((st.node ?? 'leveldb') !== ownersAtStart[i]) moved++
      backlog += st.backlog
      failed += st.failed + st.deadLettered
    }
    for (const name of names) await api(httpOf(servers[0] as Server), 'DELETE', `/topics/${topic}/eventsubscriptions/${name}`)
    // An owner on the other node learns of the deletion a moment later: wait for the sink to settle.
    let settled = await sumOf()
    for (let i = 0; i < 50; i++) {
      await sleep(200)
      const now = await sumOf()
      if (now === settled) break
      settled = now
    }
    const all = await sink.stats()
    const problems: string[] = []
    let delivered = 0
    let duplicates = 0
    for (const p of paths) {
      const got = all[p]
      if (got === undefined) { problems.push(`nothing arrived on ${p}`); continue }
      delivered += got.events
      if (got.duplicates > 0) duplicates += got.duplicates
      if (got.minSeq !== 0 || got.distinct !== got.maxSeq + 1) problems.push(`${p} holds ${got.distinct} distinct seqs from ${got.minSeq} to ${got.maxSeq}, not 0..n-1`)
    }
    for (const p of paths) await sink.forget(p)
    if (failed > 0) problems.push(`${failed} failed or dead-lettered deliveries`)
    if (backlog === 0) problems.push('the backlog ran out: the figure is too low')
    for (const p of problems) warn(ctx, `push ${cluster ? 'two redis nodes' : 'leveldb node'}, round ${r + 1}: ${p}`)
    const spread = [...owners.values()].join(' + ')
    const label = cluster ? 'two redis nodes' : 'leveldb node'
    if (problems.length === 0) {
      notes.push(`${label}, round ${r + 1}: subscriptions per owner ${spread}${moved > 0 ? ` (${moved} changed owner during the round)` : ''}; the sink got ${delivered.toLocaleString('en-US')} events, each subscription's from offset 0 on, ` +
        `${duplicates === 0 ? 'each once' : `${duplicates.toLocaleString('en-US')} of them twice (counted once in events/s; ${duplicatesAtClose.toLocaleString('en-US')} of those by the end of the window, the rest while the subscriptions were deleted)`}; ${backlog.toLocaleString('en-US')} still backlog at the end`)
    }
    if (rw !== undefined) notes.push(`${label}, round ${r + 1}: ${rw.note(round.events)}`)
  }
  await alternate(opts.rounds, (r) => run(base, false, r), (r) => run(gg, true, r))
  await api(httpOf(nodeA), 'DELETE', `/topics/${topic}`).catch(() => undefined)
  const result = caseOf('cluster-push-two-nodes', title, base, gg, notes)
  const perRound = median(result.gridgate.rounds.map((x) => x.eventsPerSecond))
  const met = [result.gridgate.eventsPerSecond, perRound].filter((v) => v >= PUSH_GOAL).length
  result.goalCheck = { text: `≥ ${PUSH_GOAL.toLocaleString('en-US')} events/s per cluster`, outcome: met === 2 ? 'met' : met === 0 ? 'missed' : 'borderline' }
  return result
}

// ------------------------------------------------ 4. takeover after kill -9

/** A webhook receiver in this process: the arrival time of every request, on the bench's clock. */
interface Receiver { url: string, arrivals: Array<{ at: number, seqs: number[] }>, close: () => Promise<void> }

async function startReceiver (): Promise<Receiver> {
  const arrivals: Receiver['arrivals'] = []
  const server: HttpServer = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method === 'OPTIONS') {
        const origin = req.headers['webhook-request-origin']
        res.writeHead(200, { 'webhook-allowed-origin': typeof origin === 'string' ? origin : '*', 'content-length': 0 }).end()
        return
      }
      const at = performance.now()
      const events = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Array<{ data: { seq: number } }>
      arrivals.push({ at, seqs: events.map((e) => e.data.seq) })
      res.writeHead(200, { 'content-length': 0 }).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    close: async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) }
  }
}

async function startRedisNode (ctx: Context, name: string): Promise<Server> {
  const dir = await makeTempDir(ctx.opts.baseDir, 'gridgate-bench-cluster-node-')
  ctx.dirs.push(dir)
  const [server] = await startAll([startGridgate(name, dir, true, 4096, undefined, redisConfig(ctx.redis))], 4096, ctx.opts.warnings)
  ctx.children.push((server as Server).child)
  return server as Server
}

function redisConfig (redis: RedisServer): Record<string, unknown> {
  return { storage: { engine: 'redis' }, redis: { url: redis.url, keyPrefix: 'bench:' }, webhooks: { allowLoopback: true } }
}

async function benchTakeover (ctx: Context): Promise<CaseResult> {
  const rounds = Math.max(3, ctx.opts.rounds + 1)
  const title = `cluster push takeover after kill -9 of the owner, default heartbeat and lease (median of ${rounds} rounds)`
  progress.line(`\n[${title}] ${rounds} round(s): publish ${TAKEOVER_BATCH} events every ${TAKEOVER_PUBLISH_MS} ms, kill -9 the subscription's owner, time to the first request from the next owner`)
  const topic = 'bench-takeover'
  await api(httpOf(ctx.nodes[0]), 'PUT', `/topics/${topic}`)
  const receiver = await startReceiver()
  const times: number[] = []
  const notes: string[] = []
  let seq = 0
  try {
    for (let r = 0; r < rounds; r++) {
      const name = `takeover-${ctx.subs++}`
      const path = `/takeover/${name}`
      const from = receiver.arrivals.length
      await api(httpOf(ctx.nodes[0]), 'PUT', `/topics/${topic}/eventsubscriptions/${name}`, pushSpec(`${receiver.url}${path}`, TAKEOVER_BATCH, 'end'))
      const owner = await ownerOf(ctx, ctx.nodes[0], topic, name)
      const survivor = ctx.nodes.find((n) => n !== owner) as Server
      // Publish on the node that stays, for the whole round.
      let publishing = true
      let published = 0
      const firstSeq = seq
      const publisher = (async () => {
        const pool = new Pool(httpOf(survivor), { connections: 1, pipelining: 1 })
        try {
          // `publishing` is cleared by the round while this loop awaits.
          // eslint-disable-next-line no-unmodified-loop-condition
          while (publishing) {
            const due = performance.now() + TAKEOVER_PUBLISH_MS
            const res = await pool.request({ path: `/topics/${topic}:publish`, method: 'POST', headers: PUBLISH_HEADERS, body: batchBody(seq, TAKEOVER_BATCH) })
            await res.body.text()
            if (res.statusCode !== 200) throw new Error(`publish: HTTP ${res.statusCode}`)
            seq += TAKEOVER_BATCH
            published += TAKEOVER_BATCH
            await sleep(Math.max(0, due - performance.now()))
          }
        } finally {
          await pool.close()
        }
      })()
      const deliveredSince = (): Set<number> => new Set(receiver.arrivals.slice(from).flatMap((a) => a.seqs))
      // Deliveries flow through the owner for a while (its lease renewed a few times) before the kill.
      const flowing = performance.now() + 30_000
      while (deliveredSince().size < 10 * TAKEOVER_BATCH && performance.now() < flowing) await sleep(20)
      await sleep(1500 + Math.random() * INTERVAL_MS)
      const killedAt = performance.now()
      const exited = new Promise((resolve) => owner.child.proc.once('exit', resolve))
      owner.child.proc.kill('SIGKILL')
      await exited
      const before = receiver.arrivals.length
      let first: number | undefined
      const deadline = killedAt + LEASE_MS + 30_000
      while (first === undefined && performance.now() < deadline) {
        first = receiver.arrivals.slice(before).find((a) => a.at > killedAt + TAKEOVER_GUARD_MS)?.at
        if (first === undefined) await sleep(5)
      }
      publishing = false
      await publisher
      if (first === undefined) throw new Error(`takeover round ${r + 1}: no delivery within ${(LEASE_MS + 30_000) / 1000} s of the kill`)
      const ms = first - killedAt
      times.push(ms)
      const now = (await status(httpOf(survivor), topic, name)).node
      const survivorId = (await clusterNodes(httpOf(survivor))).find((n) => n.listeners.http === survivor.http)?.id
      // Every event published, before, during and after the outage, arrives (at least once).
      const allBy = performance.now() + 20_000
      while (deliveredSince().size < published && performance.now() < allBy) await sleep(50)
      const got = deliveredSince()
      let missing = 0
      for (let s = firstSeq; s < firstSeq + published; s++) if (!got.has(s)) missing++
      await api(httpOf(survivor), 'DELETE', `/topics/${topic}/eventsubscriptions/${name}`)
      if (now !== survivorId) warn(ctx, `takeover round ${r + 1}: the subscription's status names ${now ?? '?'} after the kill, not the node left (${survivorId ?? '?'})`)
      if (missing > 0) warn(ctx, `takeover round ${r + 1}: ${missing} of ${published} published events never arrived`)
      const line = `round ${r + 1}: ${owner.name} (owner) killed; ${survivor.name} delivered ${(ms / 1000).toFixed(2)} s later (lease ${(LEASE_MS / 1000).toFixed(1)} s); all ${published.toLocaleString('en-US')} events published in the round arrived${missing > 0 ? ` except ${missing}` : ''}`
      progress.line(`  ${line}`)
      notes.push(line)
      // A new node in place of the killed one; it must be live for a few intervals before the next round, so no handover interferes.
      const replaced = ctx.nodes.indexOf(owner)
      ctx.nodes[replaced] = await startRedisNode(ctx, `gridgate, redis node ${replaced + 1} (restart ${r + 1})`)
      await sleep(INTERVAL_MS * 5)
    }
  } finally {
    await receiver.close()
  }
  // Exact figures of a few rounds (nearest rank), not a histogram's buckets.
  const sorted = [...times].sort((a, b) => a - b)
  const rank = (q: number): number => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN)
  const summary: LatencySummary = { count: times.length, meanMs: Math.round(times.reduce((t, x) => t + x, 0) / times.length), p50Ms: Math.round(median(times)), p90Ms: rank(0.9), p99Ms: rank(0.99), p999Ms: rank(0.999), maxMs: rank(1) }
  const none: Round[] = []
  const takeover: SystemResult = {
    name: 'next owner (redis node)',
    description: `two redis nodes with the default cluster.heartbeatIntervalMs ${INTERVAL_MS} and heartbeatExpiryMs ${LEASE_MS}; a push subscription (maxEventsPerBatch ${TAKEOVER_BATCH}) to a receiver in the bench process; ${TAKEOVER_BATCH} events published every ${TAKEOVER_PUBLISH_MS} ms on the node that stays; the owner (from GET …/status node) killed with SIGKILL ≥ 1.5 s after deliveries started`,
    events: times.length,
    seconds: 0,
    eventsPerSecond: Number.NaN,
    opsPerSecond: Number.NaN,
    errors: 0,
    latency: summary,
    latencyOf: `kill -9 of the owner → the first webhook request after it (requests within ${TAKEOVER_GUARD_MS} ms of the kill are the dead owner's last ones)`,
    rounds: none,
    loopUtilization: 0
  }
  const lease: SystemResult = { ...takeover, name: 'lease (cluster.heartbeatExpiryMs)', description: 'how long a lease lives without renewal: a dead owner\'s subscriptions cannot move sooner than its last renewal plus this', latency: { count: 1, meanMs: LEASE_MS, p50Ms: LEASE_MS, p90Ms: LEASE_MS, p99Ms: LEASE_MS, p999Ms: LEASE_MS, maxMs: LEASE_MS }, latencyOf: 'the lease time' }
  const med = median(times)
  const max = Math.max(...times)
  const bound = LEASE_MS + TAKEOVER_SLACK_MS
  const met = [med, max].filter((v) => v <= bound).length
  notes.push(`takeover median ${(med / 1000).toFixed(2)} s, max ${(max / 1000).toFixed(2)} s over ${times.length} rounds (each: ${times.map((t) => (t / 1000).toFixed(2)).join(', ')} s); the lease expires ${LEASE_MS / 1000} s after its last renewal (renewed every ${INTERVAL_MS / 1000} s), then the node left takes it at its next ownership step; ratio = takeover / lease (lower is better)`)
  return {
    id: 'cluster-push-takeover',
    title,
    baseline: lease,
    gridgate: takeover,
    ratio: med / LEASE_MS,
    roundRatios: times.map((t) => t / LEASE_MS),
    medianRoundRatio: med / LEASE_MS,
    compare: { what: 'kill -9 → first delivery by the next owner', unit: 's', gridgate: med / 1000, baseline: LEASE_MS / 1000, digits: 2 },
    goalCheck: { text: `median and max ≤ lease + ${TAKEOVER_SLACK_MS / 1000} s (${bound / 1000} s)`, outcome: met === 2 ? 'met' : met === 0 ? 'missed' : 'borderline' },
    notes
  }
}

// ---------------------------------------------------------------- entry

export const CLUSTER_DELIVERY_CASES = ['publish', 'pull', 'push', 'takeover'] as const
export type ClusterDeliveryCase = typeof CLUSTER_DELIVERY_CASES[number]

export async function benchClusterDelivery (opts: ClusterDeliveryOptions, which: readonly ClusterDeliveryCase[] = CLUSTER_DELIVERY_CASES): Promise<CaseResult[]> {
  if (!redisServerInstalled()) {
    opts.warnings.push(`cluster delivery cases skipped: ${REDIS_MISSING}`)
    return []
  }
  const dirs = [await makeTempDir(opts.baseDir, 'gridgate-bench-cluster-delivery-leveldb-')]
  const children: Child[] = []
  let redis: RedisServer | undefined
  let redisClient: Redis | undefined
  try {
    progress.line('\n[cluster delivery] starting redis-server (appendonly yes, appendfsync always), the webhook sink, gridgate on leveldb and two gridgate nodes on redis')
    redis = await startRedisServer()
    redisClient = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 })
    const sink = await startSink()
    children.push(sink.child)
    for (let i = 0; i < 2; i++) dirs.push(await makeTempDir(opts.baseDir, 'gridgate-bench-cluster-node-'))
    // One after the other: three start-ups at once on a busy machine can take longer than a child's start timeout.
    const servers: Server[] = []
    for (const [i, config] of [{ webhooks: { allowLoopback: true } }, redisConfig(redis), redisConfig(redis)].entries()) {
      const [server] = await startAll([startGridgate(i === 0 ? 'gridgate, leveldb' : `gridgate, redis node ${i}`, dirs[i] as string, true, 4096, undefined, config)], 4096, opts.warnings)
      servers.push(server as Server)
      children.push((server as Server).child)
    }
    const [level, nodeA, nodeB] = servers as [Server, Server, Server]
    const ctx: Context = { opts, redis, redisClient, sink, level, nodes: [nodeA, nodeB], children, subs: 0, dirs }
    // Both nodes see each other before subscriptions are spread over them.
    const seen = performance.now() + 15_000
    while ((await clusterNodes(httpOf(nodeA))).length < 2 && performance.now() < seen) await sleep(100)
    const cases: CaseResult[] = []
    if (which.includes('publish')) cases.push(await benchPublish(ctx))
    if (which.includes('pull')) cases.push(await benchPull(ctx))
    if (which.includes('push')) cases.push(await benchPush(ctx))
    if (which.includes('takeover')) cases.push(await benchTakeover(ctx))
    const method = 'method: every gridgate is a child (`node --import tsx src/cli.ts start`, default settings but the engine, webhooks.allowLoopback true), as are the webhook sink and the redis-server ' +
      '(appendonly yes, appendfsync always, so a 200 from a redis node waits for Redis\' fsync as one from the leveldb node waits for LevelDB\'s); all share this machine\'s cores with the bench process (the client). ' +
      'CPU: "node N" / "gridgate" / "redis" / "sink" / "bench" = the process (redis: INFO cpu), "… loop" = share of the time the node\'s main event loop was busy. Rounds alternate which side goes first.'
    if (cases[0] !== undefined) cases[0].notes = [method, ...(cases[0].notes ?? [])]
    for (const c of cases) progress.line(`  ${c.title}: ${c.compare === undefined ? `${compact(c.gridgate.eventsPerSecond)}/s against ${compact(c.baseline.eventsPerSecond)}/s` : `${c.compare.gridgate.toFixed(2)} ${c.compare.unit} against ${c.compare.baseline.toFixed(2)}`}, ratio ${c.ratio.toFixed(2)}`)
    return cases
  } finally {
    for (const c of children.reverse()) await c.stop()
    redisClient?.disconnect()
    await redis?.stop()
    for (const d of dirs) await removeTempDir(d)
  }
}
