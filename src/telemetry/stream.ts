import type { Clock, TimerHandle } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import type { EventTimeCounters, EventTimePolicyOptions } from './event-time.js'
import type { Rollups } from './rollups.js'
import { parseEvent, readEvent, type SkipReason, type SourceSpec } from './source.js'
import type { StoreFence, StreamCheckpoint, TelemetryStore } from './store.js'
import { createFanOut } from './stream-fanout.js'
import { createOutbox } from './stream-outbox.js'
import { outputPositions, scanOutputs } from './stream-recovery.js'
import { createSerial } from './stream-serial.js'
import { decodeState, snapshotChanges } from './stream-snapshots.js'
import { seriesKey, windowEvent } from './window-event.js'
import type { StreamWindow } from './window-operators.js'

// One source topic's telemetry consumer. It reads the topic from a stored cursor, turns
// events into readings (source.ts) and feeds them through the event-time policies to the
// rollups and every continuous window on the topic (stream-fanout.ts). Work and checkpoints
// run one at a time (stream-serial.ts).
//
// Crash safety. Every checkpointIntervalMs the stream appends the windows that closed to
// their output topics (stream-outbox.ts); every snapshotIntervalMs it commits, in ONE atomic
// write, the changed event-time policies, window operators and rollups with the source offset
// they correspond to and where each output topic stood. After a kill -9 the stream restores
// the snapshot and reads the source topic again from its offset. That replay computes exactly
// the windows the lost run computed: readings arrive in the same log order with the same
// arrival times, and the arrival-clock flushes of the lost run can only have closed windows
// earlier, never changed what went into them (a flush lifts the watermark to arrival − late
// tolerance, and every later reading is adjusted to at least that anyway). Windows the output
// topics already hold (stream-recovery.ts) are skipped; the rest are appended. So no closed
// window is lost, none is emitted twice, and none with other contents.
//
// On a cluster (`owner`) the stream runs on the node holding its lease. Its commits are fenced
// by that lease, and it appends windows and commits only before `owner.until()` (the lease's
// end as this node last renewed it, measured from before the renewal was sent, so earlier than
// the store's expiry): by the time another node can take the lease, this one has stopped
// writing, and the new owner's replay sees every window this one appended.

export type { StreamWindow }

export interface TelemetryObserver {
  readings?: (topic: string, n: number) => void
  skipped?: (topic: string, reason: SkipReason | 'field' | 'json', n: number) => void
  emitted?: (window: string, n: number) => void
  error?: (topic: string, err: unknown) => void
}

export interface StreamOptions {
  store: TelemetryStore
  log: TopicLog
  clock: Clock
  source: SourceSpec
  policy: EventTimePolicyOptions
  rollups: Rollups
  namespace: string
  sync: boolean
  /** How often closed windows are appended to their topics. */
  checkpointIntervalMs: number
  /** How often the state is written; a restart replays the source topic from the last one. */
  snapshotIntervalMs: number
  observer?: TelemetryObserver
  /** Records per log read. */
  readBatch?: number
  /** On a cluster: the lease this node holds the stream under. */
  owner?: StreamOwner
}

export interface StreamOwner {
  fence: StoreFence
  /** Until when this node may write for the stream (ms since the epoch). */
  until: () => number
}

export interface TelemetryStream {
  readonly topic: string
  /** Starts feeding a window from the current position (restoring its stored operators). */
  addWindow: (w: StreamWindow) => Promise<void>
  /** Stops a window and deletes its operators. */
  removeWindow: (name: string) => Promise<void>
  /** Processes what the topic holds and appends the windows that closed. */
  emit: () => Promise<void>
  /** emit(), then writes the state (a snapshot). */
  checkpoint: () => Promise<void>
  /** Per-device event-time policy counters, summed. */
  counters: () => EventTimeCounters
  /** The next source offset the stream has not read (the topic's next offset when it is caught up). */
  position: () => number
  /** A final checkpoint; open windows stay open for the next start. */
  close: () => Promise<void>
  /** Stops without writing anything more (its lease was lost: the next owner replays). */
  abandon: () => Promise<void>
}

export async function openStream (opts: StreamOptions, windows: readonly StreamWindow[]): Promise<TelemetryStream> {
  const { store, log, clock, source, rollups, observer } = opts
  const topic = source.topic
  const readBatch = opts.readBatch ?? 1000
  const serial = createSerial((err) => observer?.error?.(topic, err))
  const outbox = createOutbox(log, { emitted: (w, n) => observer?.emitted?.(w, n), error: (err) => observer?.error?.(topic, err) })
  /** While replaying after a restart: the newest window end already out, per window, device and metric. */
  let replay: { emitted: Map<string, number>, until: number } | null = null
  const fan = createFanOut({
    policy: opts.policy,
    rollup: rollups.add,
    readings: (n) => observer?.readings?.(topic, n),
    closed: (e, r) => {
      if (replay !== null && (replay.emitted.get(seriesKey(e.window.name, e.deviceId, e.metric)) ?? -Infinity) >= r.end) return
      outbox.push(windowEvent(opts.namespace, e.window, e.deviceId, e.metric, r))
    }
  })
  let cursor: number
  let cursorSaved: number
  let lastSnapshot = clock.now()
  let closed = false
  const owned = (): void => {
    if (opts.owner !== undefined && clock.now() >= opts.owner.until()) {
      throw new GridgateError('TELEMETRY_NOT_OWNED', `telemetry stream '${topic}': this node's lease has ended`)
    }
  }
  const commitOptions = { sync: opts.sync, ...(opts.owner === undefined ? {} : { fence: opts.owner.fence }) }

  function take (bytes: Buffer, arrival: number): void {
    const event = parseEvent(bytes)
    if (event === undefined) {
      observer?.skipped?.(topic, 'json', 1)
      return
    }
    const r = readEvent(event, arrival, source)
    if (typeof r === 'string') {
      if (r !== 'type') observer?.skipped?.(topic, r, 1)
      return
    }
    if (r.skipped > 0) observer?.skipped?.(topic, 'field', r.skipped)
    if (r.readings.length > 0) fan.accept(event, r, arrival)
  }

  async function pump (): Promise<void> {
    for (;;) {
      const info = await log.getTopic(topic)
      if (info === undefined || cursor >= info.nextOffset) return
      const { records, nextOffset } = await log.read(topic, { offset: cursor }, readBatch)
      for (const rec of records) take(rec.bytes, rec.time)
      if (nextOffset <= cursor) return
      cursor = nextOffset
      if (replay !== null && cursor >= replay.until) replay = null
    }
  }

  /** Closes what the arrival clock closes and appends every closed window to its topic. */
  async function emitNow (): Promise<void> {
    await pump()
    // Sparse devices: the arrival clock moves their watermarks (Stream Analytics' behaviour).
    fan.flush(clock.now())
    owned()
    await outbox.flush()
  }

  const outputTopics = (): string[] => [...fan.windows()].map((w) => w.spec.outputTopic)

  /** emitNow, then the state as of the cursor in one commit, with where each output topic stood. */
  async function snapshotNow (): Promise<void> {
    await emitNow()
    lastSnapshot = clock.now()
    const states = await snapshotChanges(topic, fan.devices())
    const buckets = await rollups.collect()
    const unsent = outbox.unsent()
    if (states.changes.length === 0 && buckets.changes.length === 0 && unsent.length === 0 && cursor === cursorSaved) return
    const checkpoint: StreamCheckpoint = { cursor, outputFrom: await outputPositions(log, outputTopics()), unsent }
    try {
      owned()
      await store.commit([...states.changes, ...buckets.changes, { kind: 'checkpoint', source: topic, checkpoint }], commitOptions)
    } catch (err) {
      states.failed()
      buckets.failed()
      throw err
    }
    cursorSaved = cursor
  }

  // ------------------------------------------------------------ start
  const stored = await store.loadStream(topic)
  cursor = stored.checkpoint?.cursor ?? (await log.getTopic(topic))?.nextOffset ?? 0
  cursorSaved = cursor
  if (stored.checkpoint !== undefined) {
    // Windows that went out after the snapshot are computed again by the replay and skipped;
    // its unsent ones that their topics still lack are appended now.
    const { emitted, pending } = await scanOutputs(log, stored.checkpoint, new Set(windows.map((w) => w.name)))
    owned()
    if (pending.length > 0) await outbox.append(pending)
    replay = { emitted, until: (await log.getTopic(topic))?.nextOffset ?? 0 }
  } else {
    // The starting position must be durable at once: a crash before the first snapshot
    // would otherwise start the next run at the topic's end and lose what came between.
    const outputFrom = await outputPositions(log, windows.map((w) => w.spec.outputTopic))
    owned()
    await store.commit([{ kind: 'checkpoint', source: topic, checkpoint: { cursor, outputFrom, unsent: [] } }], commitOptions)
  }
  for (const p of stored.policies) fan.restorePolicy(p.deviceId, decodeState(p.state))
  for (const w of windows) fan.attach(w)
  const stale = new Set<string>()
  for (const o of stored.operators) {
    const w = fan.window(o.window)
    if (w === undefined) stale.add(o.window)
    else fan.restoreOperator(w, o.deviceId, o.metric, decodeState(o.state), true)
  }
  for (const name of stale) await store.clearWindowState(topic, name)

  let scheduled = false
  const unsubscribe = log.onAppend((t) => {
    if (t !== topic || scheduled || closed) return
    scheduled = true
    void serial.background(async () => { scheduled = false; await pump() })
  })
  let timer: TimerHandle | undefined
  const tick = (): void => {
    timer = clock.setTimer(opts.checkpointIntervalMs, () => {
      if (closed) return
      const task = clock.now() - lastSnapshot >= opts.snapshotIntervalMs ? snapshotNow : emitNow
      void serial.background(task).then(() => { if (!closed) tick() })
    })
  }
  tick()
  void serial.background(pump)

  return {
    topic,
    addWindow: (w) => serial.run(async () => {
      const a = fan.attach(w)
      // Operators stored for this window (a restart) continue; a new window starts empty.
      for (const o of await store.loadWindowState(topic, w.name)) fan.restoreOperator(a, o.deviceId, o.metric, decodeState(o.state), false)
      // A snapshot at once, so that a replay after a crash neither feeds the new window older
      // events nor misses what it appended to a topic the last snapshot did not know.
      await snapshotNow()
    }),
    removeWindow: (name) => serial.run(async () => {
      fan.detach(name)
      outbox.drop(name)
      await store.clearWindowState(topic, name)
    }),
    emit: () => serial.run(emitNow),
    checkpoint: () => serial.run(snapshotNow),
    counters: fan.counters,
    position: () => cursor,
    close: async () => {
      if (closed) return
      closed = true
      await serial.background(snapshotNow)
      timer?.cancel()
      unsubscribe()
      await serial.idle()
    },
    abandon: async () => {
      if (closed) return
      closed = true
      timer?.cancel()
      unsubscribe()
      await serial.idle()
    }
  }
}
