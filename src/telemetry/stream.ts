import type { Clock, TimerHandle } from '../core/clock.js'
import type { EventMatcher } from '../core/filters.js'
import type { TopicLog } from '../log/types.js'
import type { BinarySublevel, Storage } from '../storage/db.js'
import { RANGE_END } from '../storage/keys.js'
import { resultReader, type Aggregate } from './aggregate.js'
import { createEventTimePolicy, type EventTimeCounters, type EventTimePolicy, type EventTimePolicyOptions, type TimedValue } from './event-time.js'
import type { RollupStore } from './rollups.js'
import { readEvent, type SkipReason, type SourceSpec } from './source.js'
import type { WindowSpec } from './window-spec.js'
import { createHopping, createSessionWindow, createSlidingWindow, createTumbling, type WindowOperator } from './windows.js'

// One source topic's telemetry consumer. It reads the topic from a stored cursor, turns
// events into readings, passes them per device through the event-time policy, and feeds the
// rollups and every continuous window on the topic. Work and checkpoints run one at a time.
//
// Crash safety. Every checkpointIntervalMs the stream appends the windows that closed to
// their output topics; every snapshotIntervalMs it writes, in ONE LevelDB batch, the changed
// event-time policies, window operators and rollups with the source offset they correspond
// to and where each output topic stood. After a kill -9 the stream restores the snapshot
// and reads the source topic again from its offset. That replay computes exactly the
// windows the lost run computed: readings arrive in the same log order with the same arrival
// times, and the arrival-clock flushes of the lost run can only have closed windows earlier,
// never changed what went into them (a flush lifts the watermark to arrival − late
// tolerance, and every later reading is adjusted to at least that anyway). Windows the
// output topics already hold (newest end per window, device and metric, read back from
// where the snapshot says) are skipped; the rest are appended. So no closed window is lost,
// none is emitted twice, and none with other contents.
//
// Keys in the `telemetry` sublevel, per source topic T:
//   s!T!c                          { cursor, outputFrom, unsent }
//   s!T!p!{deviceId}               the device's event-time policy
//   s!T!o!{window}!{deviceId}!{metric}   a window operator

/** What waits in the event-time buffer per event: its readings and the filtered windows that refused it. */
type Held = [readings: Array<[string, number]>, excluded: string[] | 0]

export interface StreamWindow {
  name: string
  spec: WindowSpec
  matcher: EventMatcher | undefined
}

export interface TelemetryObserver {
  readings?: (topic: string, n: number) => void
  skipped?: (topic: string, reason: SkipReason | 'field' | 'json', n: number) => void
  emitted?: (window: string, n: number) => void
  error?: (topic: string, err: unknown) => void
}

export interface StreamOptions {
  storage: Storage
  /** Where the stream keeps its snapshots (stateSublevel(storage)). */
  db: BinarySublevel
  log: TopicLog
  clock: Clock
  source: SourceSpec
  policy: EventTimePolicyOptions
  rollups: RollupStore
  namespace: string
  sync: boolean
  /** How often closed windows are appended to their topics. */
  checkpointIntervalMs: number
  /** How often the state is written; a restart replays the source topic from the last one. */
  snapshotIntervalMs: number
  observer?: TelemetryObserver
  /** Records per log read. */
  readBatch?: number
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
  /** A final checkpoint; open windows stay open for the next start. */
  close: () => Promise<void>
}

interface OutboxEntry {
  topic: string
  id: string
  json: string
}

interface OpEntry {
  window: Attached
  deviceId: string
  metric: string
  op: WindowOperator<unknown>
  dirty: boolean
}

interface Device {
  id: string
  policy: EventTimePolicy<Held>
  dirty: boolean
  advancedTo: number
  ops: Map<string, OpEntry>
}

interface Attached extends StreamWindow {
  metrics: Set<string> | null
  /** count first, then the requested aggregates. */
  names: string[]
  read: (agg: Aggregate) => Record<string, number | null>
}

interface Checkpoint {
  /** The next source offset the state has not seen. */
  cursor: number
  /** Each output topic's next offset when the snapshot was taken: later windows are after it. */
  outputFrom: Record<string, number>
  /** Closed windows whose append failed, retried. */
  unsent: OutboxEntry[]
}

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * Snapshots are stored as JSON text the stream writes itself, a few hundred operators at a
 * time between turns of the event loop: one batch of thousands of window states encoded in
 * one go stalled ingest for a second.
 */
export const stateSublevel = (storage: Storage): BinarySublevel => storage.binary('telemetry-state')
const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
const decode = (buf: Buffer): unknown => JSON.parse(buf.toString('utf8'))
const turn = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))
const OPS_PER_TURN = 256

function operatorFor (spec: WindowSpec, names: string[], state?: unknown): WindowOperator<unknown> {
  const w = spec.window
  const opts = { percentiles: names.some((n) => n === 'p50' || n === 'p95' || n === 'p99') }
  switch (w.kind) {
    case 'tumbling': return createTumbling(w.sizeMs, w.offsetMs, opts, state)
    case 'hopping': return createHopping(w.sizeMs, w.hopMs, w.offsetMs, opts, state)
    case 'sliding': return createSlidingWindow(w.sizeMs, names, state)
    case 'session': return createSessionWindow(w.timeoutMs, w.maxDurationMs, opts, state)
  }
}

export async function openStream (opts: StreamOptions, windows: readonly StreamWindow[]): Promise<TelemetryStream> {
  const { storage, db, log, clock, source, rollups, observer } = opts
  const topic = source.topic
  const readBatch = opts.readBatch ?? 1000
  const prefix = `s!${topic}!`
  const attached = new Map<string, Attached>()
  const devices = new Map<string, Device>()
  let filtered: Attached[] = []
  let outbox: OutboxEntry[] = []
  /** Appends that failed (an output topic was deleted, a disk error): retried at the next checkpoint. */
  const unsent: OutboxEntry[] = []
  let cursor: number
  let cursorSaved: number
  let lastSnapshot = clock.now()
  /** While replaying after a restart: the newest window end already in the output topic, per window, device and metric. */
  let emitted: Map<string, number> | null = null
  let replayUntil = 0
  let closed = false

  // ------------------------------------------------------------ one task at a time
  let chain: Promise<void> = Promise.resolve()
  const run = <T>(task: () => Promise<T>): Promise<T> => {
    const p = chain.then(task)
    chain = p.then(() => {}, (err: unknown) => { observer?.error?.(topic, err) })
    return p
  }
  /** For work nobody awaits: failures are reported through the observer by `run`. */
  const background = (task: () => Promise<void>): Promise<void> => run(task).catch(() => {})

  function attach (w: StreamWindow): Attached {
    const names = ['count', ...w.spec.aggregates.filter((a) => a !== 'count')]
    const a: Attached = { ...w, metrics: w.spec.metrics.length === 0 ? null : new Set(w.spec.metrics), names, read: resultReader(names) }
    attached.set(w.name, a)
    filtered = [...attached.values()].filter((x) => x.matcher !== undefined)
    return a
  }

  function device (id: string, state?: unknown): Device {
    let d = devices.get(id)
    if (d === undefined) {
      d = { id, policy: createEventTimePolicy<Held>(opts.policy, state), dirty: false, advancedTo: -Infinity, ops: new Map() }
      devices.set(id, d)
    }
    return d
  }

  function opFor (d: Device, w: Attached, metric: string): OpEntry {
    const key = w.name + '\0' + metric
    let e = d.ops.get(key)
    if (e === undefined) {
      e = { window: w, deviceId: d.id, metric, op: operatorFor(w.spec, w.names), dirty: true }
      d.ops.set(key, e)
    }
    return e
  }

  function emit (e: OpEntry, result: unknown): void {
    const w = e.window
    const r = result as { start: number, end: number, aggregate?: Aggregate, values?: Record<string, number | null>, closedBy?: string }
    const values = r.values ?? w.read(r.aggregate as Aggregate)
    const data: Record<string, unknown> = { window: w.name, kind: w.spec.window.kind, deviceId: e.deviceId, metric: e.metric, start: iso(r.start), end: iso(r.end), ...values }
    if (r.closedBy !== undefined) data.closedBy = r.closedBy
    if (emitted !== null && (emitted.get(w.name + '\0' + e.deviceId + '\0' + e.metric) ?? -Infinity) >= r.end) return
    // The id is the window's identity: the same window always gets the same id.
    const id = `${w.name}/${e.deviceId}/${r.end}/${e.metric}`
    const event = {
      specversion: '1.0',
      id,
      source: `/${opts.namespace}/windows/${w.name}`,
      type: 'telemetry.window',
      subject: `devices/${e.deviceId}/metrics/${e.metric}`,
      time: iso(r.end),
      deviceid: e.deviceId,
      datacontenttype: 'application/json',
      data
    }
    outbox.push({ topic: w.spec.outputTopic, id, json: JSON.stringify(event) })
  }

  function feed (d: Device, released: ReadonlyArray<TimedValue<Held>>): void {
    let n = 0
    for (const { time, value: [readings, excluded] } of released) {
      for (const [metric, v] of readings) {
        n++
        rollups.add(d.id, metric, time, v)
        for (const w of attached.values()) {
          if (excluded !== 0 && excluded.includes(w.name)) continue
          if (w.metrics !== null && !w.metrics.has(metric)) continue
          const e = opFor(d, w, metric)
          e.op.add(time, v)
          e.dirty = true
        }
      }
    }
    if (n > 0) observer?.readings?.(topic, n)
  }

  /** Closes the device's windows its watermark has passed; true when any closed. */
  function advance (d: Device): boolean {
    const wm = d.policy.watermark
    if (wm === d.advancedTo) return false
    d.advancedTo = wm
    let any = false
    for (const e of d.ops.values()) {
      const results = e.op.advance(wm)
      if (results.length === 0) continue
      any = true
      e.dirty = true
      for (const r of results) emit(e, r)
    }
    return any
  }

  function take (bytes: Buffer, arrival: number): void {
    let event: Record<string, unknown>
    try {
      const parsed: unknown = JSON.parse(bytes.toString('utf8'))
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object')
      event = parsed as Record<string, unknown>
    } catch {
      observer?.skipped?.(topic, 'json', 1) // the log holds validated events: a guard, not a path
      return
    }
    const r = readEvent(event, arrival, source)
    if (typeof r === 'string') {
      if (r !== 'type') observer?.skipped?.(topic, r, 1)
      return
    }
    if (r.skipped > 0) observer?.skipped?.(topic, 'field', r.skipped)
    if (r.readings.length === 0) return
    let excluded: string[] | 0 = 0
    for (const w of filtered) {
      if (!(w.matcher as EventMatcher)(event)) (excluded === 0 ? (excluded = []) : excluded).push(w.name)
    }
    const d = device(r.deviceId)
    const released = d.policy.accept(r.time, arrival, [r.readings, excluded])
    d.dirty = true
    if (released.length > 0) feed(d, released)
    advance(d)
  }

  async function pump (): Promise<void> {
    for (;;) {
      const info = log.getTopic(topic)
      if (info === undefined || cursor >= info.nextOffset) return
      const { records, nextOffset } = await log.read(topic, { offset: cursor }, readBatch)
      for (const rec of records) take(rec.bytes, rec.time)
      if (nextOffset <= cursor) return
      cursor = nextOffset
      if (emitted !== null && cursor >= replayUntil) emitted = null
    }
  }

  // ------------------------------------------------------------ checkpoints
  async function appendOutbox (entries: OutboxEntry[]): Promise<void> {
    const byTopic = new Map<string, OutboxEntry[]>()
    for (const e of entries) {
      const list = byTopic.get(e.topic)
      if (list === undefined) byTopic.set(e.topic, [e])
      else list.push(e)
    }
    for (const [t, list] of byTopic) {
      try {
        await log.append(t, list.map((e) => Buffer.from(e.json)))
        for (const name of new Set(list.map((e) => e.id.slice(0, e.id.indexOf('/'))))) {
          observer?.emitted?.(name, list.filter((e) => e.id.startsWith(name + '/')).length)
        }
      } catch (err) {
        unsent.push(...list)
        observer?.error?.(topic, err)
      }
    }
  }

  /** Closes what the arrival clock closes and appends every closed window to its topic. */
  async function emitNow (): Promise<void> {
    await pump()
    // Sparse devices: the arrival clock moves their watermarks (Stream Analytics' behaviour).
    const now = clock.now()
    for (const d of devices.values()) {
      const released = d.policy.flush(now)
      if (released.length > 0) feed(d, released)
      if (advance(d) || released.length > 0) d.dirty = true
    }
    const out = [...unsent.splice(0), ...outbox.splice(0)]
    if (out.length > 0) await appendOutbox(out)
  }

  /** emitNow, then the state as of the cursor in one batch, with where each output topic stood. */
  async function snapshotNow (): Promise<void> {
    await emitNow()
    lastSnapshot = clock.now()
    const ops: unknown[] = []
    // Only this task touches the state until it ends (tasks run one at a time), so the turns
    // given to ingest in between cannot change what is being written.
    let sinceTurn = 0
    for (const d of devices.values()) {
      if (d.dirty) {
        d.dirty = false
        ops.push({ type: 'put', sublevel: db, key: `${prefix}p!${d.id}`, value: encode(d.policy.snapshot()) })
        sinceTurn++
      }
      for (const e of d.ops.values()) {
        if (!e.dirty) continue
        e.dirty = false
        ops.push({ type: 'put', sublevel: db, key: `${prefix}o!${e.window.name}!${d.id}!${e.metric}`, value: encode(e.op.snapshot()) })
        sinceTurn++
      }
      if (sinceTurn >= OPS_PER_TURN) {
        sinceTurn = 0
        await turn()
      }
    }
    ops.push(...await rollups.collect())
    if (ops.length === 0 && unsent.length === 0 && cursor === cursorSaved) return
    const outputFrom: Record<string, number> = {}
    for (const w of attached.values()) outputFrom[w.spec.outputTopic] ??= log.getTopic(w.spec.outputTopic)?.nextOffset ?? 0
    const cp: Checkpoint = { cursor, outputFrom, unsent: [...unsent] }
    ops.push({ type: 'put', sublevel: db, key: `${prefix}c`, value: encode(cp) })
    await storage.batch(ops, { sync: opts.sync })
    cursorSaved = cursor
  }

  /**
   * After a restart: which windows went out after the snapshot (the replay from its cursor
   * computes them again, identically, and emit() skips them), and which of its unsent ones
   * still need appending.
   */
  async function recover (cp: Checkpoint): Promise<void> {
    const names = new Set(windows.map((w) => w.name))
    const pending = new Map(cp.unsent.map((e) => [e.topic + '\0' + e.id, e]))
    emitted = new Map()
    for (const [t, from] of Object.entries(cp.outputFrom)) {
      let offset = from
      for (let guard = 0; log.getTopic(t) !== undefined && guard < 1_000_000; guard++) {
        const { records, nextOffset } = await log.read(t, { offset }, 1000)
        for (const rec of records) {
          const id = (JSON.parse(rec.bytes.toString('utf8')) as { id?: unknown }).id
          if (typeof id !== 'string') continue
          pending.delete(t + '\0' + id)
          // {window}/{device}/{end}/{metric}: device ids and window names hold no '/'.
          const [name, device, end] = id.split('/', 3)
          if (name === undefined || device === undefined || end === undefined || !names.has(name)) continue
          const key = name + '\0' + device + '\0' + id.slice(name.length + device.length + end.length + 3)
          const n = Number(end)
          if (!((emitted.get(key) ?? -Infinity) >= n)) emitted.set(key, n)
        }
        if (records.length === 0 || nextOffset <= offset) break
        offset = nextOffset
      }
    }
    if (pending.size > 0) await appendOutbox([...pending.values()])
    replayUntil = log.getTopic(topic)?.nextOffset ?? 0
  }

  // ------------------------------------------------------------ start
  const storedBytes = await db.get(`${prefix}c`)
  const stored = storedBytes === undefined ? undefined : decode(storedBytes) as Checkpoint
  cursor = stored?.cursor ?? log.getTopic(topic)?.nextOffset ?? 0
  cursorSaved = stored === undefined ? -1 : cursor
  if (stored !== undefined) await recover(stored)
  else {
    // The starting position must be durable at once: a crash before the first snapshot
    // would otherwise start the next run at the topic's end and lose what came between.
    const outputFrom: Record<string, number> = {}
    for (const w of windows) outputFrom[w.spec.outputTopic] ??= log.getTopic(w.spec.outputTopic)?.nextOffset ?? 0
    await db.put(`${prefix}c`, encode({ cursor, outputFrom, unsent: [] } satisfies Checkpoint))
    cursorSaved = cursor
  }
  for await (const [key, value] of db.iterator({ gte: `${prefix}p!`, lt: `${prefix}p!${RANGE_END}` })) {
    device(key.slice(prefix.length + 2), decode(value))
  }
  for (const w of windows) attach(w)
  const stale: string[] = []
  for await (const [key, value] of db.iterator({ gte: `${prefix}o!`, lt: `${prefix}o!${RANGE_END}` })) {
    const [name, deviceId, ...rest] = key.slice(prefix.length + 2).split('!')
    const w = attached.get(name as string)
    if (w === undefined || deviceId === undefined) {
      stale.push(key)
      continue
    }
    const metric = rest.join('!')
    const d = device(deviceId)
    d.advancedTo = d.policy.watermark
    d.ops.set(w.name + '\0' + metric, { window: w, deviceId, metric, op: operatorFor(w.spec, w.names, decode(value)), dirty: false })
  }
  if (stale.length > 0) await db.batch(stale.map((key) => ({ type: 'del' as const, key })))

  let scheduled = false
  const unsubscribe = log.onAppend((t) => {
    if (t !== topic || scheduled || closed) return
    scheduled = true
    void background(async () => { scheduled = false; await pump() })
  })
  let timer: TimerHandle | undefined
  const tick = (): void => {
    timer = clock.setTimer(opts.checkpointIntervalMs, () => {
      if (closed) return
      const task = clock.now() - lastSnapshot >= opts.snapshotIntervalMs ? snapshotNow : emitNow
      void background(task).then(() => { if (!closed) tick() })
    })
  }
  tick()
  void background(pump)

  return {
    topic,
    addWindow: (w) => run(async () => {
      const a = attach(w)
      // Operators stored for this window (a restart) continue; a new window starts empty.
      for await (const [key, value] of db.iterator({ gte: `${prefix}o!${w.name}!`, lt: `${prefix}o!${w.name}!${RANGE_END}` })) {
        const [deviceId, ...rest] = key.slice(prefix.length + 3 + w.name.length).split('!')
        if (deviceId === undefined) continue
        const metric = rest.join('!')
        device(deviceId).ops.set(w.name + '\0' + metric, { window: a, deviceId, metric, op: operatorFor(w.spec, a.names, decode(value)), dirty: false })
      }
      // A snapshot at once, so that a replay after a crash neither feeds the new window older
      // events nor misses what it appended to a topic the last snapshot did not know.
      await snapshotNow()
    }),
    removeWindow: (name) => run(async () => {
      attached.delete(name)
      filtered = [...attached.values()].filter((x) => x.matcher !== undefined)
      for (const d of devices.values()) {
        for (const [key, e] of d.ops) if (e.window.name === name) d.ops.delete(key)
      }
      outbox = outbox.filter((e) => !e.id.startsWith(name + '/'))
      await db.clear({ gte: `${prefix}o!${name}!`, lt: `${prefix}o!${name}!${RANGE_END}` })
    }),
    emit: () => run(emitNow),
    checkpoint: () => run(snapshotNow),
    counters: () => {
      const sum: EventTimeCounters = { invalidDropped: 0, lateDropped: 0, lateAdjusted: 0, earlyDropped: 0, earlyAdjusted: 0, outOfOrderDropped: 0, outOfOrderAdjusted: 0 }
      for (const d of devices.values()) {
        for (const k of Object.keys(sum) as Array<keyof EventTimeCounters>) sum[k] += d.policy.counters[k]
      }
      return sum
    },
    close: async () => {
      if (closed) return
      closed = true
      await background(snapshotNow)
      timer?.cancel()
      unsubscribe()
      await chain
    }
  }
}
