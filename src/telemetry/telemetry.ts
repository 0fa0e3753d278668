import type { TelemetryConfig } from '../config/schema.js'
import type { Clock, TimerHandle } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import { needsPercentiles } from './aggregate.js'
import { loadDefinitions, withoutEcho, type Definition } from './definitions.js'
import type { EventTimeCounters } from './event-time.js'
import { bucketRange, computeSeries, parseTelemetryQuery } from './query.js'
import { createRollups, type MetricSummary } from './rollups.js'
import { DEVICE_ID } from './source.js'
import type { TelemetryStore } from './store.js'
import { addCounters, noCounters } from './stream-fanout.js'
import { openStream, type TelemetryObserver, type TelemetryStream } from './stream.js'
import { METRIC_NAME, parseWindow, renderWindow, sameWindow, WINDOW_NAME, type WindowSpec } from './window-spec.js'

// Windowed telemetry: one stream per source topic, the continuous windows (config and
// PUT /windows/{name}), rollup queries and rollup retention. State lives behind `store`.

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
  /** Writes checkpoints now (tests; shutdown does it too). */
  checkpoint: () => Promise<void>
  /** Removes rollups past retention now; returns the number of (device, metric) ranges cut. */
  sweep: () => Promise<number>
  close: () => Promise<void>
}

interface Live {
  name: string
  spec: WindowSpec
  createdAt: string
  stream: TelemetryStream
}

export async function openTelemetry (opts: TelemetryOptions): Promise<Telemetry> {
  const { store, log, clock, config } = opts
  const rollups = createRollups(store)
  const streams = new Map<string, TelemetryStream>()
  const windows = new Map<string, Live>()

  const streamFor = (topic: string, field: string): TelemetryStream => {
    const s = streams.get(topic)
    if (s === undefined) {
      throw new GridgateError('WINDOW_INVALID', `${field}: '${topic}' is not a telemetry source (telemetry.sources: ${[...streams.keys()].join(', ')})`, { details: { field } })
    }
    return s
  }

  const ensureTopic = async (topic: string): Promise<void> => {
    if (await log.getTopic(topic) === undefined) await log.createTopic(topic)
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
    for (const source of config.sources) {
      const mine: Array<[string, Definition]> = [...defs].filter(([, d]) => d.spec.sourceTopic === source.topic)
      const stream = await openStream({
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
        rollups,
        namespace: opts.namespace,
        sync: opts.sync,
        checkpointIntervalMs: config.checkpointIntervalMs,
        snapshotIntervalMs: config.snapshotIntervalSeconds * 1000,
        observer: opts.observer
      }, mine.map(([name, d]) => ({ name, spec: d.spec, matcher: d.matcher })))
      streams.set(source.topic, stream)
      for (const [name, d] of mine) windows.set(name, { name, spec: d.spec, createdAt: d.createdAt, stream })
    }
  }

  const view = (w: Live): WindowView => ({ ...renderWindow(w.name, w.spec), createdAt: w.createdAt }) as WindowView
  const checkName = (name: string): void => {
    if (!WINDOW_NAME.test(name)) throw new GridgateError('WINDOW_INVALID', 'name: must be 1-50 letters, digits, _ . - starting with a letter or digit', { details: { field: 'name' } })
  }
  const get = (name: string): Live => {
    const w = windows.get(name)
    if (w === undefined) throw new GridgateError('WINDOW_NOT_FOUND', `No telemetry window '${name}'`)
    return w
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
      const stream = streamFor(parsed.spec.sourceTopic, 'sourceTopic')
      const old = windows.get(name)
      if (old !== undefined && sameWindow(old.spec, parsed.spec)) return { window: view(old), created: false }
      await ensureTopic(parsed.spec.outputTopic)
      if (old !== undefined) await old.stream.removeWindow(name)
      const createdAt = new Date(clock.now()).toISOString()
      await store.putWindow(name, { definition: renderWindow(name, parsed.spec), createdAt })
      await stream.addWindow({ name, spec: parsed.spec, matcher: parsed.matcher })
      const live: Live = { name, spec: parsed.spec, createdAt, stream }
      windows.set(name, live)
      return { window: view(live), created: old === undefined }
    },
    getWindow: async (name) => view(get(name)),
    listWindows: async () => [...windows.values()].map(view).sort((a, b) => a.name < b.name ? -1 : 1),
    async deleteWindow (name) {
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
      for (const s of streams.values()) addCounters(sum, s.counters())
      return sum
    },
    async checkpoint () {
      for (const s of streams.values()) await s.checkpoint()
    },
    sweep,
    async close () {
      sweepTimer?.cancel()
      for (const s of streams.values()) await s.close()
    }
  }
}
