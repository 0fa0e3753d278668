import { performance } from 'node:perf_hooks'
import { parentPort, workerData } from 'node:worker_threads'
import { connect, type MqttClient } from 'mqtt'
import { sharedClock, type SharedClock } from './clock.js'
import { describeNetworkError } from './errors.js'
import { encodeHistogram, latencyHistogram, recordMs } from './histogram.js'
import { SeqSet } from './ledger.js'
import { compileTemplate, DevicePayload } from './payload.js'
import type { ConnectSummary, FromWorker, ToWorker, WorkerDevice, WorkerInit, WorkerReport } from './protocol.js'
import { dueAtMs, dueCount, sleepMs } from './schedule.js'
import { PerSecond } from './series.js'

// A device worker: holds its share of the devices (one mqtt.js client each), connects them
// at its share of the ramp, and publishes its share of the rate from one scheduler that
// sends whatever is due on each wake-up, round robin over the connected devices. Thousands
// of per-device timers would cost more than the messages; one schedule also keeps the
// total rate exact. Results go to the main thread as counts, bitmaps and histograms.

/** Connections being set up at once per worker (CONNECT sent, CONNACK not yet in). */
const CONNECT_CONCURRENCY = 100
/** Publishes waiting for their PUBACK per device before the scheduler skips the device. */
const MAX_INFLIGHT_PER_DEVICE = 1000
const STATS_MS = 250
const RECONNECT_DELAY_MS = 1000
const MAX_FIRST_ERRORS = 5

interface Device extends WorkerDevice {
  local: number
  topic: string
  client: MqttClient | undefined
  online: boolean
  /** The simulator closed it (churn or end): its close is no error. */
  closing: boolean
  seq: number
  inflight: number
  acked: SeqSet
  payload: DevicePayload
  /** Churn: when to disconnect next, or when to come back (epoch ms of the shared clock). */
  nextChurnAt: number
  reconnectAt: number
}

type ConnectOutcome = { ok: true } | { ok: false, code?: number, message: string }

class DeviceWorker {
  private readonly clock: SharedClock
  private readonly devices: Device[]
  private readonly puback = latencyHistogram()
  private readonly sentSeries = new PerSecond()
  private readonly ackedSeries = new PerSecond()
  private readonly errorSeries = new PerSecond()
  private readonly totals = { sent: 0, acked: 0, publishErrors: 0, disconnects: 0, reconnectFailures: 0, unacked: 0, skipped: 0, responses: 0 }
  private readonly churn = { disconnects: 0, reconnects: 0, failed: 0 }
  private readonly firstErrors: string[] = []
  private connected = 0
  /** Reconnects under way (churn or after a drop): the report waits for them. */
  private reconnecting = 0
  private startAt = 0
  private publishing = false
  private stopped = false
  private closing = false
  private next = 0
  private maxLagMs = 0
  private eluStart: ReturnType<typeof performance.eventLoopUtilization> | undefined
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor (private readonly init: WorkerInit, private readonly post: (m: FromWorker) => void) {
    this.clock = sharedClock(init.clockOffsetMs)
    const template = compileTemplate(init.template)
    this.devices = init.devices.map((d, local) => ({
      ...d,
      local,
      topic: `devices/${d.id}/telemetry`,
      client: undefined,
      online: false,
      closing: false,
      seq: 0,
      inflight: 0,
      acked: new SeqSet(),
      payload: new DevicePayload(template, Math.random),
      nextChurnAt: 0,
      reconnectAt: 0
    }))
  }

  private later (ms: number, fn: () => void): void {
    const t = setTimeout(() => { this.timers.delete(t); fn() }, ms)
    this.timers.add(t)
  }

  private error (message: string): void {
    if (this.firstErrors.length < MAX_FIRST_ERRORS) this.firstErrors.push(message)
    this.errorSeries.add(this.second(this.clock.now()))
  }

  private second (at: number): number {
    return this.startAt === 0 ? -1 : (at - this.startAt) / 1000
  }

  private errorCount (): number {
    return this.totals.publishErrors + this.totals.disconnects + this.totals.reconnectFailures
  }

  sendStats (): void {
    this.post({ type: 'stats', stats: { connected: this.connected, sent: this.totals.sent, acked: this.totals.acked, errors: this.errorCount() } })
  }

  // ------------------------------------------------------------------ connections

  /** Connects one device (and subscribes to its commands when it answers them). */
  private open (d: Device, done: (o: ConnectOutcome) => void): void {
    const client = connect(this.init.url, {
      clientId: d.id,
      ...(d.username === undefined ? {} : { username: d.username }),
      ...(d.password === undefined ? {} : { password: d.password }),
      clean: true,
      protocolVersion: 4,
      keepalive: 60,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      resubscribe: false,
      ...(this.init.ca === undefined ? {} : { ca: this.init.ca, rejectUnauthorized: true })
    })
    d.client = client
    d.closing = false
    let settled = false
    const settle = (o: ConnectOutcome): void => {
      if (settled) return
      settled = true
      if (!o.ok) client.end(true)
      done(o)
    }
    client.once('connect', () => {
      if (!d.answers) { settle({ ok: true }); return }
      client.subscribe(`devices/${d.id}/commands/#`, { qos: 1 }, (err, granted) => {
        if (err !== null && err !== undefined) settle({ ok: false, message: `${d.id}: subscribing to its commands: ${err.message}` })
        else if (granted?.[0]?.qos === 128) settle({ ok: false, message: `${d.id}: the gateway refused the commands subscription (SUBACK 0x80)` })
        else settle({ ok: true })
      })
    })
    client.on('error', (err) => {
      const code = (err as { code?: unknown }).code
      if (!settled) settle(typeof code === 'number' ? { ok: false, code, message: `${d.id}: ${err.message}` } : { ok: false, message: `${d.id}: ${describeNetworkError(err)}` })
    })
    client.on('close', () => {
      if (!settled) { settle({ ok: false, message: `${d.id}: connection closed before CONNACK` }); return }
      if (d.client !== client) return
      const wasOnline = d.online
      d.online = false
      if (wasOnline) this.connected--
      if (d.closing || this.closing) return
      // Not asked for: count it and come back, so one drop does not silence a device.
      this.totals.disconnects++
      this.error(`${d.id}: connection closed by the gateway`)
      this.later(RECONNECT_DELAY_MS, () => this.reconnectUntilBack(d))
    })
    client.on('message', (topic) => this.answer(d, topic))
  }

  private online (d: Device): void {
    d.online = true
    this.connected++
  }

  /** Answers a command: devices/{id}/commands/{name}/{commandId} → devices/{id}/responses/{commandId}. */
  private answer (d: Device, topic: string): void {
    const parts = topic.split('/')
    const name = parts[3]
    const commandId = parts[4]
    if (name === undefined || commandId === undefined || d.client === undefined) return
    this.totals.responses++
    d.client.publish(`devices/${d.id}/responses/${commandId}`, JSON.stringify({ status: 'succeeded', result: { command: name, device: d.id } }), { qos: 1 })
  }

  private reconnect (d: Device, onResult?: (ok: boolean) => void): void {
    if (this.closing || d.online) return
    this.reconnecting++
    this.open(d, (o) => {
      this.reconnecting--
      if (o.ok) this.online(d)
      else {
        this.totals.reconnectFailures++
        this.error(o.message)
      }
      onResult?.(o.ok)
    })
  }

  /** After a drop: retries every second while the run lasts. */
  private reconnectUntilBack (d: Device): void {
    this.reconnect(d, (ok) => {
      if (!ok && !this.closing && !this.stopped) this.later(RECONNECT_DELAY_MS, () => this.reconnectUntilBack(d))
    })
  }

  /** Connects every device at this worker's ramp rate, then reports who got in. */
  async connectAll (): Promise<ConnectSummary> {
    const summary: ConnectSummary = { connected: 0, refused: {}, unreachable: 0 }
    const statsTimer = setInterval(() => this.sendStats(), STATS_MS)
    const t0 = performance.now()
    let started = 0
    let pending = 0
    try {
      await new Promise<void>((resolve) => {
        if (this.devices.length === 0) { resolve(); return }
        let waiting = false
        const pump = (): void => {
          const allowed = dueCount(this.init.ramp, performance.now() - t0, this.devices.length)
          while (started < allowed && pending < CONNECT_CONCURRENCY) {
            const d = this.devices[started++] as Device
            pending++
            this.open(d, (o) => {
              pending--
              if (o.ok) {
                this.online(d)
                summary.connected++
              } else {
                if (o.code !== undefined) summary.refused[String(o.code)] = (summary.refused[String(o.code)] ?? 0) + 1
                else summary.unreachable++
                summary.firstError ??= o.message
              }
              if (started === this.devices.length) {
                if (pending === 0) resolve()
              } else {
                pump()
              }
            })
          }
          // Wake up when the ramp allows the next one (a finished connect also wakes us).
          if (started < this.devices.length && pending < CONNECT_CONCURRENCY && !waiting) {
            waiting = true
            setTimeout(() => { waiting = false; pump() }, sleepMs(this.init.ramp, started, performance.now() - t0))
          }
        }
        pump()
      })
    } finally {
      clearInterval(statsTimer)
    }
    return summary
  }

  // ------------------------------------------------------------------ publishing

  start (atMs: number): void {
    this.startAt = atMs
    this.later(Math.max(0, atMs - this.clock.now()), () => {
      this.publishing = true
      this.eluStart = performance.eventLoopUtilization()
      const statsTimer = setInterval(() => this.sendStats(), STATS_MS)
      this.timers.add(statsTimer)
      this.startChurn()
      this.tick()
    })
  }

  stop (): void {
    this.stopped = true
  }

  private tick (): void {
    const now = this.clock.now()
    const elapsed = now - this.startAt
    const due = this.stopped ? this.totals.sent + this.totals.skipped : dueCount(this.init.rate, elapsed, this.init.messages)
    let slot = this.totals.sent + this.totals.skipped
    if (slot < due) this.maxLagMs = Math.max(this.maxLagMs, elapsed - dueAtMs(this.init.rate, slot))
    for (; slot < due; slot++) this.publishNext(now)
    if (this.stopped || slot >= this.init.messages) {
      this.finish()
      return
    }
    this.later(sleepMs(this.init.rate, slot, this.clock.now() - this.startAt), () => this.tick())
  }

  /** Publishes on the next connected device with room, round robin; skips the slot if none has. */
  private publishNext (now: number): void {
    const n = this.devices.length
    for (let tries = 0; tries < n; tries++) {
      const d = this.devices[this.next] as Device
      this.next = (this.next + 1) % n
      if (!d.online || d.client === undefined || d.inflight >= MAX_INFLIGHT_PER_DEVICE) continue
      this.publish(d, now)
      return
    }
    this.totals.skipped++
  }

  private publish (d: Device, sentAt: number): void {
    const seq = ++d.seq
    const client = d.client as MqttClient
    const began = performance.now()
    this.totals.sent++
    this.sentSeries.add(this.second(sentAt))
    d.inflight++
    client.publish(d.topic, d.payload.next(this.init.runId, seq, sentAt), { qos: this.init.qos }, (err) => {
      d.inflight--
      if (err !== undefined && err !== null) {
        this.totals.publishErrors++
        this.error(`${d.id}: publish ${seq}: ${err.message}`)
        return
      }
      if (this.init.qos === 1) {
        if (sentAt >= this.startAt + this.init.warmupMs) recordMs(this.puback, performance.now() - began)
        d.acked.add(seq)
        this.totals.acked++
        this.ackedSeries.add(this.second(this.clock.now()))
      }
    })
  }

  /** Churn: one ticker for all churning devices; each is due at its own phase of the interval. */
  private startChurn (): void {
    const churning = this.devices.filter((d) => d.churns)
    if (churning.length === 0) return
    const interval = this.init.churnIntervalMs
    const offline = Math.min(1000, interval / 2)
    for (const d of churning) d.nextChurnAt = this.startAt + Math.random() * interval
    const timer = setInterval(() => {
      const now = this.clock.now()
      for (const d of churning) {
        if (d.reconnectAt > 0 && now >= d.reconnectAt) {
          d.reconnectAt = 0
          this.reconnect(d, (ok) => {
            if (ok) this.churn.reconnects++
            else {
              this.churn.failed++
              // Try again shortly (the report waits for it, within --drain).
              if (!this.closing) d.reconnectAt = this.clock.now() + RECONNECT_DELAY_MS
            }
          })
        } else if (this.publishing && d.online && now >= d.nextChurnAt) {
          d.nextChurnAt += interval
          d.reconnectAt = now + offline
          d.closing = true
          d.online = false
          this.connected--
          this.churn.disconnects++
          // end(false) waits for the PUBACKs of what the device already sent.
          d.client?.end(false)
        }
      }
      if (!this.publishing && churning.every((d) => d.reconnectAt === 0)) {
        clearInterval(timer)
        this.timers.delete(timer)
      }
    }, 50)
    this.timers.add(timer)
  }

  /** Publishing is over: wait for outstanding PUBACKs (bounded), then report. */
  private finish (): void {
    this.publishing = false
    this.post({ type: 'published', lastAtMs: this.clock.now() })
    const deadline = performance.now() + this.init.drainMs
    const inflight = (): number => this.devices.reduce((s, d) => s + d.inflight, 0)
    // Churned devices come back before the report, so its churn counts add up.
    const churnPending = (): boolean => this.reconnecting > 0 || this.devices.some((d) => d.reconnectAt > 0)
    const wait = (): void => {
      if ((inflight() > 0 || churnPending()) && performance.now() < deadline) { this.later(10, wait); return }
      this.totals.unacked = this.init.qos === 1 ? inflight() : 0
      this.sendStats()
      this.post({ type: 'done', report: this.report() })
    }
    wait()
  }

  private report (): WorkerReport {
    const elu = this.eluStart === undefined ? 0 : performance.eventLoopUtilization(this.eluStart).utilization
    return {
      sent: this.devices.map((d) => d.seq),
      acked: this.devices.map((d) => d.acked.toBytes()),
      puback: encodeHistogram(this.puback),
      sentSeries: this.sentSeries.toArray(),
      ackedSeries: this.ackedSeries.toArray(),
      errorSeries: this.errorSeries.toArray(),
      totals: { ...this.totals },
      churn: { ...this.churn },
      firstErrors: [...this.firstErrors],
      elu,
      maxLagMs: Math.round(this.maxLagMs * 1000) / 1000
    }
  }

  async close (): Promise<void> {
    this.closing = true
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await Promise.all(this.devices.map((d) => new Promise<void>((resolve) => {
      d.closing = true
      if (d.client === undefined) { resolve(); return }
      d.client.end(true, {}, () => resolve())
    })))
  }
}

// The entry point when loaded as a worker thread; the class above holds all state. The
// thread starts before the devices are registered (starting it costs time, under tsx
// seconds) and gets its devices with the 'init' message.
if (parentPort !== null && (workerData as { deviceWorker?: boolean } | undefined)?.deviceWorker === true) {
  const port = parentPort
  let worker: DeviceWorker | undefined
  port.on('message', (m: ToWorker) => {
    if (m.type === 'init') {
      const w = new DeviceWorker(m.init, (out) => port.postMessage(out))
      worker = w
      void w.connectAll().then((summary) => {
        w.sendStats()
        port.postMessage({ type: 'ready', summary } satisfies FromWorker)
      })
    } else if (m.type === 'start') worker?.start(m.atMs)
    else if (m.type === 'stop') worker?.stop()
    else if (m.type === 'close') {
      void (worker?.close() ?? Promise.resolve()).then(() => { port.postMessage({ type: 'closed' } satisfies FromWorker); port.close() })
    }
  })
}
