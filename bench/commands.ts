import { writeFile } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { Histogram } from 'hdr-histogram-js'
import { connect, type MqttClient } from 'mqtt'
import { Pool, request } from 'undici'
import { openFilesLimit, startChild, type Child } from './children.js'
import {
  combine, compact, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, processCpuSeconds, progress, removeTempDir,
  sleep, summarise, timed, type CaseResult, type Control, type CpuProbe, type Round, type SystemResult
} from './common.js'
import type { FleetCommand, FleetConnectResult, FleetCounts, FleetDevice, FleetStream } from './command-devices.js'
import { BENCH_KEY, metricSum } from './http-publish.js'
import { Ipc as IpcBase } from './ipc.js'

// Commands to devices: HTTP callers POST /devices/{id}/commands?wait=30 to gridgate and get
// the command back in its end state, against the same number of plain MQTT request/response
// round trips through bare aedes. The device fleet (bench/command-devices.ts, one mqtt.js
// client per device) is a child process and answers both brokers the same way; the callers
// (an undici Pool for gridgate, one mqtt.js requester for bare aedes) are this process, with
// the same number of requests outstanding, spread round robin over the devices.
//
//   gridgate   POST {"name":"ping","payload":{"seq":N,...}} → pending → sent (MQTT QoS 1 to
//              devices/{id}/commands/ping/{commandId}) → the device answers on
//              devices/{id}/responses/{commandId} → delivered → succeeded → the HTTP answer.
//              Every transition is a CloudEvent appended to topic `commands` and a state write,
//              both fsync'd group commits (storage.sync true, the default).
//   bare aedes The requester publishes {"seq":N,...} at QoS 1 to devices/{id}/commands/ping/{N};
//              the device answers on devices/{id}/responses/{N}; the requester, subscribed to
//              devices/+/responses/#, matches the answer by N.
//
// Two cases from the same children: the servers as shipped, and (a diagnostic) the same with
// Nagle's algorithm turned off on the MQTT sockets both servers accept (bench/server-nodelay.ts
// toggles it between rounds over IPC). The devices and the requester always turn it off on their
// side. Every answer is checked (status succeeded, result = the payload sent); after the run,
// gridgate's counters and its `commands` topic must agree with what the callers saw.

export interface CommandsBenchOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  /** Connected devices that answer (the same fleet on both brokers). */
  devices: number
  /** Requests outstanding at any time (HTTP requests in flight / MQTT requests awaiting their answer). */
  inflight: number
  /** Writes a --cpu-prof profile of the gridgate child into this directory. */
  cpuProfileDir?: string
  /**
   * Also measure with Nagle's algorithm off on the MQTT sockets both servers accept (neither
   * gridgate nor aedes turns it off by itself): a second, diagnostic case (default true).
   */
  nagleOffCase?: boolean
  /** Diagnostic: gridgate with storage.sync false (no fsync per group-commit batch). Default true. */
  storageSync?: boolean
  /** Findings (count mismatches, failures) are appended here and printed at once. */
  warnings?: string[]
}

export const COMMANDS_GOAL = 0.5

const AUTH = `SharedAccessKey ${BENCH_KEY}`
const COMMAND_HEADERS = { authorization: AUTH, 'content-type': 'application/json' }
const WAIT_SECONDS = 30
const COMMAND_NAME = 'ping'
const PREWARM_SECONDS = 3
const REGISTER_CONCURRENCY = 16
const CONNECT_CONCURRENCY = 64
const CONNECT_RATE = 2000
/** Long enough that no PINGREQ falls into a measurement. */
const KEEPALIVE_SECONDS = 300
/** An MQTT request without its answer after this long counts as failed. */
const ANSWER_TIMEOUT_MS = 30_000
/** Before a round: wait until the servers use under QUIESCE_CPU of a core over QUIESCE_SAMPLE_MS, at most QUIESCE_MAX_MS. */
const QUIESCE_CPU = 0.1
const QUIESCE_SAMPLE_MS = 200
const QUIESCE_MAX_MS = 2000
const PROBE_ARGS = ['--expose-gc', '--import', './bench/server-probe.ts']
const NODELAY_ARGS = ['--import', './bench/server-nodelay.ts']
/** Transitions each command goes through with a clean-session device: pending, sent, delivered, succeeded. */
const EVENTS_PER_COMMAND = 4

/** The command payload, the same object on both sides; the device echoes it as its result. */
function payloadOf (seq: number): { seq: number, op: string, args: { delayMs: number, tag: string } } {
  return { seq, op: 'ping', args: { delayMs: 0, tag: `bench-${seq % 1000}` } }
}

// ---------------------------------------------------------------- IPC with the children

type Ipc = IpcBase<FleetCommand, FleetStream>

interface Proc { child: Child, ipc: Ipc }
interface Server extends Proc { name: string, mqtt: string, http?: string }

const profileArgs = (dir: string | undefined): string[] => dir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]

async function startFleet (openFiles: number): Promise<Proc> {
  const child = await startChild('device fleet', ['bench/command-devices.ts'], 30_000, { ipc: true, openFiles })
  return { child, ipc: new IpcBase<FleetCommand, FleetStream>(child) }
}

async function startBareAedes (openFiles: number): Promise<Server> {
  const child = await startChild('bare aedes', ['bench/bare-aedes.ts'], 30_000, { ipc: true, nodeArgs: [...PROBE_ARGS, ...NODELAY_ARGS], openFiles })
  const mqtt = child.listeners.mqtt
  if (mqtt === undefined) throw new Error('bare aedes did not report its MQTT listener')
  return { name: 'bare aedes', child, ipc: new IpcBase<FleetCommand, FleetStream>(child), mqtt }
}

async function startGridgate (dataDir: string, maxOpenPerDevice: number, sync: boolean, openFiles: number, cpuProfileDir?: string): Promise<Server> {
  const config = {
    dataDir,
    storage: { sync },
    log: { level: 'info' },
    http: { host: '127.0.0.1', port: 0, keys: [BENCH_KEY] },
    mqtt: { host: '127.0.0.1', port: 0, wsPort: 0, tlsPort: 0, wssPort: 0 },
    commands: { maxOpenPerDevice }
  }
  const file = join(dataDir, 'bench-config.yaml')
  await writeFile(file, JSON.stringify(config, null, 2) + '\n')
  const child = await startChild('gridgate', ['src/cli.ts', 'start', '--config', file], 30_000, { ipc: true, nodeArgs: [...PROBE_ARGS, ...NODELAY_ARGS, ...profileArgs(cpuProfileDir)], openFiles })
  const { mqtt, http } = child.listeners
  if (mqtt === undefined || http === undefined) throw new Error('gridgate did not report its MQTT and HTTP listeners')
  return { name: 'gridgate', child, ipc: new IpcBase<FleetCommand, FleetStream>(child), mqtt, http }
}

/** Starts children side by side; if one fails, the others are stopped too. */
async function startAll<T extends { child: Child }> (starts: Array<Promise<T>>): Promise<T[]> {
  const settled = await Promise.allSettled(starts)
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed === undefined) return settled.map((s) => (s as PromiseFulfilledResult<T>).value)
  for (const s of settled) if (s.status === 'fulfilled') await s.value.child.stop()
  throw failed.reason
}

function aliveOrThrow (child: Child): void {
  const exit = child.exitStatus()
  if (exit !== undefined) throw new Error(`${child.name} exited (${exit}); its stderr: ${child.stderr()}`)
}

// ---------------------------------------------------------------- gridgate over HTTP

async function getText (url: string, path: string): Promise<string> {
  const res = await request(`${url}${path}`, { headers: { authorization: AUTH } })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
  return text
}

/** PUT /devices/{id} for every id, `REGISTER_CONCURRENCY` at a time; returns [id, password] pairs in id order. */
async function registerDevices (server: Server, ids: readonly string[]): Promise<FleetDevice[]> {
  const out = new Array<FleetDevice>(ids.length)
  let done = 0
  const t0 = performance.now()
  const ticker = setInterval(() => progress.write(` ${done}`), 1000)
  progress.write(`  registering ${ids.length} devices on gridgate (${REGISTER_CONCURRENCY} at a time) |`)
  const pool = new Pool(server.http as string, { connections: REGISTER_CONCURRENCY })
  let next = 0
  try {
    await Promise.all(Array.from({ length: REGISTER_CONCURRENCY }, async () => {
      while (next < ids.length) {
        const i = next++
        const id = ids[i] as string
        const res = await pool.request({ path: `/devices/${id}`, method: 'PUT', headers: { authorization: AUTH } })
        const text = await res.body.text()
        if (res.statusCode !== 201) throw new Error(`gridgate: PUT /devices/${id}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`)
        out[i] = [id, (JSON.parse(text) as { password: string }).password]
        done++
      }
    }))
  } finally {
    clearInterval(ticker)
    await pool.close()
  }
  const sec = (performance.now() - t0) / 1000
  progress.line(` => ${done} in ${sec.toFixed(1)} s (${compact(done / sec)}/s)`)
  return out
}

/** gridgate's counters that the bench reads at the edges of windows and at the end. */
interface GridgateCounters {
  batches: number
  items: number
  writeSeconds: number
  succeeded: number
  created: number
  responses: Record<'matched' | 'late' | 'unknown' | 'invalid', number>
  postCount: number
  postSeconds: number
}

const ROUTE = 'route="/devices/:id/commands"'

async function gridgateCounters (url: string): Promise<GridgateCounters> {
  const text = await getText(url, '/metrics')
  const responses = (outcome: string): number => metricSum(text, 'gridgate_command_responses_total', `outcome="${outcome}"`)
  // POSTs only (the route also has GET); metricSum matches one label substring, so filter lines here.
  const post = (name: string): number => metricSum(text.split('\n').filter((l) => l.includes('method="POST"')).join('\n'), name, ROUTE)
  return {
    batches: metricSum(text, 'gridgate_log_batch_items_count'),
    items: metricSum(text, 'gridgate_log_batch_items_sum'),
    writeSeconds: metricSum(text, 'gridgate_log_batch_write_seconds_sum'),
    succeeded: metricSum(text, 'gridgate_command_transitions_total', 'status="succeeded"'),
    created: metricSum(text, 'gridgate_command_transitions_total', 'status="pending"'),
    responses: { matched: responses('matched'), late: responses('late'), unknown: responses('unknown'), invalid: responses('invalid') },
    postCount: post('gridgate_http_request_seconds_count'),
    postSeconds: post('gridgate_http_request_seconds_sum')
  }
}

// ---------------------------------------------------------------- fleet

const deviceIds = (n: number): string[] => Array.from({ length: n }, (_, i) => `cmd-dev-${String(i).padStart(5, '0')}`)

async function connectFleet (fleet: Proc, conns: Array<{ server: Server, group: string, devices: FleetDevice[] }>): Promise<void> {
  const total = conns.reduce((n, c) => n + c.devices.length, 0)
  const counts = new Map<string, number>()
  progress.write(`  connecting ${conns.map((c) => `${c.devices.length} devices to ${c.server.name}`).join(', ')} and subscribing them (≤ ${CONNECT_CONCURRENCY} pending, ≤ ${CONNECT_RATE}/s each) |`)
  const off = fleet.ipc.onStream((m) => {
    counts.set(m.group, m.connected)
    if (m.group === conns[0]?.group) progress.write(` ${[...counts.values()].reduce((a, b) => a + b, 0)}`)
  })
  const t0 = performance.now()
  try {
    const results = await Promise.all(conns.map((c) => fleet.ipc.call<FleetConnectResult>({
      cmd: 'connect', group: c.group, url: c.server.mqtt, devices: c.devices, concurrency: CONNECT_CONCURRENCY, rate: CONNECT_RATE, keepalive: KEEPALIVE_SECONDS
    }, Math.max(120_000, c.devices.length / CONNECT_RATE * 4000))))
    const failed = results.reduce((n, r) => n + r.failed, 0)
    const first = results.find((r) => r.firstError !== undefined)?.firstError ?? ''
    progress.line(` => ${total - failed} in ${((performance.now() - t0) / 1000).toFixed(1)} s${failed > 0 ? ` (${failed} FAILED: ${first})` : ''}`)
    if (failed > 0) throw new Error(`${failed} of ${total} devices could not connect: ${first}`)
  } finally {
    off()
  }
}

// ---------------------------------------------------------------- the MQTT requester (baseline)

interface Requester {
  client: MqttClient
  /** Sends one request to `deviceId` and resolves with the answer's payload. */
  ask: (deviceId: string, seq: number, payload: Buffer) => Promise<Buffer>
  /** Answers that matched no outstanding request. */
  unmatched: () => number
  /** Rejects every outstanding request (a child died: no answer will come). */
  failAll: (reason: string) => void
  close: () => Promise<void>
}

/** Nagle's algorithm off on the requester's socket, as on the devices' (bench/command-devices.ts). */
function noDelay (client: MqttClient): void {
  (client.stream as Partial<Socket> | undefined)?.setNoDelay?.(true)
}

async function openRequester (url: string): Promise<Requester> {
  const client = connect(url, { clientId: 'bench-requester', clean: true, protocolVersion: 4, keepalive: KEEPALIVE_SECONDS, reconnectPeriod: 0, connectTimeout: 30_000 })
  noDelay(client)
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve())
    client.once('error', reject)
  })
  const granted = await client.subscribeAsync('devices/+/responses/#', { qos: 1 })
  if (granted[0]?.qos !== 1) throw new Error(`requester: subscribe to devices/+/responses/# granted QoS ${String(granted[0]?.qos)}`)
  const pending = new Map<number, { resolve: (b: Buffer) => void, reject: (e: Error) => void, at: number }>()
  let unmatched = 0
  client.on('message', (topic, payload) => {
    const seq = Number(topic.slice(topic.lastIndexOf('/') + 1))
    const p = pending.get(seq)
    if (p === undefined) { unmatched++; return }
    pending.delete(seq)
    p.resolve(payload)
  })
  // One sweep a second instead of a timer per request.
  const sweep = setInterval(() => {
    const limit = performance.now() - ANSWER_TIMEOUT_MS
    for (const [seq, p] of pending) {
      if (p.at >= limit) continue
      pending.delete(seq)
      p.reject(new Error(`no answer to request ${seq} within ${ANSWER_TIMEOUT_MS / 1000} s`))
    }
  }, 1000)
  return {
    client,
    ask: (deviceId, seq, payload) => new Promise<Buffer>((resolve, reject) => {
      pending.set(seq, { resolve, reject, at: performance.now() })
      client.publish(`devices/${deviceId}/commands/${COMMAND_NAME}/${seq}`, payload, { qos: 1 }, (err) => {
        if (err === undefined || err === null) return
        pending.delete(seq)
        reject(err)
      })
    }),
    unmatched: () => unmatched,
    failAll: (reason) => {
      for (const p of pending.values()) p.reject(new Error(reason))
      pending.clear()
    },
    close: async () => {
      clearInterval(sweep)
      for (const p of pending.values()) p.reject(new Error('requester closed'))
      pending.clear()
      await client.endAsync(true)
    }
  }
}

// ---------------------------------------------------------------- measured rounds

type Mode = 'shipped' | 'nagle-off'

/** What one server did over the whole run (pre-warm and warm-up included), for the checks. */
interface Tally {
  /** Requests sent. */
  sent: number
  /** Round trips that came back correct. */
  ok: number
  /** Answers that came back wrong (not succeeded, or another payload). */
  wrong: number
  firstWrong?: string
}

/** One server in one mode: its measured rounds. */
interface Side {
  server: Server
  tally: Tally
  mode: Mode
  rounds: Round[]
  histogram: Histogram
  /** gridgate only: counters summed over the measured windows. */
  window?: { batches: number, items: number, writeSeconds: number, postCount: number, postSeconds: number }
}

interface Context {
  opts: CommandsBenchOptions
  ids: string[]
  fleet: Proc
  gw: Server
  bare: Server
  pool: Pool
  requester: Requester
  tally: { gg: Tally, bare: Tally }
  /** Next sequence number per server (also the MQTT request's id). */
  seq: { gg: number, bare: number }
  /** The servers' current socket mode. */
  mode?: Mode
  quiesceSeconds: number
}

function cpuProbes (ctx: Context, server: Server): CpuProbe[] {
  return [
    { name: 'server', read: () => processCpuSeconds(server.child.pid) },
    { name: 'server loop', read: async () => (await server.ipc.probe()).loopActiveMs / 1000 },
    { name: 'server GC', read: async () => (await server.ipc.probe()).gcMs / 1000 },
    { name: 'devices', read: () => processCpuSeconds(ctx.fleet.child.pid) },
    { name: 'devices loop', read: async () => (await ctx.fleet.ipc.call<{ loopActiveMs: number }>({ cmd: 'loop' })).loopActiveMs / 1000 },
    { name: 'bench', read: ownCpuSeconds }
  ]
}

/** Puts both servers' accepted MQTT sockets into `mode`; checks every device (and the requester) is among them. */
async function setMode (ctx: Context, mode: Mode): Promise<void> {
  if (ctx.mode === mode) return
  const [gg, bare] = await Promise.all([ctx.gw.ipc.setNoDelay(mode === 'nagle-off'), ctx.bare.ipc.setNoDelay(mode === 'nagle-off')])
  if (gg < ctx.ids.length || bare < ctx.ids.length + 1) throw new Error(`server-nodelay sees ${gg} sockets in gridgate and ${bare} in bare aedes, expected ${ctx.ids.length} and ${ctx.ids.length + 1}`)
  ctx.mode = mode
}

/** Waits (at most QUIESCE_MAX_MS) until both servers are nearly idle, so LevelDB work left over from one round does not land in the next. */
async function quiesce (ctx: Context): Promise<void> {
  const t0 = performance.now()
  const cpu = async (): Promise<number> => (await Promise.all([ctx.gw, ctx.bare].map((s) => processCpuSeconds(s.child.pid)))).reduce<number>((a, b) => a + (b ?? 0), 0)
  while (performance.now() - t0 < QUIESCE_MAX_MS) {
    const a = await cpu()
    await sleep(QUIESCE_SAMPLE_MS)
    if ((await cpu()) - a < QUIESCE_SAMPLE_MS / 1000 * QUIESCE_CPU) break
  }
  ctx.quiesceSeconds += (performance.now() - t0) / 1000
}

/** Loops `body` in `n` workers until ctl.stopped; an error while a child is dead ends the run. */
async function workers (n: number, ctl: Control, children: readonly Child[], body: () => Promise<void>): Promise<void> {
  await Promise.all(Array.from({ length: n }, async () => {
    while (!ctl.stopped) {
      try {
        await body()
      } catch (err) {
        for (const c of children) aliveOrThrow(c)
        ctl.failed((err as Error).message)
        await sleep(10)
      }
    }
  }))
}

function wrongAnswer (tally: Tally, ctl: Control, message: string): void {
  tally.wrong++
  tally.firstWrong ??= message
  ctl.failed(message)
}

interface CommandAnswer { id?: unknown, status?: unknown, result?: { seq?: unknown } | null, error?: unknown }

/** One gridgate command: POST with wait, the answer must be the command in state succeeded with the echoed payload. */
async function gridgateCommand (ctx: Context, ctl: Control): Promise<void> {
  const tally = ctx.tally.gg
  const seq = ctx.seq.gg++
  const id = ctx.ids[seq % ctx.ids.length] as string
  const body = JSON.stringify({ name: COMMAND_NAME, payload: payloadOf(seq) })
  const started = performance.now()
  tally.sent++
  const res = await ctx.pool.request({ path: `/devices/${id}/commands?wait=${WAIT_SECONDS}`, method: 'POST', headers: COMMAND_HEADERS, body })
  const text = await res.body.text()
  const latency = performance.now() - started
  if (res.statusCode !== 201) { wrongAnswer(tally, ctl, `POST /devices/${id}/commands: HTTP ${res.statusCode}: ${text.slice(0, 300)}`); return }
  const c = JSON.parse(text) as CommandAnswer
  if (c.status !== 'succeeded' || c.result?.seq !== seq) {
    wrongAnswer(tally, ctl, `command ${String(c.id)} to ${id}: status ${String(c.status)}, result ${JSON.stringify(c.result)?.slice(0, 100)}, error ${String(c.error)}`)
    return
  }
  tally.ok++
  ctl.done(1, latency)
}

interface DeviceAnswer { status?: unknown, result?: { seq?: unknown } | null }

/** One bare-aedes round trip: request to the device, its answer back to the requester. */
async function bareRoundTrip (ctx: Context, ctl: Control): Promise<void> {
  const tally = ctx.tally.bare
  const seq = ctx.seq.bare++
  const id = ctx.ids[seq % ctx.ids.length] as string
  const payload = Buffer.from(JSON.stringify(payloadOf(seq)))
  const started = performance.now()
  tally.sent++
  const answer = await ctx.requester.ask(id, seq, payload)
  const latency = performance.now() - started
  const a = JSON.parse(answer.toString('utf8')) as DeviceAnswer
  if (a.status !== 'succeeded' || a.result?.seq !== seq) {
    wrongAnswer(tally, ctl, `request ${seq} to ${id}: answer ${answer.toString('utf8').slice(0, 200)}`)
    return
  }
  tally.ok++
  ctl.done(1, latency)
}

const MODE_LABEL: Record<Mode, string> = { shipped: '', 'nagle-off': ', Nagle off' }

async function round (ctx: Context, side: Side, prewarm = false): Promise<void> {
  const { opts } = ctx
  await setMode(ctx, side.mode)
  await quiesce(ctx)
  const isGg = side.server === ctx.gw
  const histogram = latencyHistogram()
  const url = side.server.http
  let before: GridgateCounters | undefined
  const onWindow = url === undefined || prewarm || side.window === undefined
    ? undefined
    : async (open: boolean): Promise<void> => {
      const now = await gridgateCounters(url)
      if (open) { before = now; return }
      const w = side.window
      if (before === undefined || w === undefined) return
      w.batches += now.batches - before.batches
      w.items += now.items - before.items
      w.writeSeconds += now.writeSeconds - before.writeSeconds
      w.postCount += now.postCount - before.postCount
      w.postSeconds += now.postSeconds - before.postSeconds
    }
  try {
    const result = await timed({
      label: `${side.server.name}${MODE_LABEL[side.mode]}${prewarm ? ' (pre-warm)' : ''}`,
      warmupSeconds: prewarm ? 0 : opts.warmupSeconds,
      seconds: prewarm ? PREWARM_SECONDS : opts.seconds,
      histogram,
      cpu: cpuProbes(ctx, side.server),
      onWindow
    }, async (ctl) => {
      await workers(opts.inflight, ctl, [side.server.child, ctx.fleet.child], isGg ? () => gridgateCommand(ctx, ctl) : () => bareRoundTrip(ctx, ctl))
    })
    if (!prewarm) {
      side.rounds.push(result)
      side.histogram.add(histogram)
    }
  } finally {
    histogram.destroy()
  }
}

function systemResult (name: string, description: string, latencyOf: string, side: Side): SystemResult {
  const r: SystemResult = {
    name,
    description,
    ...combine(side.rounds),
    latency: summarise(side.histogram),
    latencyOf,
    rounds: side.rounds,
    cpuPercent: cpuAverage(side.rounds),
    loopUtilization: loopUtilization(side.rounds)
  }
  const w = side.window
  if (w !== undefined && w.batches > 0) r.batches = { batches: w.batches, events: w.items, avgEventsPerBatch: w.items / w.batches, avgWriteMs: w.writeSeconds * 1000 / w.batches }
  if (w !== undefined && w.postCount > 0) r.serverRequestMeanMs = w.postSeconds * 1000 / w.postCount
  return r
}

// ---------------------------------------------------------------- checks

async function checks (ctx: Context, warn: (text: string) => void): Promise<string | undefined> {
  const url = ctx.gw.http as string
  const counters = await gridgateCounters(url)
  const topic = JSON.parse(await getText(url, '/topics/commands')) as { events: number }
  const ggFleet = await ctx.fleet.ipc.call<FleetCounts>({ cmd: 'counts', group: 'gg' })
  const bareFleet = await ctx.fleet.ipc.call<FleetCounts>({ cmd: 'counts', group: 'bare' })
  const problems: string[] = []
  const { gg, bare } = ctx.tally
  if (gg.wrong > 0) problems.push(`gridgate: ${gg.wrong} commands did not come back succeeded with their payload (${gg.firstWrong ?? ''})`)
  if (bare.wrong > 0) problems.push(`bare aedes: ${bare.wrong} wrong answers (${bare.firstWrong ?? ''})`)
  if (counters.created !== gg.sent) problems.push(`gridgate counted ${counters.created} commands created, the callers sent ${gg.sent}`)
  if (counters.succeeded !== gg.ok) problems.push(`gridgate counted ${counters.succeeded} commands succeeded, the callers got ${gg.ok} succeeded answers`)
  const odd = counters.responses.late + counters.responses.unknown + counters.responses.invalid
  if (odd > 0) problems.push(`gridgate counted ${counters.responses.late} late, ${counters.responses.unknown} unknown and ${counters.responses.invalid} invalid answers`)
  if (counters.responses.matched !== ggFleet.answered) problems.push(`gridgate matched ${counters.responses.matched} answers, the devices published ${ggFleet.answered}`)
  if (topic.events !== EVENTS_PER_COMMAND * counters.created) problems.push(`topic 'commands' holds ${topic.events} events, expected ${EVENTS_PER_COMMAND} per command = ${EVENTS_PER_COMMAND * counters.created}`)
  if (ggFleet.received !== gg.sent || ggFleet.failed > 0) problems.push(`the devices received ${ggFleet.received} commands from gridgate (${gg.sent} sent), ${ggFleet.failed} answers failed (${ggFleet.firstError ?? ''})`)
  if (bareFleet.received !== bare.sent || bareFleet.failed > 0) problems.push(`the devices received ${bareFleet.received} requests through bare aedes (${bare.sent} sent), ${bareFleet.failed} answers failed (${bareFleet.firstError ?? ''})`)
  if (ctx.requester.unmatched() > 0) problems.push(`the requester got ${ctx.requester.unmatched()} answers that matched no request`)
  if (ggFleet.alive !== ctx.ids.length || bareFleet.alive !== ctx.ids.length) problems.push(`devices still connected: ${ggFleet.alive} to gridgate, ${bareFleet.alive} to bare aedes, of ${ctx.ids.length}`)
  for (const p of problems) warn(`commands: ${p}`)
  if (problems.length > 0) return undefined
  return `checks (whole run, pre-warm and warm-up included): gridgate created ${counters.created.toLocaleString('en-US')} commands and every one came back succeeded with its payload as result ` +
    `(= its succeeded counter; ${counters.responses.matched.toLocaleString('en-US')} answers matched, none late, unknown or invalid); topic 'commands' holds ${topic.events.toLocaleString('en-US')} events = ${EVENTS_PER_COMMAND} per command ` +
    `(pending, sent, delivered, succeeded); bare aedes: ${bare.ok.toLocaleString('en-US')} round trips, each answer matched and correct; all ${ctx.ids.length} devices still connected to both.`
}

// ---------------------------------------------------------------- entry

function caseOf (ctx: Context, gg: Side, bare: Side, maxOpenPerDevice: number): CaseResult {
  const { devices, inflight } = ctx.opts
  const nagleOff = gg.mode === 'nagle-off'
  const sockets = nagleOff
    ? 'Nagle\'s algorithm turned off on the MQTT sockets the server accepts (bench/server-nodelay.ts; the server does not do it by itself)'
    : 'MQTT sockets as the server leaves them (Nagle on)'
  const fleetText = `${devices} devices = mqtt.js clients (MQTT 3.1.1, TCP, clean session, Nagle off) in the fleet child (bench/command-devices.ts), each subscribed to devices/{id}/commands/# at QoS 1, answering every message at once at QoS 1`
  const base = systemResult(`bare aedes request/response${nagleOff ? ', Nagle off' : ''} (child)`,
    `Aedes.createBroker() (bench/bare-aedes.ts: in-memory persistence, allow-all authenticate), ${sockets}; one mqtt.js requester in this process (Nagle off) subscribed to devices/+/responses/# publishes each request at QoS 1 to devices/{id}/commands/${COMMAND_NAME}/{n} and matches the answer on devices/{id}/responses/{n}; ${inflight} requests outstanding, round robin over the devices; ${fleetText}`,
    'one request: publish → the device\'s answer received by the requester (bench side)', bare)
  const ggr = systemResult(`gridgate POST /commands?wait${nagleOff ? ', Nagle off' : ''} (child)`,
    `gridgate start (storage.sync ${String(ctx.opts.storageSync !== false)}, mqtt.persistence true, commands.maxOpenPerDevice ${maxOpenPerDevice}), ${sockets}; undici Pool, ${inflight} keep-alive connections, ${inflight} POST /devices/{id}/commands?wait=${WAIT_SECONDS} in flight, round robin over the devices, each answer must be the command in state succeeded with the payload as result; ${fleetText}`,
    'one command: POST → HTTP answer with the command in its end state (bench side)', gg)
  gg.histogram.destroy()
  bare.histogram.destroy()
  const roundRatios = ggr.rounds.map((g, i) => g.eventsPerSecond / (base.rounds[i]?.eventsPerSecond ?? Number.NaN))
  const c: CaseResult = {
    id: nagleOff ? 'commands-roundtrip-nagle-off' : 'commands-roundtrip',
    title: nagleOff
      ? `commands round trip, ${devices} devices, ${inflight} in flight, Nagle off on the servers' MQTT sockets (diagnostic)`
      : `commands round trip, ${devices} devices, ${inflight} in flight`,
    baseline: base,
    gridgate: ggr,
    ratio: ggr.eventsPerSecond / base.eventsPerSecond,
    roundRatios,
    medianRoundRatio: median(roundRatios),
    goal: COMMANDS_GOAL
  }
  const b = ggr.batches
  c.notes = [
    `round trips/s: gridgate ${compact(ggr.eventsPerSecond)}, bare aedes ${compact(base.eventsPerSecond)}; ` +
      `latency: gridgate p50 ${ggr.latency.p50Ms.toFixed(2)} ms, p99 ${ggr.latency.p99Ms.toFixed(2)} ms, max ${ggr.latency.maxMs.toFixed(2)} ms; ` +
      `bare aedes p50 ${base.latency.p50Ms.toFixed(2)} ms, p99 ${base.latency.p99Ms.toFixed(2)} ms, max ${base.latency.maxMs.toFixed(2)} ms.` +
      (ggr.serverRequestMeanMs === undefined ? '' : ` gridgate measured its POST handler at ${ggr.serverRequestMeanMs.toFixed(2)} ms on average (gridgate_http_request_seconds).`),
    ...(b === undefined
      ? []
      : [`gridgate's log group commit (all topics; here topic 'commands', ${EVENTS_PER_COMMAND} transition events per command): ${b.batches.toLocaleString('en-US')} batches in the windows, ` +
        `${b.avgEventsPerBatch.toFixed(1)} appends per batch, ${b.avgWriteMs.toFixed(2)} ms per fsync'd write on average, ${(b.events / ggr.events).toFixed(2)} appends per command completed. ` +
        'The command store\'s own group commit (one state write per transition, after the event) has no metric.'])
  ]
  return c
}

/**
 * The commands part: commands/s and round-trip latency of POST /devices/{id}/commands?wait
 * against plain MQTT request/response through bare aedes, the same device fleet answering;
 * with the servers' sockets as shipped and (unless nagleOffCase is false) with Nagle off.
 */
export async function runCommandsBench (opts: CommandsBenchOptions): Promise<CaseResult[]> {
  const warnings = opts.warnings ?? []
  const warn = (text: string): void => {
    progress.line(`  !!!!!!!! ${text} !!!!!!!!`)
    if (!warnings.includes(text)) warnings.push(text)
  }
  const { devices, inflight } = opts
  const modes: Mode[] = opts.nagleOffCase === false ? ['shipped'] : ['shipped', 'nagle-off']
  const openFiles = devices * 2 + 1024
  const limit = openFilesLimit()
  // The callers spread over the devices; more in flight than devices means several per device.
  const maxOpenPerDevice = Math.max(100, Math.ceil(inflight / devices) * 2)
  const dataDir = await makeTempDir(opts.baseDir, 'gridgate-bench-commands-')
  const children: Child[] = []
  let pool: Pool | undefined
  let requester: Requester | undefined
  const exitWatchers: Array<() => void> = []
  try {
    progress.line(`\n[commands] ${devices} devices answering at once, ${inflight} requests outstanding; ${opts.rounds} round(s) of ${opts.warmupSeconds}s warm-up + ${opts.seconds}s per system` +
      ` and socket mode (${modes.join(', ')})${limit !== undefined && limit < openFiles ? `; children get ulimit -n ${openFiles}` : ''}`)
    progress.line('  starting children: device fleet (bench/command-devices.ts), gridgate (src/cli.ts start), bare aedes (bench/bare-aedes.ts)')
    const [fleet] = await startAll([startFleet(openFiles)])
    if (fleet === undefined) throw new Error('no device fleet')
    children.push(fleet.child)
    const [gw, bare] = await startAll<Server>([startGridgate(dataDir, maxOpenPerDevice, opts.storageSync !== false, openFiles, opts.cpuProfileDir), startBareAedes(openFiles)])
    if (gw === undefined || bare === undefined) throw new Error('no servers')
    children.push(gw.child, bare.child)
    if (opts.cpuProfileDir !== undefined) progress.line(`  gridgate (pid ${gw.child.pid}) writes a CPU profile to ${opts.cpuProfileDir} when it stops`)

    const ids = deviceIds(devices)
    const registered = await registerDevices(gw, ids)
    // bare aedes lets everyone in; it gets the same CONNECT packets.
    await connectFleet(fleet, [{ server: gw, group: 'gg', devices: registered }, { server: bare, group: 'bare', devices: registered }])
    requester = await openRequester(bare.mqtt)
    pool = new Pool(gw.http as string, { connections: inflight, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: (WAIT_SECONDS + 30) * 1000 })
    // A child that dies mid-run: fail what is outstanding at once instead of after the timeouts.
    for (const c of children) {
      const onExit = (): void => {
        const reason = `${c.name} exited (${c.exitStatus() ?? '?'}) during the run; its stderr: ${c.stderr().slice(-2000)}`
        requester?.failAll(reason)
        pool?.destroy(new Error(reason)).catch(() => {})
      }
      c.proc.once('exit', onExit)
      exitWatchers.push(() => c.proc.off('exit', onExit))
    }

    const ctx: Context = {
      opts, ids, fleet, gw, bare, pool, requester, tally: { gg: { sent: 0, ok: 0, wrong: 0 }, bare: { sent: 0, ok: 0, wrong: 0 } }, seq: { gg: 0, bare: 0 }, quiesceSeconds: 0
    }
    const side = (server: Server, mode: Mode): Side => {
      const s: Side = { server, tally: server === gw ? ctx.tally.gg : ctx.tally.bare, mode, rounds: [], histogram: latencyHistogram() }
      if (server === gw) s.window = { batches: 0, items: 0, writeSeconds: 0, postCount: 0, postSeconds: 0 }
      return s
    }
    const pairs = modes.map((mode) => ({ mode, gg: side(gw, mode), bare: side(bare, mode) }))

    progress.line(`\n[commands] pre-warm (not recorded): ${PREWARM_SECONDS}s on each`)
    const first = pairs[0] as (typeof pairs)[number]
    await round(ctx, first.bare, true)
    await round(ctx, first.gg, true)
    progress.line(`\n[commands] ${inflight} outstanding over ${devices} devices, ${opts.rounds} round(s) of ${opts.seconds}s`)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      // The socket modes alternate too, and each pair is measured back to back.
      const order = r % 2 === 0 ? pairs : [...pairs].reverse()
      for (const [i, p] of order.entries()) {
        for (const s of (r + i) % 2 === 0 ? [p.bare, p.gg] : [p.gg, p.bare]) await round(ctx, s)
      }
    }
    for (const c of children) aliveOrThrow(c)
    const checked = await checks(ctx, warn)

    const cases = pairs.map((p) => caseOf(ctx, p.gg, p.bare, maxOpenPerDevice))
    const method = `method: gridgate (\`src/cli.ts start\` as bench/children.ts starts it, ${opts.storageSync === false ? '**storage.sync false (diagnostic): no fsync**' : 'default storage: fsync per group-commit batch'}), bare aedes and the device fleet are child processes; this process is the caller ` +
      '(undici Pool for gridgate, one mqtt.js requester for bare aedes) with the same number of requests outstanding, round robin over the same devices. ' +
      `Payload {"seq":N,...} (${JSON.stringify(payloadOf(123456)).length} bytes); the device answers {"status":"succeeded","result":<payload>}. ` +
      'events/s = round trips completed per second; ratio = gridgate commands/s / bare aedes round trips/s. ' +
      'The devices and the requester turn Nagle\'s algorithm off on their sockets (a device writes its answer and a PUBACK back to back). ' +
      `${modes.length > 1 ? 'The Nagle-off case uses the same children: bench/server-nodelay.ts, preloaded into both servers, turns it off on their accepted MQTT sockets between rounds (and back on for the as-shipped rounds); rounds alternate the socket mode and, within it, which server goes first. ' : ''}` +
      'CPU: server = the broker child under test, devices = the fleet child, bench = this process (all threads); "loop" = share of the time the main event loop was busy, "GC" = share in GC pauses. ' +
      `Both servers got an unrecorded ${PREWARM_SECONDS} s pre-warm, and before every round the bench waited until both were nearly idle (${ctx.quiesceSeconds.toFixed(1)} s in all).`
    cases.forEach((c, i) => { c.notes = [...(i === 0 ? [method] : []), ...(c.notes ?? []), ...(i === 0 && checked !== undefined ? [checked] : [])] })
    return cases
  } finally {
    for (const off of exitWatchers) off()
    await requester?.close().catch(() => {})
    await pool?.close().catch(() => {})
    for (const c of children.reverse()) await c.stop(10_000)
    await removeTempDir(dataDir)
  }
}
