import type { Config } from './config/schema.js'
import type { Clock } from './core/clock.js'
import type { TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import type { Metrics } from './observability/metrics.js'
import { telemetryObserver } from './observers.js'
import { openTelemetryStore, type StorageEngine } from './storage/engine.js'
import { openTelemetry, type Telemetry } from './telemetry/telemetry.js'
import { startTelemetryThread } from './telemetry-thread.js'

// Where windowed telemetry runs. By default in its worker thread (telemetry-thread.ts), so
// the ingest event loop does nothing of it. In this thread instead when
//   - telemetry.worker is false, or telemetry is disabled (then it only answers queries), or
//   - the gateway runs on an injected clock (tests drive windows with a ManualClock): a worker
//     has its own event loop and timers and cannot share a clock object with this thread.
// Either way telemetry's state is in its own store (storage/telemetry-db.ts).

export interface TelemetryWiring {
  config: Config
  engine: StorageEngine
  log: TopicLog
  clock: Clock
  /** Whether `clock` is the system clock (a worker runs on the system clock only). */
  systemTime: boolean
  metrics: Metrics
  logger: Logger
  /** Several nodes on one store: streams run where telemetry/ownership.ts puts them. */
  cluster: boolean
}

export async function openTelemetryWiring (w: TelemetryWiring): Promise<Telemetry> {
  const { config, engine, metrics } = w
  const logger = w.logger.child({ component: 'telemetry' })
  const observer = telemetryObserver(metrics, logger)
  let telemetry: Telemetry
  if (config.telemetry.enabled && config.telemetry.worker && w.systemTime) {
    const thread = await startTelemetryThread({
      config: config.telemetry,
      namespace: config.namespace,
      sync: config.storage.sync,
      location: engine.telemetryLocation,
      openLog: engine.openTopicLog,
      clock: w.clock,
      logger,
      observer,
      onCrash: () => metrics.workerCrashes.inc({ worker: 'telemetry' }),
      cluster: w.cluster
    })
    metrics.watchLoop('telemetry', thread.loop)
    telemetry = thread
  } else {
    const opened = await openTelemetryStore(engine.telemetryLocation)
    try {
      const here = await openTelemetry({ store: opened.store, log: w.log, clock: w.clock, config: config.telemetry, namespace: config.namespace, sync: config.storage.sync, observer, cluster: w.cluster })
      telemetry = { ...here, close: async () => { await here.close(); await opened.close() } }
    } catch (err) {
      await opened.close()
      throw err
    }
  }
  metrics.hooks.eventTime = () => ({ ...telemetry.counters() })
  const running = telemetry
  // A scrape while the worker restarts (or the store is away) leaves the gauge out, not the scrape.
  metrics.hooks.telemetryLag = async () => await Promise.all((await running.positions()).map(async ({ topic, position }) => {
    const next = (await w.log.getTopic(topic))?.nextOffset ?? position
    return { topic, lag: Math.max(0, next - position) }
  })).catch(() => undefined)
  return telemetry
}
