import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import type { TelemetryConfig } from './config/schema.js'
import type { Clock, TimerHandle } from './core/clock.js'
import { GridgateError } from './core/errors.js'
import { createRpc, type Rpc } from './core/port-rpc.js'
import { errorFromWire, type WireError } from './core/wire-error.js'
import { serveTopicLog, type TopicLogServer } from './log/remote.js'
import type { TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import { LOOP_DELAY_QUANTILES, type LoopDelay } from './observability/metrics.js'
import type { TelemetryLocation } from './storage/engine.js'
import type { EventTimeCounters } from './telemetry/event-time.js'
import type { MetricSummary } from './telemetry/rollups.js'
import { noCounters } from './telemetry/stream-fanout.js'
import type { StoreFence } from './telemetry/store.js'
import type { Telemetry, TelemetryObserver, WindowView } from './telemetry/telemetry.js'
import type { TelemetryStats, TelemetryWorkerData } from './telemetry-worker.js'

// The main thread's side of the telemetry worker (telemetry-worker.ts): it starts the worker,
// serves it the log, and is the Telemetry the HTTP routes use, each method a call to the
// worker. Telemetry errors keep their code and message across (core/wire-error.ts).
//
// A worker that dies (an uncaught error, an out-of-memory end) is logged, counted and started
// again after a back-off (0.1 s doubling to 30 s; back to 0.1 s once one ran a minute). The
// new one restores the last snapshot and reads the source topics again from its position, as
// after a kill -9 (telemetry/stream.ts), so no closed window is lost or emitted twice. Ingest
// never waits for it. Calls in flight when it died fail with 503 NOT_READY; calls made while
// it restarts wait for it (up to 10 s, then the same 503).

export interface TelemetryThreadOptions {
  config: TelemetryConfig
  namespace: string
  sync: boolean
  location: TelemetryLocation
  /** A TopicLog for one worker (closed when that worker ends). */
  openLog: () => TopicLog
  /** Timers of the restart back-off and waits. */
  clock: Clock
  logger: Logger
  /** Readings, skips and windows emitted as the worker reports them (every statsIntervalMs), errors at once. */
  observer?: TelemetryObserver
  /** A worker died unasked (it is started again). */
  onCrash?: () => void
  /** How often the worker reports its counts and loop delay (default 1 s). */
  statsIntervalMs?: number
  /** Several nodes on one store (telemetry.ts, `cluster`). */
  cluster?: boolean
}

export interface TelemetryThread extends Telemetry {
  /** The worker's event-loop delay as it reports it, for metrics.watchLoop. */
  readonly loop: LoopDelay
  /** The running worker's thread id; undefined while it restarts. */
  readonly threadId: number | undefined
  /** Workers started after one died. */
  readonly restarts: number
  /** Ends the running worker as a crash would (tests of the restart). */
  crash: () => Promise<void>
}

const BACKOFF_MS = [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000]
/** A worker that ran this long resets the back-off. */
const STABLE_MS = 60_000
const WAIT_FOR_RESTART_MS = 10_000

/**
 * The worker module next to this one: dist/telemetry-worker.js once built. In the source tree
 * (vitest, tsx) it is .ts, and Node 20 does not apply `--import tsx` hooks to a worker's entry
 * module (execArgv or not), so the worker starts from a two-line script that registers tsx's
 * require hook and loads the .ts through it.
 */
function workerEntry (): { entry: URL | string, eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL('./telemetry-worker.js', import.meta.url), eval: false }
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api')
  const file = fileURLToPath(new URL('./telemetry-worker.ts', import.meta.url))
  return { entry: `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(file)})`, eval: true }
}

/**
 * The worker's loop delay from its 'stats' notices: each covers one interval, and until the
 * next scrape resets it, a quantile is the largest of the intervals' (an upper bound of the
 * quantile over the whole time: the worst second shows).
 */
function reportedLoop (): LoopDelay & { add: (ns: readonly number[]) => void } {
  let worst: number[] = []
  let count = 0
  const at = (q: number): number => worst[LOOP_DELAY_QUANTILES.findIndex((x) => Math.abs(x - q) < 1e-9)] ?? 0
  return {
    add (ns) {
      worst = LOOP_DELAY_QUANTILES.map((_, i) => Math.max(worst[i] ?? 0, Number.isFinite(ns[i]) ? ns[i] as number : 0))
      count++
    },
    percentile: (p) => at(p / 100),
    get max () { return at(1) },
    get count () { return count },
    reset () { worst = []; count = 0 }
  }
}

interface Incarnation {
  worker: Worker
  rpc: Rpc
  server: TopicLogServer
  log: TopicLog
  startedAt: number
  /** Set when the main thread ends it (close, crash()): its exit is not a crash. */
  ending: boolean
  exited: Promise<void>
}

export async function startTelemetryThread (opts: TelemetryThreadOptions): Promise<TelemetryThread> {
  const { clock, logger } = opts
  const loop = reportedLoop()
  let counters: EventTimeCounters = noCounters()
  let current: Incarnation | undefined
  let waiters: Array<{ resolve: (i: Incarnation) => void, reject: (e: Error) => void }> = []
  let restarts = 0
  let failures = 0
  let restartTimer: TimerHandle | undefined
  let closed = false
  // Cluster: the streams this node holds, so that a worker started again after a crash runs them too.
  const owned = new Map<string, { fence: StoreFence, until: number }>()

  const onStats = (s: TelemetryStats): void => {
    for (const [topic, n] of s.readings) opts.observer?.readings?.(topic, n)
    for (const [topic, reason, n] of s.skipped) opts.observer?.skipped?.(topic, reason as 'field', n)
    for (const [window, n] of s.emitted) opts.observer?.emitted?.(window, n)
    if (Object.keys(s.counters).length > 0) counters = s.counters as unknown as EventTimeCounters
    loop.add(s.loop)
  }

  /** Starts one worker; resolves once its telemetry is open, rejects with why it could not open. */
  async function spawn (): Promise<Incarnation> {
    const { port1, port2 } = new MessageChannel()
    const log = opts.openLog()
    // Telemetry needs no append notice within 20 ms: one message per 20 ms, not one per group commit.
    const server = serveTopicLog(log, port1, { noticeIntervalMs: 20 })
    const { entry, eval: isScript } = workerEntry()
    const data: TelemetryWorkerData = { config: opts.config, namespace: opts.namespace, sync: opts.sync, location: opts.location, logPort: port2, statsIntervalMs: opts.statsIntervalMs ?? 1000, cluster: opts.cluster === true }
    // execArgv: not the parent's, whose V8 flags (--max-semi-space-size) a worker refuses.
    const worker = new Worker(entry, { eval: isScript, workerData: data, transferList: [port2], execArgv: [], name: 'telemetry' })
    let started: { resolve: () => void, reject: (e: Error) => void } | undefined
    const ready = new Promise<void>((resolve, reject) => { started = { resolve, reject } })
    const rpc = createRpc(worker, {
      onNotice: (kind, value) => {
        if (kind === 'stats') onStats(value as TelemetryStats)
        else if (kind === 'error') {
          const e = value as { topic: string, error: WireError }
          opts.observer?.error?.(e.topic, errorFromWire(e.error))
        } else if (kind === 'ready') started?.resolve()
        else if (kind === 'failed') started?.reject(errorFromWire(value as WireError))
      }
    })
    let lastError: Error | undefined
    worker.on('error', (err) => { lastError = err })
    const inc: Incarnation = {
      worker,
      rpc,
      server,
      log,
      startedAt: clock.now(),
      ending: false,
      exited: new Promise<void>((resolve) => {
        worker.once('exit', (code) => {
          const wasCurrent = current === inc
          const crash = wasCurrent && !inc.ending && !closed
          rpc.failPending(crash
            ? new GridgateError('NOT_READY', 'the telemetry worker stopped; it is restarting, retry')
            : new GridgateError('SHUTTING_DOWN'))
          rpc.close()
          server.close()
          void log.close()
          started?.reject(lastError ?? new Error(`the telemetry worker ended (exit code ${code}) before it started`))
          if (wasCurrent) current = undefined
          resolve()
          if (crash) crashed(inc, code, lastError)
        })
      })
    }
    try {
      await ready
    } catch (err) {
      inc.ending = true
      await worker.terminate()
      await inc.exited
      throw err
    }
    return inc
  }

  function crashed (inc: Incarnation, code: number, err: Error | undefined): void {
    opts.onCrash?.()
    if (clock.now() - inc.startedAt >= STABLE_MS) failures = 0
    const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)] as number
    failures++
    logger.error({ err, exitCode: code, restartInMs: delay }, 'telemetry worker stopped; starting it again')
    scheduleRestart(delay)
  }

  function scheduleRestart (delay: number): void {
    restartTimer = clock.setTimer(delay, () => {
      restartTimer = undefined
      if (closed) return
      spawn().then((inc) => {
        if (closed) { void end(inc); return }
        current = inc
        restarts++
        logger.info({ restarts }, 'telemetry worker started again')
        for (const [source, o] of owned) inc.rpc.call('own', source, o.fence, o.until).catch((err: unknown) => opts.observer?.error?.(source, err))
        const ready = waiters
        waiters = []
        for (const w of ready) w.resolve(inc)
      }, (err: unknown) => {
        const next = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)] as number
        failures++
        logger.error({ err, restartInMs: next }, 'telemetry worker did not start; trying again')
        scheduleRestart(next)
      })
    })
  }

  /** The running worker, or the next one (bounded wait). */
  async function running (): Promise<Incarnation> {
    if (closed) throw new GridgateError('SHUTTING_DOWN')
    if (current !== undefined) return current
    return await new Promise<Incarnation>((resolve, reject) => {
      const w = { resolve: (i: Incarnation) => { timer.cancel(); resolve(i) }, reject }
      const timer = clock.setTimer(WAIT_FOR_RESTART_MS, () => {
        waiters = waiters.filter((x) => x !== w)
        reject(new GridgateError('NOT_READY', 'the telemetry worker is restarting; retry'))
      })
      waiters.push(w)
    })
  }

  const call = async <T>(method: string, ...args: unknown[]): Promise<T> => await (await running()).rpc.call<T>(method, ...args)

  async function end (inc: Incarnation): Promise<void> {
    inc.ending = true
    try {
      await inc.rpc.call('close')
    } catch (err) {
      logger.warn({ err }, 'telemetry worker did not close cleanly')
    }
    await inc.worker.terminate()
    await inc.exited
  }

  current = await spawn()

  return {
    loop,
    get threadId () { return current?.worker.threadId },
    get restarts () { return restarts },
    async crash () {
      const inc = current
      if (inc === undefined) return
      await inc.worker.terminate()
      await inc.exited
    },
    putWindow: async (name, body) => await call<{ window: WindowView, created: boolean }>('putWindow', name, body),
    getWindow: async (name) => await call<WindowView>('getWindow', name),
    listWindows: async () => await call<WindowView[]>('listWindows'),
    deleteWindow: async (name) => { await call('deleteWindow', name) },
    query: async (deviceId, metric, params) => await call<{ series: Array<Record<string, unknown>> }>('query', deviceId, metric, { ...params }),
    metricsOf: async (deviceId) => await call<MetricSummary[]>('metricsOf', deviceId),
    counters: () => counters,
    checkpoint: async () => { await call('checkpoint') },
    sweep: async () => await call<number>('sweep'),
    async own (source, fence, until) {
      owned.set(source, { fence, until })
      await call('own', source, fence, until)
    },
    async extend (source, until) {
      const o = owned.get(source)
      if (o !== undefined) o.until = until
      // Not waited for: a worker restarting must not hold up the renewal of other leases (the
      // next one gets `until` with its own).
      current?.rpc.call('extend', source, until).catch(() => undefined)
    },
    async disown (source, checkpoint) {
      owned.delete(source)
      await call('disown', source, checkpoint)
    },
    reloadWindows: async () => { await call('reloadWindows') },
    async close () {
      if (closed) return
      closed = true
      restartTimer?.cancel()
      for (const w of waiters.splice(0)) w.reject(new GridgateError('SHUTTING_DOWN'))
      const inc = current
      current = undefined
      if (inc !== undefined) await end(inc)
    }
  }
}
