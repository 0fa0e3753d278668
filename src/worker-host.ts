import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads'
import type { Clock, TimerHandle } from './core/clock.js'
import { GridgateError } from './core/errors.js'
import { createRpc, type Handlers, type Rpc } from './core/port-rpc.js'
import { errorFromWire, type WireError } from './core/wire-error.js'
import { serveTopicLog, type TopicLogServer } from './log/remote.js'
import type { TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import { LOOP_DELAY_QUANTILES, type LoopDelay } from './observability/metrics.js'

// The main thread's side of a worker thread that reads the log (telemetry-thread.ts,
// twins-thread.ts): it starts the worker, serves it the log over a MessagePort, carries calls
// both ways (core/port-rpc.ts) and keeps it running.
//
// A worker that dies (an uncaught error, an out-of-memory end) is logged, counted and started
// again after a back-off (0.1 s doubling to 30 s; back to 0.1 s once one ran a minute). Its
// state is in storage, so the new one goes on from there. Calls in flight when it died fail
// with 503 NOT_READY; calls made while it restarts wait for it (up to 10 s, then the same 503).
//
// The worker's side: it gets `{ ...data, logPort }` as workerData, notifies 'ready' once open
// (or 'failed' with a wire error), and may notify 'stats' with `loop` (its event-loop delay in
// ns, one per LOOP_DELAY_QUANTILES entry) among whatever else it reports.

export interface WorkerHostOptions {
  /** The thread's name (logs, metrics, errors). */
  name: string
  /** The worker module's file name without extension, next to this one (dist/ or src/). */
  module: string
  /** The workerData besides `logPort`: plain data. */
  data: Record<string, unknown>
  /** A TopicLog for one worker (closed when that worker ends). */
  openLog: () => TopicLog
  /** Append notices at most this often (ms): one message per interval, not one per group commit. */
  noticeIntervalMs: number
  /** What the worker may call on this thread. */
  handlers?: Handlers
  /** Notices other than 'ready' and 'failed'; 'stats' also feeds `loop`. */
  onNotice?: (kind: string, value: unknown) => void
  /** A worker started again after one died, before calls waiting for it go on. */
  onRestarted?: (call: Rpc['call']) => void
  /** A worker died unasked (it is started again). */
  onCrash?: () => void
  clock: Clock
  logger: Logger
}

export interface WorkerHost {
  /** Calls the running worker (or the next one, after a bounded wait). */
  call: <T = unknown>(method: string, ...args: unknown[]) => Promise<T>
  /** Calls the running worker now, if there is one; undefined otherwise. */
  callIfRunning: <T = unknown>(method: string, ...args: unknown[]) => Promise<T> | undefined
  /** The worker's event-loop delay as it reports it, for metrics.watchLoop. */
  readonly loop: LoopDelay
  /** The running worker's thread id; undefined while it restarts. */
  readonly threadId: number | undefined
  /** Workers started after one died. */
  readonly restarts: number
  /** Ends the running worker as a crash would (tests of the restart). */
  crash: () => Promise<void>
  /** Asks the worker to 'close', then ends it. */
  close: () => Promise<void>
}

const BACKOFF_MS = [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600, 30_000]
/** A worker that ran this long resets the back-off. */
const STABLE_MS = 60_000
const WAIT_FOR_RESTART_MS = 10_000

/**
 * The worker module: dist/{module}.js once built. In the source tree (vitest, tsx) it is .ts,
 * and Node 20 does not apply `--import tsx` hooks to a worker's entry module (execArgv or not),
 * so the worker starts from a two-line script that registers tsx's require hook and loads the
 * .ts through it.
 */
function workerEntry (module: string): { entry: URL | string, eval: boolean } {
  if (!import.meta.url.endsWith('.ts')) return { entry: new URL(`./${module}.js`, import.meta.url), eval: false }
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api')
  const file = fileURLToPath(new URL(`./${module}.ts`, import.meta.url))
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

/** Starts the worker; resolves once it is open, rejects with why it could not open. */
export async function startWorker (opts: WorkerHostOptions): Promise<WorkerHost> {
  const { clock, logger, name } = opts
  const loop = reportedLoop()
  let current: Incarnation | undefined
  let waiters: Array<{ resolve: (i: Incarnation) => void, reject: (e: Error) => void }> = []
  let restarts = 0
  let failures = 0
  let restartTimer: TimerHandle | undefined
  let closed = false

  async function spawn (): Promise<Incarnation> {
    const { port1, port2 } = new MessageChannel()
    const log = opts.openLog()
    const server = serveTopicLog(log, port1, { noticeIntervalMs: opts.noticeIntervalMs })
    const { entry, eval: isScript } = workerEntry(opts.module)
    const data: Record<string, unknown> & { logPort: MessagePort } = { ...opts.data, logPort: port2 }
    // execArgv: not the parent's, whose V8 flags (--max-semi-space-size) a worker refuses.
    const worker = new Worker(entry, { eval: isScript, workerData: data, transferList: [port2], execArgv: [], name })
    let started: { resolve: () => void, reject: (e: Error) => void } | undefined
    const ready = new Promise<void>((resolve, reject) => { started = { resolve, reject } })
    const rpc = createRpc(worker, {
      ...(opts.handlers === undefined ? {} : { handlers: opts.handlers }),
      onNotice: (kind, value) => {
        if (kind === 'ready') started?.resolve()
        else if (kind === 'failed') started?.reject(errorFromWire(value as WireError))
        else {
          if (kind === 'stats') loop.add((value as { loop: number[] }).loop)
          opts.onNotice?.(kind, value)
        }
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
            ? new GridgateError('NOT_READY', `the ${name} worker stopped; it is restarting, retry`)
            : new GridgateError('SHUTTING_DOWN'))
          rpc.close()
          server.close()
          void log.close()
          started?.reject(lastError ?? new Error(`the ${name} worker ended (exit code ${code}) before it started`))
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
    logger.error({ err, exitCode: code, restartInMs: delay }, `${name} worker stopped; starting it again`)
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
        logger.info({ restarts }, `${name} worker started again`)
        opts.onRestarted?.(inc.rpc.call)
        const ready = waiters
        waiters = []
        for (const w of ready) w.resolve(inc)
      }, (err: unknown) => {
        const next = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)] as number
        failures++
        logger.error({ err, restartInMs: next }, `${name} worker did not start; trying again`)
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
        reject(new GridgateError('NOT_READY', `the ${name} worker is restarting; retry`))
      })
      waiters.push(w)
    })
  }

  async function end (inc: Incarnation): Promise<void> {
    inc.ending = true
    try {
      await inc.rpc.call('close')
    } catch (err) {
      logger.warn({ err }, `${name} worker did not close cleanly`)
    }
    await inc.worker.terminate()
    await inc.exited
  }

  current = await spawn()

  return {
    call: async <T>(method: string, ...args: unknown[]): Promise<T> => await (await running()).rpc.call<T>(method, ...args),
    callIfRunning: <T>(method: string, ...args: unknown[]): Promise<T> | undefined => current?.rpc.call<T>(method, ...args),
    loop,
    get threadId () { return current?.worker.threadId },
    get restarts () { return restarts },
    async crash () {
      const inc = current
      if (inc === undefined) return
      await inc.worker.terminate()
      await inc.exited
    },
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
