import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { sharedClock } from './clock.js'
import { CommandSender } from './commands.js'
import { refusedWarning, requireSomeConnected, sumConnections, type Connections } from './connections.js'
import { brokerCredentials, cleanupDevices, deviceIds, prepareDevices, type Credentials } from './devices.js'
import { SimError } from './errors.js'
import { GatewayHttp } from './http.js'
import { readCa, readTemplate } from './inputs.js'
import { Interrupt } from './interrupt.js'
import { THRESHOLD_EXIT_CODE } from './limits.js'
import { DeliveryMeter } from './measure.js'
import { MqttReceiver } from './mqtt-receiver.js'
import type { Settings } from './options.js'
import { answeringIds, receiveLoops, workerInits } from './plan.js'
import { probeBroker } from './probe.js'
import { ProgressLine } from './progress.js'
import type { WorkerReport } from './protocol.js'
import { PullReceiver } from './receiver.js'
import type { SimResult } from './report.js'
import { buildResult, expectedDeliveries, type PublishTiming } from './result.js'
import { splitRanges } from './schedule.js'
import { WorkerPool } from './workers.js'

// One run, phase by phase: subscription, devices, workers, connecting, publishing, drain,
// result. Everything it starts is stopped in `close()`, whatever happened: workers, long
// polls, the subscription, the devices it registered (--cleanup), the HTTP pool. Under
// --broker-only there is no HTTP at all: devices connect with shared (or no) credentials
// and an MQTT subscriber (--subscribe) measures delivery.

export { connackName } from './connections.js'

export interface RunIo {
  /** Notes and the progress line (stderr). */
  stderr: (text: string) => void
  /** Whether stderr is a terminal: the progress line then rewrites itself. */
  tty: boolean
  cores: number
}

export interface RunOutcome {
  result: SimResult
  /** 0, or THRESHOLD_EXIT_CODE when a threshold was breached. */
  exitCode: number
}

/** The files named on the command line, read before anything starts. */
interface Inputs {
  template: unknown
  ca: string | undefined
}

/** How often the drain looks whether every expected delivery is in. */
const DRAIN_CHECK_MS = 20
/** Publishing starts this long after the start message goes out, on every worker at once. */
const START_DELAY_MS = 200

export async function runSimulation (s: Settings, io: RunIo): Promise<RunOutcome> {
  const template = await readTemplate(s.payload)
  const ca = await readCa(s.ca)
  const run = new Simulation(s, io, { template, ca })
  try {
    return await run.execute()
  } finally {
    await run.close()
  }
}

class Simulation {
  private readonly clock = sharedClock()
  private readonly startedAt = new Date().toISOString()
  private readonly runId = randomBytes(4).toString('hex')
  private readonly ids: string[]
  private readonly loops: number
  /** The HTTP API; undefined under --broker-only. */
  private readonly http: GatewayHttp | undefined
  private readonly meter: DeliveryMeter
  /** What measures delivery: the pull subscription, the --subscribe MQTT client, or nothing. */
  private readonly receiver: PullReceiver | MqttReceiver | undefined
  private readonly interrupt: Interrupt
  /** Devices the gateway holds for this run, for --cleanup. */
  private readonly registered = new Set<string>()
  private readonly warnings: string[] = []
  private pool: WorkerPool | undefined
  private commands: CommandSender | undefined
  private progress: ProgressLine | undefined
  private subscribed = false

  constructor (private readonly s: Settings, private readonly io: RunIo, private readonly inputs: Inputs) {
    this.ids = deviceIds(s)
    this.loops = receiveLoops(s.rate)
    this.meter = new DeliveryMeter(this.clock, this.ids)
    const ca = inputs.ca === undefined ? {} : { ca: inputs.ca }
    if (s.brokerOnly) {
      this.http = undefined
      this.receiver = s.subscribe
        ? new MqttReceiver({ url: s.mqtt, clientId: `${s.prefix}-sub-${this.runId}`, ...brokerCredentials(s, ['sub']).get('sub'), ...ca, qos: s.qos, runId: this.runId }, this.meter.onBatch, this.meter.onError)
        : undefined
    } else {
      this.http = new GatewayHttp(s.http, s.key, { connections: this.loops * 2 + 64, ...ca })
      this.receiver = new PullReceiver(this.http, s.topic, `devices-sim-${this.runId}`, this.meter.onBatch, this.meter.onError)
    }
    this.interrupt = new Interrupt(() => {
      this.note('interrupted: stopping the publishers and reporting what was measured (Ctrl-C again to quit at once)')
      this.pool?.stop()
    })
  }

  private note (text: string): void {
    this.io.stderr(`devices-sim: ${text}\n`)
  }

  async execute (): Promise<RunOutcome> {
    // Worker threads load while the gateway is checked and the devices are registered:
    // loading takes a while (under tsx, seconds). A failure below terminates them.
    const ranges = splitRanges(this.s.devices, this.s.workers)
    const pool = this.pool = new WorkerPool(ranges)
    await this.subscribe()
    const credentials = await this.prepareDevices()
    if (this.interrupt.interrupted) throw new SimError('INTERRUPTED', 'interrupted while registering the devices', { exitCode: 130 })
    pool.init(workerInits(this.s, { ids: this.ids, ranges, credentials, runId: this.runId, clockOffsetMs: this.clock.offsetMs, ...this.inputs }))
    const progress = this.startProgress(pool)
    const connections = await this.connect(pool)
    progress.phase = 'publishing'
    const publish = await this.publish(pool)
    progress.phase = 'draining'
    const reports = await this.drain(pool, publish)
    progress.finish(this.finalRate(pool, publish))
    return this.outcome(connections, reports, pool, publish)
  }

  /**
   * The subscription first: it checks the HTTP API, the key and the topic in one call. Then
   * the broker. Under --broker-only: the broker, then the --subscribe client.
   */
  private async subscribe (): Promise<void> {
    if (this.receiver instanceof PullReceiver) {
      await this.receiver.create([
        { operatorType: 'StringBeginsWith', key: 'deviceid', values: [`${this.s.prefix}-`] },
        { operatorType: 'StringIn', key: 'data.run', values: [this.runId] }
      ])
      this.subscribed = true
    }
    await probeBroker(this.s.mqtt)
    if (this.receiver instanceof MqttReceiver) await this.receiver.create()
  }

  /** Registered over HTTP (each one noted for --cleanup), or under --broker-only the shared credentials. */
  private async prepareDevices (): Promise<Credentials> {
    if (this.http === undefined) return brokerCredentials(this.s, this.ids)
    return await prepareDevices(this.s, this.http, this.ids, { runId: this.runId, note: (text) => this.note(text), onRegistered: (id) => this.registered.add(id) })
  }

  private startProgress (pool: WorkerPool): ProgressLine {
    this.progress = new ProgressLine({
      devices: this.s.devices,
      write: (text) => this.io.stderr(text),
      tty: this.io.tty,
      counts: () => ({
        connected: pool.total('connected'),
        sent: pool.total('sent'),
        delivered: this.meter.unique,
        p99: this.meter.p99(),
        errors: pool.total('errors') + (this.receiver?.receiveErrors ?? 0) + (this.receiver?.ackErrors ?? 0) + (this.commands?.errorCount ?? 0)
      })
    })
    this.progress.start()
    return this.progress
  }

  /** Workers connect their devices at their share of the ramp; the run goes on if any connected. */
  private async connect (pool: WorkerPool): Promise<Connections> {
    const c = sumConnections(await pool.ready())
    if (c.firstError !== undefined) this.meter.onError(`connect: ${c.firstError}`)
    requireSomeConnected(c, this.s)
    const warning = refusedWarning(c, this.s.devices)
    if (warning !== undefined) {
      this.warnings.push(warning)
      this.note(warning)
    }
    if (this.interrupt.interrupted) throw new SimError('INTERRUPTED', 'interrupted while connecting', { exitCode: 130 })
    return c
  }

  /** Every worker (and the command sender) starts on the same instant of the shared clock; resolves after the last publish. */
  private async publish (pool: WorkerPool): Promise<PublishTiming> {
    const startAt = this.clock.now() + START_DELAY_MS
    this.meter.startAt = startAt
    this.meter.warmupMs = this.s.warmup * 1000
    this.receiver?.start(this.loops)
    if (this.s.commandRate > 0 && this.http !== undefined) {
      this.commands = new CommandSender(this.http, answeringIds(this.s, this.ids), this.s.commandRate, this.runId, this.clock, this.meter.onError)
      this.commands.start(startAt)
    }
    pool.start(startAt)
    const cpu0 = process.cpuUsage()
    const elu0 = performance.eventLoopUtilization()
    const wall0 = this.clock.now()
    const lastPublishAt = await pool.lastPublishAt()
    const timing: PublishTiming = {
      startAt,
      lastPublishAt,
      cpu: process.cpuUsage(cpu0),
      elu: performance.eventLoopUtilization(elu0).utilization,
      wallMs: Math.max(1, this.clock.now() - wall0)
    }
    this.commands?.stop()
    return timing
  }

  /**
   * Workers wait for their PUBACKs and report; deliveries and commands get --drain seconds
   * after the last publish. The long polls end here.
   */
  private async drain (pool: WorkerPool, publish: PublishTiming): Promise<WorkerReport[]> {
    const reports = await pool.reports()
    const deadline = publish.lastPublishAt + this.s.drain * 1000
    const commandsDrained = this.commands?.drain(Math.max(0, deadline - this.clock.now())) ?? Promise.resolve()
    if (this.receiver !== undefined) await this.deliveriesIn(expectedDeliveries(reports, this.s.qos), deadline)
    await commandsDrained
    await this.receiver?.stop()
    return reports
  }

  /** Until `expected` unique deliveries are in, the deadline passes or Ctrl-C. */
  private async deliveriesIn (expected: number, deadline: number): Promise<void> {
    // (A loop with a break: `interrupted` changes in the SIGINT handler, which lint cannot see.)
    for (;;) {
      if (this.meter.unique >= expected || this.clock.now() >= deadline || this.interrupt.interrupted) break
      await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_MS))
    }
  }

  /** The rate of the whole publish phase, for the last progress line. */
  private finalRate (pool: WorkerPool, p: PublishTiming): number {
    return pool.total('sent') / Math.max(0.001, (p.lastPublishAt - p.startAt) / 1000 + 1 / this.s.rate)
  }

  private outcome (connections: Connections, reports: WorkerReport[], pool: WorkerPool, publish: PublishTiming): RunOutcome {
    const result = buildResult({
      s: this.s,
      cores: this.io.cores,
      runId: this.runId,
      startedAt: this.startedAt,
      ids: this.ids,
      connections,
      meter: this.meter,
      reports,
      firsts: pool.handles.map((h) => h.first),
      publish,
      receiver: this.receiver ?? { receiveErrors: 0, ackErrors: 0 },
      deliveryMeasured: this.receiver !== undefined,
      commands: this.commands?.result() ?? null,
      interrupted: this.interrupt.interrupted,
      warnings: this.warnings
    })
    return { result, exitCode: result.passed ? 0 : THRESHOLD_EXIT_CODE }
  }

  /** Stops everything the run started, in order; safe after a failure at any phase. */
  async close (): Promise<void> {
    this.interrupt.remove()
    this.progress?.stop()
    await this.receiver?.stop()
    await this.pool?.close()
    if (this.subscribed && this.receiver instanceof PullReceiver) {
      const problem = await this.receiver.remove()
      if (problem !== undefined) this.note(problem)
    }
    if (this.s.cleanup && this.http !== undefined) await cleanupDevices(this.http, [...this.registered], (text) => this.note(text))
    await this.http?.close()
  }
}
