import type { TelemetryConfig } from '../config/schema.js'
import type { Clock, TimerHandle } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import { needsPercentiles } from './aggregate.js'
import { loadDefinitions, storedDefinitions, withoutEcho, type Definition } from './definitions.js'
import type { EventTimeCounters } from './event-time.js'
import { bucketRange, computeSeries, parseTelemetryQuery } from './query.js'
import { createRollups, rollupsView, type MetricSummary, type Rollups } from './rollups.js'
import { DEVICE_ID } from './source.js'
import type { StoreFence, TelemetryStore } from './store.js'
import { addCounters, noCounters } from './stream-fanout.js'
import { openStream, type TelemetryObserver, type TelemetryStream } from './stream.js'
import { METRIC_NAME, parseWindow, renderWindow, sameWindow, WINDOW_NAME, type WindowSpec } from './window-spec.js'

// Windowed telemetry: one stream per source topic, the continuous windows (config and
// PUT /windows/{name}), rollup queries and rollup retention. State lives behind `store`.
//
// On a cluster (`cluster: true`) every node answers window calls and queries from the shared
// store, and a source's stream runs only on the node that holds its lease: the ownership loop
// (telemetry/ownership.ts) calls own(), extend() and disown(). A window changed on any node is
// stored first; the owner of its source applies it when told (reloadWindows: at once on this
// node, through a cluster signal on the others, and at every ownership step).

export type { TelemetryObserver }

export interface TelemetryOptions {
  store: TelemetryStore
  log: TopicLog
  clock: Clock
  /** Validated (config/validate.ts checks what spans config entries). */
  config: TelemetryConfig
  namespace: string
  /** Checkpoints resolve once durable. */
  sync: boolean
  observer?: TelemetryObserver
  /** Several nodes on one store: streams run where own() says, windows are read from the store. */
  cluster?: boolean
}

export interface WindowView extends Record<string, unknown> {
  name: string
  createdAt: string
}

export interface Telemetry {
  putWindow: (name: string, body: unknown) => Promise<{ window: WindowView, created: boolean }>
  getWindow: (name: string) => Promise<WindowView>
  listWindows: () => Promise<WindowView[]>
  deleteWindow: (name: string) => Promise<void>
  /** Series for GET /telemetry/{deviceId}/{metric}. */
  query: (deviceId: string, metric: string, params: Readonly<Record<string, string | undefined>>) => Promise<{ series: Array<Record<string, unknown>> }>
  /** The device's metrics with their newest reading. */
  metricsOf: (deviceId: string) => Promise<MetricSummary[]>
  /** Event-time policy counters over every stream. */
  counters: () => EventTimeCounters
  /** Where each source stream running here has read to (its next source offset). */
  positions: () => Promise<Array<{ topic: string, position: number }>>
  /** Writes checkpoints now (tests; shutdown does it too). */
  checkpoint: () => Promise<void>
  /** Removes rollups past retention now; returns the number of (device, metric) ranges cut. */
  sweep: () => Promise<number>
  close: () => Promise<void>
  /** Cluster: runs the source's stream here under this lease, writing until `until` (ms since the epoch). */
  own: (source: string, fence: StoreFence, until: number) => Promise<void>
  /** Cluster: the lease was renewed; writes allowed until `until`. */
  extend: (source: string, until: number) => Promise<void>
  /** Cluster: stops the stream here; `checkpoint` while the lease still stands (a handover), else nothing more is written. */
  disown: (source: string, checkpoint: boolean) => Promise<void>
  /** Cluster: applies the stored window definitions to the streams running here. */
  reloadWindows: () => Promise<void>
}

interface Live {
  name: string
  spec: WindowSpec
  createdAt: string
  stream: TelemetryStream
}

interface Running {
  stream: TelemetryStream
  rollups: Rollups
  /** Cluster: until when this node may write for it. */
  until: number
}

export async function openTelemetry (opts: TelemetryOptions): Promise<Telemetry> {
  const { store, log, clock, config } = opts
  const cluster = opts.cluster === true
  const streams = new Map<string, Running>()
  const windows = new Map<string, Live>()
  const rollups = rollupsView(store, () => [...streams.values()].map((r) => r.rollups.unstored))

  const sourceOf = (topic: string, field: string): TelemetryConfig['sources'][number] => {
    const s = config.sources.find((x) => x.topic === topic)
    if (s === undefined) {
      throw new GridgateError('WINDOW_INVALID', `${field}: '${topic}' is not a telemetry source (telemetry.sources: ${config.sources.map((x) => x.topic).join(', ')})`, { details: { field } })
    }
    return s
  }

  const ensureTopic = async (topic: string): Promise<void> => {
    if (await log.getTopic(topic) === undefined) await log.createTopic(topic)
  }

  async function openSource (source: TelemetryConfig['sources'][number], defs: Map<string, Definition>, owner?: { fence: StoreFence, until: number }): Promise<Running> {
    const mine: Array<[string, Definition]> = [...defs].filter(([, d]) => d.spec.sourceTopic === source.topic)
    for (const [, d] of mine) await ensureTopic(d.spec.outputTopic)
    const running = { rollups: createRollups(store), until: owner?.until ?? Infinity } as Running
    running.stream = await openStream({
      store,
      log,
      clock,
      source: { topic: source.topic, types: source.types, fields: source.fields, timeField: source.timeField },
      policy: {
        outOfOrderToleranceMs: config.eventTime.outOfOrderToleranceSeconds * 1000,
        lateArrivalToleranceMs: config.eventTime.lateArrivalToleranceSeconds * 1000,
        earlyArrivalLimitMs: config.eventTime.earlyArrivalLimitSeconds * 1000,
        lateArrivalAction: config.eventTime.lateArrivalAction,
        earlyArrivalAction: config.eventTime.earlyArrivalAction,
        outOfOrderAction: config.eventTime.outOfOrderAction
      },
      rollups: running.rollups,
      namespace: opts.namespace,
      sync: opts.sync,
      checkpointIntervalMs: config.checkpointIntervalMs,
      snapshotIntervalMs: config.snapshotIntervalSeconds * 1000,
      observer: opts.observer,
      ...(owner === undefined ? {} : { owner: { fence: owner.fence, until: () => running.until } })
    }, mine.map(([name, d]) => ({ name, spec: d.spec, matcher: d.matcher })))
    streams.set(source.topic, running)
    for (const [name, d] of mine) windows.set(name, { name, spec: d.spec, createdAt: d.createdAt, stream: running.stream })
    return running
  }

  const defs = await loadDefinitions(store, config.windows, new Date(clock.now()).toISOString())
  if (config.enabled) {
    for (const source of config.sources) await ensureTopic(source.topic)
    for (const [name, def] of defs) {
      if (!config.sources.some((s) => s.topic === def.spec.sourceTopic)) {
        // A window made over HTTP whose source was taken out of the config: kept, not run.
        opts.observer?.error?.(def.spec.sourceTopic, new Error(`window '${name}' reads '${def.spec.sourceTopic}', which is not in telemetry.sources; it stays stored but does not run`))
        defs.delete(name)
        continue
      }
      await ensureTopic(def.spec.outputTopic)
    }
    // On a cluster the streams start where their leases are taken (own).
    if (!cluster) for (const source of config.sources) await openSource(source, defs)
  }

  const view = (name: string, w: { spec: WindowSpec, createdAt: string }): WindowView => ({ ...renderWindow(name, w.spec), createdAt: w.createdAt }) as WindowView
  const checkName = (name: string): void => {
    if (!WINDOW_NAME.test(name)) throw new GridgateError('WINDOW_INVALID', 'name: must be 1-50 letters, digits, _ . - starting with a letter or digit', { details: { field: 'name' } })
  }
  const notFound = (name: string): GridgateError => new GridgateError('WINDOW_NOT_FOUND', `No telemetry window '${name}'`)
  const get = (name: string): Live => {
    const w = windows.get(name)
    if (w === undefined) throw notFound(name)
    return w
  }

  // Cluster: ownership changes and window reloads one at a time.
  let chain: Promise<unknown> = Promise.resolve()
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => undefined)
    return run
  }

  /** Brings the windows of the streams running here in line with the stored definitions. */
  async function reload (): Promise<void> {
    const stored = await storedDefinitions(store)
    for (const [name, live] of [...windows]) {
      const d = stored.get(name)
      if (d !== undefined && d.createdAt === live.createdAt && sameWindow(d.spec, live.spec)) continue
      windows.delete(name)
      await live.stream.removeWindow(name)
    }
    for (const [name, d] of stored) {
      if (windows.has(name)) continue
      const running = streams.get(d.spec.sourceTopic)
      if (running === undefined) continue
      await ensureTopic(d.spec.outputTopic)
      await running.stream.addWindow({ name, spec: d.spec, matcher: d.matcher })
      windows.set(name, { name, spec: d.spec, createdAt: d.createdAt, stream: running.stream })
    }
  }

  async function stopSource (source: string, checkpoint: boolean): Promise<void> {
    const running = streams.get(source)
    if (running === undefined) return
    if (!checkpoint) running.until = 0
    for (const [name, w] of [...windows]) if (w.stream === running.stream) windows.delete(name)
    // Its rollups go with it: what it had not stored is read again by the next owner.
    streams.delete(source)
    await (checkpoint ? running.stream.close() : running.stream.abandon())
  }

  let sweepTimer: TimerHandle | undefined
  const sweep = async (): Promise<number> => {
    if (config.rollupRetentionSeconds === 0) return 0
    return await rollups.sweep(clock.now() - config.rollupRetentionSeconds * 1000)
  }
  const scheduleSweep = (): void => {
    // Hourly: rollups are per second, and an hour more or less of them costs little.
    sweepTimer = clock.setTimer(3_600_000, () => { sweep().catch((err: unknown) => opts.observer?.error?.('rollups', err)).finally(scheduleSweep) })
  }
  if (config.enabled && config.rollupRetentionSeconds > 0) scheduleSweep()

  return {
    async putWindow (name, body) {
      checkName(name)
      if (!config.enabled) throw new GridgateError('WINDOW_INVALID', 'telemetry is disabled in the configuration (telemetry.enabled)')
      const parsed = parseWindow(withoutEcho(name, body))
      sourceOf(parsed.spec.sourceTopic, 'sourceTopic')
      if (cluster) {
        const old = (await storedDefinitions(store)).get(name)
        if (old !== undefined && sameWindow(old.spec, parsed.spec)) return { window: view(name, old), created: false }
        await ensureTopic(parsed.spec.outputTopic)
        const createdAt = new Date(clock.now()).toISOString()
        // State first (as loadDefinitions does): a next owner never restores the old window's operators into the new one.
        if (old !== undefined) for (const t of new Set([old.spec.sourceTopic, parsed.spec.sourceTopic])) await store.clearWindowState(t, name)
        await store.putWindow(name, { definition: renderWindow(name, parsed.spec), createdAt })
        await serially(reload)
        return { window: view(name, { spec: parsed.spec, createdAt }), created: old === undefined }
      }
      const stream = (streams.get(parsed.spec.sourceTopic) as Running).stream
      const old = windows.get(name)
      if (old !== undefined && sameWindow(old.spec, parsed.spec)) return { window: view(name, old), created: false }
      await ensureTopic(parsed.spec.outputTopic)
      if (old !== undefined) await old.stream.removeWindow(name)
      const createdAt = new Date(clock.now()).toISOString()
      await store.putWindow(name, { definition: renderWindow(name, parsed.spec), createdAt })
      await stream.addWindow({ name, spec: parsed.spec, matcher: parsed.matcher })
      const live: Live = { name, spec: parsed.spec, createdAt, stream }
      windows.set(name, live)
      return { window: view(name, live), created: old === undefined }
    },
    async getWindow (name) {
      if (!cluster) return view(name, get(name))
      const d = (await storedDefinitions(store)).get(name)
      if (d === undefined) throw notFound(name)
      return view(name, d)
    },
    async listWindows () {
      const all: Iterable<[string, { spec: WindowSpec, createdAt: string }]> = cluster ? await storedDefinitions(store) : windows
      return [...all].map(([name, w]) => view(name, w)).sort((a, b) => a.name < b.name ? -1 : 1)
    },
    async deleteWindow (name) {
      if (cluster) {
        const d = (await storedDefinitions(store)).get(name)
        if (d === undefined) throw notFound(name)
        await store.removeWindow(name)
        await store.clearWindowState(d.spec.sourceTopic, name)
        await serially(reload)
        return
      }
      const w = get(name)
      windows.delete(name)
      await w.stream.removeWindow(name)
      await store.removeWindow(name)
    },
    async query (deviceId, metric, params) {
      if (!DEVICE_ID.test(deviceId)) throw new GridgateError('DEVICE_ID_INVALID')
      if (!METRIC_NAME.test(metric) || !await rollups.hasMetric(deviceId, metric)) {
        throw new GridgateError('METRIC_NOT_FOUND', `Device '${deviceId}' has reported no metric '${metric}'`)
      }
      const q = parseTelemetryQuery(params, clock.now(), { maxBuckets: config.maxQueryBuckets, maxWindows: config.maxQueryWindows })
      const { fromEnd, toEnd } = bucketRange(q)
      const buckets = await rollups.load(deviceId, metric, fromEnd, toEnd, { percentiles: needsPercentiles(q.aggs) })
      const series = computeSeries(q, buckets).map((w) => ({ ...w, start: new Date(w.start as number).toISOString(), end: new Date(w.end as number).toISOString() }))
      return { series }
    },
    metricsOf: (deviceId) => rollups.metricsOf(deviceId),
    counters: () => {
      const sum = noCounters()
      for (const r of streams.values()) addCounters(sum, r.stream.counters())
      return sum
    },
    positions: async () => [...streams].map(([topic, r]) => ({ topic, position: r.stream.position() })),
    async checkpoint () {
      for (const r of streams.values()) await r.stream.checkpoint()
    },
    sweep,
    async close () {
      sweepTimer?.cancel()
      await serially(async () => { for (const r of streams.values()) await r.stream.close() })
    },

    own: (source, fence, until) => serially(async () => {
      if (!config.enabled) return
      const running = streams.get(source)
      if (running !== undefined) { running.until = until; return }
      await openSource(sourceOf(source, 'source'), await storedDefinitions(store), { fence, until })
    }),
    async extend (source, until) {
      const running = streams.get(source)
      if (running !== undefined) running.until = until
    },
    disown: (source, checkpoint) => {
      // Writes stop at once; the stream itself closes after what runs now.
      if (!checkpoint) { const r = streams.get(source); if (r !== undefined) r.until = 0 }
      return serially(async () => { await stopSource(source, checkpoint) })
    },
    reloadWindows: () => serially(reload)
  }
}
