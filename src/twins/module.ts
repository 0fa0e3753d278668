import type { Clock } from '../core/clock.js'
import type { SubscriptionLeases } from '../core/leases.js'
import type { TopicLog } from '../log/types.js'
import { startProjection, type Projection, type ProjectionObserver, type ProjectionOptions } from './projection.js'
import type { TwinStore } from './store.js'
import { createTwins, type PublishRetained, type Twins } from './twins.js'

// The twins module as the composition root starts it: the `twins` topic, the projection
// and the queries over one store.

/** The namespace topic of `device.twin.changed` events. */
export const TWINS_TOPIC = 'twins'

export interface TwinsModuleOptions {
  /**
   * `stepIntervalMs`: a step of the projection at most this often unless it has a backlog: a
   * twin follows its device within about that, and a device sending several messages in that
   * time has them written as one history entry and one state write.
   */
  config: { sources: readonly string[], events: boolean, cacheDevices: number, snapshotEvery: number, maxDesiredBytes: number, stepIntervalMs: number }
  namespace: string
  log: TopicLog
  store: TwinStore
  clock: Clock
  publish: PublishRetained
  cluster?: { leases: SubscriptionLeases, node: string, intervalMs: number, leaseMs: number }
  onError: (err: unknown) => void
  observer?: ProjectionObserver
  /** Runs the projection; by default in this thread (the gateway runs it in the twins worker, twins-thread.ts). */
  runProjection?: (o: ProjectionOptions) => Promise<Projection>
}

export interface TwinsModule extends Twins {
  readonly projection: Projection
  /** The source topic `atOffset` counts in when the caller names none. */
  readonly defaultTopic: string
  /** The topics the projection follows. */
  readonly sources: readonly string[]
  close: () => Promise<void>
}

export async function openTwins (opts: TwinsModuleOptions): Promise<TwinsModule> {
  const { config } = opts
  // Created at start even when events are off: the store's atomic writes go through the log.
  if (await opts.log.getTopic(TWINS_TOPIC) === undefined) await opts.log.createTopic(TWINS_TOPIC)
  const events = config.events ? { topic: TWINS_TOPIC, namespace: opts.namespace } : undefined
  const twins = createTwins({ store: opts.store, clock: opts.clock, snapshotEvery: config.snapshotEvery, publish: opts.publish, maxDesiredBytes: config.maxDesiredBytes, ...(events === undefined ? {} : { events }) })
  const projectionOptions: ProjectionOptions = {
    log: opts.log,
    store: opts.store,
    // Never its own topic: twins events are not device events.
    sources: config.sources.filter((t) => t !== TWINS_TOPIC),
    clock: opts.clock,
    snapshotEvery: config.snapshotEvery,
    cacheDevices: config.cacheDevices,
    // Bounds one step's write, which shares the log's group commit with ingest. Larger steps
    // write fewer state and twins-event bytes per event (a device's are once per step), but
    // 10,000 measured slower fan-in than 2,000 (0.75 against 0.86 of twins off, README).
    batchEvents: 2000,
    stepIntervalMs: config.stepIntervalMs,
    ...(events === undefined ? {} : { events }),
    ...(opts.cluster === undefined ? {} : { cluster: opts.cluster }),
    onError: opts.onError,
    ...(opts.observer === undefined ? {} : { observer: opts.observer })
  }
  const projection = opts.runProjection === undefined ? startProjection(projectionOptions) : await opts.runProjection(projectionOptions)
  return { ...twins, projection, defaultTopic: config.sources[0] ?? '', sources: config.sources, close: () => projection.close() }
}
