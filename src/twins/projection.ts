import type { Clock, TimerHandle } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { Lease, SubscriptionLeases } from '../core/leases.js'
import type { TopicLog } from '../log/types.js'
import { reportedChangedEvent } from './events.js'
import { draftOf, foldInto, sourceEvent } from './fold.js'
import { Lru } from './lru.js'
import { byDevice, emptyReported, type ReportedState, type SourceEvent, type TwinChange } from './model.js'
import { encodeCommit, type TwinStore } from './store.js'

// The reported state of every device, projected from the routed namespace topics. It reads
// them through the TopicLog port from its stored cursors, as delivery and telemetry do, so it
// is never on the PUBACK path: an event is acknowledged once appended, and the projection
// follows when the log says it grew (onAppend). Each step reads a batch of every source topic,
// folds the events into the twins they touch and commits, in one atomic write, the new
// states, their history entries, snapshots every `snapshotEvery` versions, the `device.twin.changed`
// events and the cursors: after a crash it starts from the last step written, neither losing
// nor repeating a change.
//
// Memory: the hot twins are kept in an LRU of `cacheDevices`; others are read from the store
// when an event of theirs arrives. The store's copy is authoritative; the cache is only ever
// ahead of it inside a step, and is cleared when a step fails or ownership moves.
//
// On a cluster the nodes share one store: one node projects at a time, the holder of the
// lease `$twins!projection` (core/leases.ts), renewed every `intervalMs`.

export const PROJECTION_LEASE = '$twins!projection'

export interface ProjectionObserver {
  /** A step read `events` events, of which `changes` changed a twin, in `ms`. */
  step?: (events: number, changes: number, ms: number) => void
}

/** What the projection uses of the twin store (the worker calls these on the main thread). */
export type ProjectionStore = Pick<TwinStore, 'cursors' | 'reported' | 'commit'>
/** What the projection uses of the lease store. */
export type ProjectionLeases = Pick<SubscriptionLeases, 'acquire' | 'renew' | 'release'>

export interface ProjectionOptions {
  log: TopicLog
  store: ProjectionStore
  /** The namespace topics whose device events set reported fields. */
  sources: readonly string[]
  clock: Clock
  snapshotEvery: number
  cacheDevices: number
  /** Events read per topic per step. */
  batchEvents: number
  /**
   * The least time between the starts of two steps unless the last one read a full batch:
   * events gather meanwhile, so a busy device's changes share one write (history and state
   * are one key per device per step). 0: a step as soon as the log grows.
   */
  stepIntervalMs: number
  /** Where `device.twin.changed` events go; none when absent. */
  events?: { topic: string, namespace: string }
  cluster?: { leases: ProjectionLeases, node: string, intervalMs: number, leaseMs: number }
  onError: (err: unknown) => void
  observer?: ProjectionObserver
}

export interface Projection {
  /** Whether this node projects now (always on the embedded engines). */
  readonly owner: boolean
  /** The next offset of each source topic, as committed. */
  positions: () => Readonly<Record<string, number>>
  close: () => Promise<void>
}

export function startProjection (opts: ProjectionOptions): Projection {
  const { log, store, clock } = opts
  const cache = new Lru<string, ReportedState>(opts.cacheDevices)
  const sources = new Set(opts.sources)
  let cursors: Record<string, number> = {}
  let reload = true
  let stopped = false
  let owned = opts.cluster === undefined
  let lease: Lease | undefined
  let wake: (() => void) | undefined
  let pending = true
  /** Whether the last step read a full batch of some topic (more is waiting). */
  let full = false

  const unlisten = log.onAppend((topic) => {
    if (!sources.has(topic)) return
    pending = true
    wake?.()
  })
  const sleep = async (ms: number): Promise<void> => await new Promise<void>((resolve) => {
    const done = (): void => { timer.cancel(); wake = undefined; resolve() }
    wake = done
    const timer = clock.setTimer(ms, done)
  })

  // Pacing: appends do not cut it short (they are what it waits to gather); a stop does, and
  // while waiting for ownership, gaining it does.
  const pace = async (ms: number): Promise<void> => await new Promise<void>((resolve) => {
    const waitingForLease = !owned
    const done = (): void => { timer.cancel(); wake = undefined; resolve() }
    wake = () => { if (stopped || (waitingForLease && owned)) done() }
    const timer = clock.setTimer(ms, done)
  })

  async function step (): Promise<boolean> {
    const started = performance.now()
    if (reload) {
      cursors = await store.cursors()
      cache.clear()
      reload = false
    }
    const fetched: Array<{ ev: SourceEvent, arrival: number }> = []
    const moved: Record<string, number> = {}
    let read = 0
    full = false
    for (const topic of opts.sources) {
      const from = cursors[topic] ?? 0
      let result
      try {
        result = await log.read(topic, { offset: from }, opts.batchEvents)
      } catch (err) {
        if (err instanceof GridgateError && err.code === 'TOPIC_NOT_FOUND') continue
        throw err
      }
      if (result.nextOffset !== from) moved[topic] = result.nextOffset
      read += result.records.length
      if (result.records.length >= opts.batchEvents) full = true
      for (const r of result.records) {
        let parsed: unknown
        try { parsed = JSON.parse(r.bytes.toString('utf8')) } catch { continue }
        const ev = sourceEvent(topic, r.offset, r.time, parsed)
        if (ev !== undefined) fetched.push({ ev, arrival: r.time })
      }
    }
    if (Object.keys(moved).length === 0) return false
    // Across topics in the order the log accepted them (stable: a topic's own order stays).
    const events = fetched.sort((a, b) => a.arrival - b.arrival).map((x) => x.ev)

    // Twins not in the cache are read together, before folding.
    const states = new Map<string, ReportedState>()
    const missing = new Set<string>()
    for (const ev of events) {
      if (states.has(ev.deviceId)) continue
      const hot = cache.get(ev.deviceId)
      if (hot !== undefined) states.set(ev.deviceId, hot)
      else missing.add(ev.deviceId)
    }
    await Promise.all([...missing].map(async (id) => { states.set(id, await store.reported(id) ?? emptyReported(id)) }))

    // Each device's events fold into one draft per step (copied once, then changed in place).
    const changes: TwinChange[] = []
    const snapshots: ReportedState[] = []
    const drafts = new Map<string, ReportedState>()
    for (const ev of events) {
      let draft = drafts.get(ev.deviceId)
      if (draft === undefined) {
        draft = draftOf(states.get(ev.deviceId) as ReportedState)
        drafts.set(ev.deviceId, draft)
      }
      const change = foldInto(draft, ev)
      if (change === undefined) continue
      changes.push(change)
      if (draft.version % opts.snapshotEvery === 0) snapshots.push(draftOf(draft))
    }
    const dirty = new Set(changes.map((c) => c.deviceId))
    for (const id of dirty) states.set(id, drafts.get(id) as ReportedState)
    const ev = opts.events
    await store.commit(encodeCommit({
      states: [...dirty].map((id) => states.get(id) as ReportedState),
      changes,
      snapshots,
      cursors: moved,
      ...(ev === undefined || changes.length === 0 ? {} : { events: { topic: ev.topic, events: byDevice(changes).map((group) => reportedChangedEvent(ev.namespace, group)) } })
    }))
    Object.assign(cursors, moved)
    for (const [id, s] of states) cache.set(id, s)
    opts.observer?.step?.(read, changes.length, performance.now() - started)
    return true
  }

  const running = (): boolean => !stopped
  async function run (): Promise<void> {
    while (running()) {
      // Not the owner: appends do not wake it (the lease loop decides), only a stop does.
      if (!owned) { await pace(opts.cluster?.intervalMs ?? 1000); continue }
      try {
        pending = false
        const started = clock.now()
        const progressed = await step()
        // Nothing read and nothing appended meanwhile: wait for the log to grow.
        if (!progressed && !pending && !stopped) await sleep(5000)
        else if (progressed && !full && opts.stepIntervalMs > 0 && !stopped) {
          const rest = opts.stepIntervalMs - (clock.now() - started)
          if (rest > 0) await pace(rest)
        }
      } catch (err) {
        reload = true
        if (!stopped) opts.onError(err)
        if (!stopped) await sleep(1000)
      }
    }
  }

  // Ownership on a cluster: take the lease when free, keep it renewed, let go on a failed renewal.
  let leaseTimer: TimerHandle | undefined
  let leasing: Promise<void> = Promise.resolve()
  const c = opts.cluster
  const tend = async (): Promise<void> => {
    if (c === undefined) return
    try {
      if (lease !== undefined && !await c.leases.renew(PROJECTION_LEASE, lease, c.leaseMs)) lease = undefined
      if (lease === undefined) lease = await c.leases.acquire(PROJECTION_LEASE, c.node, c.leaseMs)
    } catch (err) {
      lease = undefined
      opts.onError(err)
    }
    const now = lease !== undefined
    if (now && !owned) reload = true
    const gained = now && !owned
    owned = now
    if (gained) wake?.()
  }
  const schedule = (): void => {
    if (c === undefined || stopped) return
    leaseTimer = clock.setTimer(c.intervalMs, () => { leasing = tend().then(schedule) })
  }
  leasing = tend().then(schedule)
  const runner = run()

  return {
    get owner () { return owned },
    positions: () => ({ ...cursors }),
    async close () {
      stopped = true
      unlisten()
      leaseTimer?.cancel()
      wake?.()
      await runner
      await leasing
      if (c !== undefined && lease !== undefined) await c.leases.release(PROJECTION_LEASE, lease).catch(() => undefined)
    }
  }
}
