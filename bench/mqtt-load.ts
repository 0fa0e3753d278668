import { performance, PerformanceObserver } from 'node:perf_hooks'
import { connect, type MqttClient } from 'mqtt'
import { pacedStarts } from './common.js'

// The MQTT load generator: a child process of the bench (IPC channel, advanced
// serialization) holding the simulated devices, one mqtt.js client each, so the load does
// not share an event loop with the bench or the broker. The bench sends commands
// ({ call, cmd, ... }) and gets one reply per call ({ reply, ok, result | error }); while a
// run is on, PUBACK latencies stream back as { stream: 'acks', lat: Float64Array } every
// FLUSH_MS, failed publishes as { stream: 'errors' }.

export type Device = [id: string, password: string | undefined]

/**
 * What the devices publish: 'status' (the default) is a status report with a timestamp, a
 * sequence number, five readings and two strings (about 150 bytes); 'readings' is plain
 * telemetry, four numeric fields such as {"temperature":21.3,"humidity":40.1,"pressure":1013.2,"battery":3.71}.
 */
export type PayloadKind = 'status' | 'readings'

export type LoadCommand =
  | { cmd: 'connect', group: string, url: string, devices: Device[], concurrency: number, rate: number, keepalive: number }
  | { cmd: 'run', group: string, mode: 'window', inflight: number }
  | { cmd: 'run', group: string, mode: 'rate', rate: number }
  | { cmd: 'stop' }
  | { cmd: 'counts', group: string }
  | { cmd: 'end', group: string }
  | { cmd: 'drop', group: string }
  | { cmd: 'loop' }
  | { cmd: 'payload', kind: PayloadKind }

export interface ConnectResult {
  connected: number
  failed: number
  firstError?: string
  seconds: number
  /** CONNECT sent -> CONNACK received (ms), one per connected client. */
  connectMs: Float64Array
}

export interface StopResult {
  published: number
  acked: number
  failed: number
  /** Publishes still without PUBACK when the drain gave up. */
  unacked: number
}

export type LoadStream =
  | { stream: 'acks', lat: Float64Array }
  | { stream: 'errors', count: number, first: string }
  | { stream: 'connecting', group: string, connected: number, failed: number }

const FLUSH_MS = 50
const DRAIN_TIMEOUT_MS = 15_000
const PAYLOADS = 256

interface Sim {
  client: MqttClient
  topic: string
  inflight: number
  alive: boolean
}

interface Group {
  devices: Sim[]
  published: number
  acked: number
  failed: number
}

const groups = new Map<string, Group>()

/** Garbage collection pauses of this process (ms), for the bench's CPU columns. */
let gcMs = 0
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration }).observe({ entryTypes: ['gc'] })

/**
 * Telemetry as a small device sends it, values varying deterministically. Pre-built, so the
 * load generator spends its time on MQTT. 'status': about 150 bytes of JSON.
 */
function buildPayloads (kind: PayloadKind): Buffer[] {
  return Array.from({ length: PAYLOADS }, (_, n) => Buffer.from(JSON.stringify(kind === 'status'
    ? {
        ts: Date.UTC(2026, 0, 1) + n * 1000,
        seq: 100_000 + n,
        temperature: Math.round((18 + (n % 97) / 10) * 100) / 100,
        humidity: Math.round((35 + (n % 311) / 10) * 10) / 10,
        pressure: Math.round((1000 + (n % 250) / 10) * 10) / 10,
        battery: Math.round((3.3 + (n % 90) / 100) * 100) / 100,
        rssi: -40 - (n % 50),
        status: 'ok',
        firmware: '2.4.1'
      }
    : {
        temperature: Math.round((18.04 + (n % 97) / 10) * 100) / 100,
        humidity: Math.round((35.1 + (n % 311) / 10) * 10) / 10,
        pressure: Math.round((1000.2 + (n % 250) / 10) * 10) / 10,
        battery: Math.round((3.31 + (n % 90) / 100) * 100) / 100
      }), 'utf8'))
}

const averageBytes = (list: readonly Buffer[]): number => list.reduce((s, p) => s + p.length, 0) / list.length

/** Set by the 'payload' command; the same for every group and run from then on. */
let payloads: Buffer[] = buildPayloads('status')

export const payloadBytes = averageBytes(payloads)

// ---------------------------------------------------------------- streaming results

let samples = new Float64Array(65_536)
let sampleCount = 0
let errorCount = 0
let firstError: string | undefined

function send (message: unknown): void {
  process.send?.(message)
}

function flush (): void {
  if (sampleCount > 0) {
    send({ stream: 'acks', lat: samples.slice(0, sampleCount) } satisfies LoadStream)
    sampleCount = 0
  }
  if (errorCount > 0) {
    send({ stream: 'errors', count: errorCount, first: firstError ?? '' } satisfies LoadStream)
    errorCount = 0
    firstError = undefined
  }
}

function sample (ms: number): void {
  if (sampleCount === samples.length) {
    flush()
    samples = new Float64Array(samples.length)
  }
  samples[sampleCount++] = ms
}

function failure (group: Group, message: string): void {
  group.failed += 1
  errorCount += 1
  firstError ??= message
}

// ---------------------------------------------------------------- connect

async function connectGroup (c: Extract<LoadCommand, { cmd: 'connect' }>): Promise<ConnectResult> {
  const group: Group = groups.get(c.group) ?? { devices: [], published: 0, acked: 0, failed: 0 }
  groups.set(c.group, group)
  const connectMs = new Float64Array(c.devices.length)
  let connected = 0
  let failed = 0
  let failedFirst: string | undefined
  const t0 = performance.now()
  const progressTimer = setInterval(() => send({ stream: 'connecting', group: c.group, connected, failed } satisfies LoadStream), 1000)
  try {
    await pacedStarts(c.devices.length, c.rate, c.concurrency, (i, done) => {
      const [id, password] = c.devices[i] as Device
      const began = performance.now()
      const client = connect(c.url, {
        clientId: id,
        username: password === undefined ? undefined : id,
        password,
        clean: true,
        protocolVersion: 4,
        keepalive: c.keepalive,
        reconnectPeriod: 0,
        connectTimeout: 60_000
      })
      let settled = false
      const settle = (err?: string): void => {
        if (settled) return
        settled = true
        if (err === undefined) {
          connectMs[connected++] = performance.now() - began
          const sim: Sim = { client, topic: `devices/${id}/telemetry`, inflight: 0, alive: true }
          group.devices.push(sim)
          client.on('close', () => { sim.alive = false })
        } else {
          failed += 1
          failedFirst ??= `${id}: ${err}`
          client.end(true)
        }
        done()
      }
      client.once('connect', () => settle())
      client.on('error', (e) => settle(e.message))
      client.once('close', () => settle('closed before CONNACK'))
    })
  } finally {
    clearInterval(progressTimer)
  }
  const result: ConnectResult = { connected, failed, seconds: (performance.now() - t0) / 1000, connectMs: connectMs.slice(0, connected) }
  if (failedFirst !== undefined) result.firstError = failedFirst
  return result
}

// ---------------------------------------------------------------- runs

interface Run {
  group: Group
  stopped: boolean
  inflight: number
  published: number
  acked: number
  failed: number
  timer?: NodeJS.Timeout
  drained?: () => void
}

let current: Run | undefined
const flushTimer = setInterval(flush, FLUSH_MS)
flushTimer.unref()

function publish (run: Run, sim: Sim, after?: () => void): void {
  const began = performance.now()
  sim.inflight += 1
  run.inflight += 1
  run.published += 1
  run.group.published += 1
  sim.client.publish(sim.topic, payloads[run.published % PAYLOADS] as Buffer, { qos: 1 }, (err) => {
    sim.inflight -= 1
    run.inflight -= 1
    if (err === undefined || err === null) {
      run.acked += 1
      run.group.acked += 1
      sample(performance.now() - began)
    } else {
      run.failed += 1
      failure(run.group, `${sim.topic}: ${err.message}`)
    }
    if (run.stopped) {
      if (run.inflight === 0) run.drained?.()
    } else {
      after?.()
    }
  })
}

function startRun (c: Extract<LoadCommand, { cmd: 'run' }>): void {
  if (current !== undefined) throw new Error('a run is already on')
  const group = groups.get(c.group)
  if (group === undefined || group.devices.length === 0) throw new Error(`no connected devices in group '${c.group}'`)
  const run: Run = { group, stopped: false, inflight: 0, published: 0, acked: 0, failed: 0 }
  current = run
  const devices = group.devices
  if (c.mode === 'window') {
    // Closed loop: every device keeps `inflight` publishes waiting for their PUBACK.
    const pump = (sim: Sim): void => {
      if (!sim.alive) return
      while (!run.stopped && sim.inflight < c.inflight) publish(run, sim, () => pump(sim))
    }
    for (const sim of devices) pump(sim)
  } else {
    // Open loop: `rate` publishes per second in total, round robin over the devices, paced
    // by a 1 ms timer that sends whatever is due (catching up if the timer came late).
    const t0 = performance.now()
    let sent = 0
    let i = 0
    run.timer = setInterval(() => {
      const due = Math.floor(c.rate * (performance.now() - t0) / 1000)
      while (sent < due) {
        const sim = devices[i++ % devices.length] as Sim
        sent += 1
        if (sim.alive) publish(run, sim)
        else failure(group, `${sim.topic}: connection closed`)
      }
    }, 1)
  }
}

async function stopRun (): Promise<StopResult> {
  const run = current
  if (run === undefined) throw new Error('no run is on')
  run.stopped = true
  if (run.timer !== undefined) clearInterval(run.timer)
  if (run.inflight > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)
      run.drained = () => { clearTimeout(timer); resolve() }
    })
  }
  current = undefined
  flush()
  return { published: run.published, acked: run.acked, failed: run.failed, unacked: run.inflight }
}

async function endGroup (name: string): Promise<number> {
  const group = groups.get(name)
  if (group === undefined) return 0
  groups.delete(name)
  await Promise.all(group.devices.map((sim) => new Promise<void>((resolve) => { sim.client.end(true, {}, () => resolve()) })))
  return group.devices.length
}

/** Destroys every socket of the group in one go, as a network drop would: no DISCONNECT. */
function dropGroup (name: string): number {
  const group = groups.get(name)
  if (group === undefined) return 0
  groups.delete(name)
  for (const sim of group.devices) sim.client.stream.destroy()
  for (const sim of group.devices) sim.client.end(true)
  return group.devices.length
}

// ---------------------------------------------------------------- commands

async function execute (c: LoadCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'connect': return await connectGroup(c)
    case 'run': startRun(c); return { devices: groups.get(c.group)?.devices.length ?? 0 }
    case 'stop': return await stopRun()
    case 'counts': {
      const g = groups.get(c.group)
      return { published: g?.published ?? 0, acked: g?.acked ?? 0, failed: g?.failed ?? 0, alive: g?.devices.filter((d) => d.alive).length ?? 0 }
    }
    case 'end': return await endGroup(c.group)
    case 'drop': return dropGroup(c.group)
    case 'loop': return { loopActiveMs: performance.eventLoopUtilization().active, gcMs }
    case 'payload': {
      if (current !== undefined) throw new Error('cannot change the payload while a run is on')
      payloads = buildPayloads(c.kind)
      return { bytes: averageBytes(payloads), example: payloads[0]?.toString('utf8') }
    }
  }
}

process.on('message', (m: unknown) => {
  const { call, ...command } = m as { call: number } & LoadCommand
  execute(command as LoadCommand).then(
    (result) => { flush(); send({ reply: call, ok: true, result }) },
    (err: unknown) => { send({ reply: call, ok: false, error: (err as Error).stack ?? String(err) }) }
  )
})
// The bench going away ends the load generator too.
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.stdout.write(JSON.stringify({ msg: 'listening', listeners: {}, payloadBytes }) + '\n')
