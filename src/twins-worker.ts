import { isMainThread, parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { systemClock } from './core/clock.js'
import type { Lease } from './core/leases.js'
import { createRpc, type RpcPort } from './core/port-rpc.js'
import { errorToWire } from './core/wire-error.js'
import { remoteTopicLog } from './log/remote.js'
import { monitorLoop } from './observability/metrics.js'
import { startProjection, type Projection, type ProjectionLeases, type ProjectionOptions, type ProjectionStore } from './twins/projection.js'
import type { ReportedState } from './twins/model.js'
import type { EncodedTwinCommit } from './twins/store.js'
import { takeLoopDelay, yieldToIngest } from './worker-thread.js'

// The twins worker: the twin projection (twins/projection.ts) on a thread of its own, so that
// what it does for every routed event (parse it again, fold it into the device's twin, encode
// the step's states and history) never runs on the ingest event loop. It reads the source
// topics through the main thread's log (log/remote.ts); its store and leases stay on the main
// thread, which it calls for them (twins-thread.ts serves them): a step's commit arrives there
// as JSON text and is written as it was before, in one atomic write with its events, so a
// worker that dies loses nothing and repeats nothing (it goes on from the stored cursors).
//   calls from the main thread   close
//   calls to the main thread     cursors, reported, commit; acquire, renew, release (a cluster)
//   notices                      'ready' or 'failed' once at start; 'error' for each failed
//                                step; 'stats' every statsIntervalMs: steps, events read,
//                                changes, whether it projects now, this loop's delay.

export interface TwinsWorkerData {
  projection: Pick<ProjectionOptions, 'sources' | 'snapshotEvery' | 'cacheDevices' | 'batchEvents' | 'stepIntervalMs' | 'events'>
  cluster?: { node: string, intervalMs: number, leaseMs: number }
  statsIntervalMs: number
  /** The log's port (serveTopicLog at the other end). */
  logPort: MessagePort
}

/** What a 'stats' notice carries. */
export interface TwinsStats {
  steps: number
  events: number
  changes: number
  /** Whether this node projects now (the lease, on a cluster). */
  owner: boolean
  /** The next offset of each source topic, as committed. */
  positions: Record<string, number>
  loop: number[]
}

function run (port: RpcPort, data: TwinsWorkerData): void {
  yieldToIngest()
  const loop = monitorLoop()
  let steps = 0
  let events = 0
  let changes = 0
  let closing: Promise<void> | undefined
  const rpc = createRpc(port, {
    handlers: {
      close: async () => {
        closing ??= (async () => {
          clearInterval(timer)
          await projection.close()
          postStats()
          await log.close()
          loop.disable()
        })()
        await closing
      }
    }
  })
  const postStats = (): void => {
    rpc.notify('stats', { steps, events, changes, owner: projection.owner, positions: projection.positions(), loop: takeLoopDelay(loop) } satisfies TwinsStats)
    steps = 0
    events = 0
    changes = 0
  }
  const store: ProjectionStore = {
    cursors: async () => await rpc.call<Record<string, number>>('cursors'),
    reported: async (deviceId) => await rpc.call<ReportedState | undefined>('reported', deviceId),
    commit: async (step: EncodedTwinCommit) => { await rpc.call('commit', step) }
  }
  const leases: ProjectionLeases = {
    acquire: async (key, node, ms) => await rpc.call<Lease | undefined>('acquire', key, node, ms),
    renew: async (key, lease, ms) => await rpc.call<boolean>('renew', key, lease, ms),
    release: async (key, lease) => { await rpc.call('release', key, lease) }
  }
  const log = remoteTopicLog(data.logPort, systemClock)
  const projection: Projection = startProjection({
    ...data.projection,
    log,
    store,
    clock: systemClock,
    ...(data.cluster === undefined ? {} : { cluster: { ...data.cluster, leases } }),
    onError: (err) => { rpc.notify('error', errorToWire(err)) },
    observer: { step: (e, c) => { steps++; events += e; changes += c } }
  })
  const timer = setInterval(postStats, data.statsIntervalMs)
  rpc.notify('ready')
}

// Anything that escapes run() ends the thread with that error: the main thread's 'error' event.
if (!isMainThread && parentPort !== null) run(parentPort, workerData as TwinsWorkerData)
