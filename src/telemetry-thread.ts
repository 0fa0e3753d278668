import type { TelemetryConfig } from './config/schema.js'
import type { Clock } from './core/clock.js'
import { errorFromWire, type WireError } from './core/wire-error.js'
import type { TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import type { LoopDelay } from './observability/metrics.js'
import type { TelemetryLocation } from './storage/engine.js'
import type { EventTimeCounters } from './telemetry/event-time.js'
import type { MetricSummary } from './telemetry/rollups.js'
import { noCounters } from './telemetry/stream-fanout.js'
import type { StoreFence } from './telemetry/store.js'
import type { Telemetry, TelemetryObserver, WindowView } from './telemetry/telemetry.js'
import type { TelemetryStats, TelemetryWorkerData } from './telemetry-worker.js'
import { startWorker } from './worker-host.js'

// The main thread's side of the telemetry worker (telemetry-worker.ts): it starts the worker,
// serves it the log, and is the Telemetry the HTTP routes use, each method a call to the
// worker. Telemetry errors keep their code and message across (core/wire-error.ts).
//
// A worker that dies is started again (worker-host.ts). The new one restores the last snapshot and reads the source topics again from its position, as
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

export async function startTelemetryThread (opts: TelemetryThreadOptions): Promise<TelemetryThread> {
  let counters: EventTimeCounters = noCounters()
  // Cluster: the streams this node holds, so that a worker started again after a crash runs them too.
  const owned = new Map<string, { fence: StoreFence, until: number }>()

  const onStats = (s: TelemetryStats): void => {
    for (const [topic, n] of s.readings) opts.observer?.readings?.(topic, n)
    for (const [topic, reason, n] of s.skipped) opts.observer?.skipped?.(topic, reason as 'field', n)
    for (const [window, n] of s.emitted) opts.observer?.emitted?.(window, n)
    if (Object.keys(s.counters).length > 0) counters = s.counters as unknown as EventTimeCounters
  }

  const data: Omit<TelemetryWorkerData, 'logPort'> = { config: opts.config, namespace: opts.namespace, sync: opts.sync, location: opts.location, statsIntervalMs: opts.statsIntervalMs ?? 1000, cluster: opts.cluster === true }
  const host = await startWorker({
    name: 'telemetry',
    module: 'telemetry-worker',
    data,
    openLog: opts.openLog,
    // Telemetry needs no append notice within 100 ms: one read a tenth of a second, not one per
    // group commit. Each notice costs the worker a getTopic and a read round trip; at 1,000
    // devices × 5 msg/s, 100 ms instead of 20 took the worker from 0.17 to 0.11–0.13 of a core
    // and the ingest thread from 0.51–0.53 to 0.48–0.49 (250 and 500 ms gained no more).
    noticeIntervalMs: 100,
    onNotice: (kind, value) => {
      if (kind === 'stats') onStats(value as TelemetryStats)
      else if (kind === 'error') {
        const e = value as { topic: string, error: WireError }
        opts.observer?.error?.(e.topic, errorFromWire(e.error))
      }
    },
    onRestarted: (call) => {
      for (const [source, o] of owned) call('own', source, o.fence, o.until).catch((err: unknown) => opts.observer?.error?.(source, err))
    },
    ...(opts.onCrash === undefined ? {} : { onCrash: opts.onCrash }),
    clock: opts.clock,
    logger: opts.logger
  })
  const call = host.call

  return {
    get loop () { return host.loop },
    get threadId () { return host.threadId },
    get restarts () { return host.restarts },
    crash: () => host.crash(),
    putWindow: async (name, body) => await call<{ window: WindowView, created: boolean }>('putWindow', name, body),
    getWindow: async (name) => await call<WindowView>('getWindow', name),
    listWindows: async () => await call<WindowView[]>('listWindows'),
    deleteWindow: async (name) => { await call('deleteWindow', name) },
    query: async (deviceId, metric, params) => await call<{ series: Array<Record<string, unknown>> }>('query', deviceId, metric, { ...params }),
    metricsOf: async (deviceId) => await call<MetricSummary[]>('metricsOf', deviceId),
    counters: () => counters,
    // Nothing while a worker restarts: the lag gauge skips a scrape rather than wait for it.
    positions: async () => await (host.callIfRunning<Array<{ topic: string, position: number }>>('positions') ?? Promise.resolve([])),
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
      host.callIfRunning('extend', source, until)?.catch(() => undefined)
    },
    async disown (source, checkpoint) {
      owned.delete(source)
      await call('disown', source, checkpoint)
    },
    reloadWindows: async () => { await call('reloadWindows') },
    close: () => host.close()
  }
}
