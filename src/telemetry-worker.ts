import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads'
import type { TelemetryConfig } from './config/schema.js'
import { systemClock } from './core/clock.js'
import { GridgateError } from './core/errors.js'
import { createRpc, type RpcPort } from './core/port-rpc.js'
import { errorToWire } from './core/wire-error.js'
import { remoteTopicLog } from './log/remote.js'
import type { TopicLog } from './log/types.js'
import { monitorLoop } from './observability/metrics.js'
import { openTelemetryStore, type OpenTelemetryStore, type TelemetryLocation } from './storage/engine.js'
import type { StoreFence } from './telemetry/store.js'
import { openTelemetry, type Telemetry, type TelemetryObserver } from './telemetry/telemetry.js'
import { takeLoopDelay, yieldToIngest } from './worker-thread.js'

// The telemetry worker: windowed telemetry on a thread of its own (the machine's second
// core), so that nothing it does (parsing every event again, window operators, the checkpoint
// commit of tens of thousands of rollup keys) can hold the ingest event loop. It reads and
// appends the namespace topics through the main thread's log (log/remote.ts) and keeps its
// state in its own store (storage/telemetry-db.ts), opened on this thread. The main thread
// talks to it through telemetry-thread.ts:
//   calls    the Telemetry methods (windows, queries, checkpoint, sweep, close)
//   notices  'ready' or 'failed' once at start; 'error' for each failed telemetry step;
//            'stats' every statsIntervalMs: readings, skips and windows emitted since the
//            last one, the event-time counters, and this loop's delay quantiles.

export interface TelemetryWorkerData {
  config: TelemetryConfig
  namespace: string
  sync: boolean
  location: TelemetryLocation
  /** The log's port (serveTopicLog at the other end). */
  logPort: MessagePort
  statsIntervalMs: number
  cluster: boolean
}

/** What a 'stats' notice carries. */
export interface TelemetryStats {
  readings: Array<[topic: string, n: number]>
  skipped: Array<[topic: string, reason: string, n: number]>
  emitted: Array<[window: string, n: number]>
  counters: Record<string, number>
  /** This loop's delay in ns over the interval, one per LOOP_DELAY_QUANTILES entry (1 = max). */
  loop: number[]
}

/** Counts observer events between two 'stats' notices. */
function statsCollector (): { observer: TelemetryObserver, take: () => Omit<TelemetryStats, 'counters' | 'loop'> } {
  let readings = new Map<string, number>()
  let skipped = new Map<string, [string, string, number]>()
  let emitted = new Map<string, number>()
  return {
    observer: {
      readings: (topic, n) => { readings.set(topic, (readings.get(topic) ?? 0) + n) },
      skipped: (topic, reason, n) => {
        const key = topic + '\0' + reason
        const e = skipped.get(key)
        if (e === undefined) skipped.set(key, [topic, reason, n])
        else e[2] += n
      },
      emitted: (window, n) => { emitted.set(window, (emitted.get(window) ?? 0) + n) }
    },
    take: () => {
      const out = { readings: [...readings], skipped: [...skipped.values()], emitted: [...emitted] }
      readings = new Map()
      skipped = new Map()
      emitted = new Map()
      return out
    }
  }
}

async function run (port: RpcPort, data: TelemetryWorkerData): Promise<void> {
  yieldToIngest()
  const loop = monitorLoop()
  const stats = statsCollector()
  let telemetry: Telemetry | undefined
  let closing: Promise<void> | undefined
  const t = (): Telemetry => {
    if (telemetry === undefined) throw new GridgateError('NOT_READY', 'telemetry is starting')
    return telemetry
  }
  // Calls come once 'ready' is out; the port is served from the start so notices can go.
  const rpc = createRpc(port, {
    handlers: {
      putWindow: async (name: string, body: unknown) => await t().putWindow(name, body),
      getWindow: async (name: string) => await t().getWindow(name),
      listWindows: async () => await t().listWindows(),
      deleteWindow: async (name: string) => { await t().deleteWindow(name) },
      query: async (deviceId: string, metric: string, params: Record<string, string | undefined>) => await t().query(deviceId, metric, params),
      metricsOf: async (deviceId: string) => await t().metricsOf(deviceId),
      checkpoint: async () => { await t().checkpoint(); postStats() },
      positions: async () => await t().positions(),
      sweep: async () => await t().sweep(),
      own: async (source: string, fence: StoreFence, until: number) => { await t().own(source, fence, until) },
      extend: async (source: string, until: number) => { await t().extend(source, until) },
      disown: async (source: string, checkpoint: boolean) => { await t().disown(source, checkpoint) },
      reloadWindows: async () => { await t().reloadWindows() },
      close: async () => {
        closing ??= (async () => {
          clearInterval(timer)
          await t().close()
          postStats()
          await log?.close()
          await opened?.close()
          loop.disable()
        })()
        await closing
      }
    }
  })
  const postStats = (): void => {
    const loopNs = takeLoopDelay(loop)
    const counters = telemetry === undefined ? {} : { ...telemetry.counters() }
    rpc.notify('stats', { ...stats.take(), counters, loop: loopNs } satisfies TelemetryStats)
  }
  const observer: TelemetryObserver = {
    ...stats.observer,
    error: (topic, err) => rpc.notify('error', { topic, error: errorToWire(err) })
  }

  let opened: OpenTelemetryStore | undefined
  let log: TopicLog | undefined
  try {
    opened = await openTelemetryStore(data.location)
    log = remoteTopicLog(data.logPort, systemClock)
    telemetry = await openTelemetry({ store: opened.store, log, clock: systemClock, config: data.config, namespace: data.namespace, sync: data.sync, observer, cluster: data.cluster })
  } catch (err) {
    await log?.close()
    await opened?.close()
    rpc.notify('failed', errorToWire(err))
    return
  }
  const timer = setInterval(postStats, data.statsIntervalMs)
  rpc.notify('ready')
}

// Anything that escapes run() ends the thread with that error: the main thread's 'error' event.
if (!isMainThread && parentPort !== null) void run(parentPort, workerData as TelemetryWorkerData)
