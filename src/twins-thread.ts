import type { Lease } from './core/leases.js'
import { errorFromWire, type WireError } from './core/wire-error.js'
import type { TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import type { LoopDelay } from './observability/metrics.js'
import type { Projection, ProjectionOptions } from './twins/projection.js'
import type { EncodedTwinCommit, TwinStore } from './twins/store.js'
import type { TwinsStats, TwinsWorkerData } from './twins-worker.js'
import { startWorker } from './worker-host.js'

// The main thread's side of the twins worker (twins-worker.ts): it starts the worker, serves
// it the log, the twin store and the leases, and is the Projection the twins module holds.
// A worker that dies is started again (worker-host.ts) and goes on from the stored cursors.

export interface TwinsThreadOptions {
  projection: ProjectionOptions
  /** A TopicLog for one worker (closed when that worker ends). */
  openLog: () => TopicLog
  /** The store the worker's steps are written to (all of it, on this thread). */
  store: TwinStore
  logger: Logger
  /** A worker died unasked (it is started again). */
  onCrash?: () => void
  /** How often the worker reports its counts and loop delay (default 1 s). */
  statsIntervalMs?: number
}

export interface TwinsThread extends Projection {
  readonly loop: LoopDelay
  readonly threadId: number | undefined
  readonly restarts: number
  /** Ends the running worker as a crash would (tests of the restart). */
  crash: () => Promise<void>
}

/** Buffers cross a port as plain Uint8Arrays: Buffers again, without a copy. */
const asBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)

export async function startTwinsThread (opts: TwinsThreadOptions): Promise<TwinsThread> {
  const p = opts.projection
  const { store } = opts
  let owner = p.cluster === undefined
  let positions: Record<string, number> = {}
  const leases = p.cluster?.leases
  const data: Omit<TwinsWorkerData, 'logPort'> = {
    projection: { sources: p.sources, snapshotEvery: p.snapshotEvery, cacheDevices: p.cacheDevices, batchEvents: p.batchEvents, stepIntervalMs: p.stepIntervalMs, ...(p.events === undefined ? {} : { events: p.events }) },
    ...(p.cluster === undefined ? {} : { cluster: { node: p.cluster.node, intervalMs: p.cluster.intervalMs, leaseMs: p.cluster.leaseMs } }),
    statsIntervalMs: opts.statsIntervalMs ?? 1000
  }
  const host = await startWorker({
    name: 'twins',
    module: 'twins-worker',
    data,
    openLog: opts.openLog,
    // A step waits stepIntervalMs for events to gather anyway: no need for every append's notice.
    noticeIntervalMs: 20,
    handlers: {
      cursors: async () => await store.cursors(),
      reported: async (deviceId: string) => await store.reported(deviceId),
      commit: async (step: EncodedTwinCommit) => {
        await store.commit(step.events === undefined ? step : { ...step, events: { topic: step.events.topic, events: step.events.events.map(asBuffer) } })
      },
      acquire: async (key: string, node: string, ms: number) => await leases?.acquire(key, node, ms),
      renew: async (key: string, lease: Lease, ms: number) => await leases?.renew(key, lease, ms) ?? false,
      release: async (key: string, lease: Lease) => { await leases?.release(key, lease) }
    },
    onNotice: (kind, value) => {
      if (kind === 'stats') {
        const s = value as TwinsStats
        owner = s.owner
        positions = s.positions
        if (s.steps > 0) p.observer?.step?.(s.events, s.changes, 0)
      } else if (kind === 'error') p.onError(errorFromWire(value as WireError))
    },
    ...(opts.onCrash === undefined ? {} : { onCrash: opts.onCrash }),
    clock: p.clock,
    logger: opts.logger
  })
  return {
    get owner () { return owner },
    // As of the worker's last report (every statsIntervalMs).
    positions: () => ({ ...positions }),
    get loop () { return host.loop },
    get threadId () { return host.threadId },
    get restarts () { return host.restarts },
    crash: () => host.crash(),
    close: () => host.close()
  }
}
