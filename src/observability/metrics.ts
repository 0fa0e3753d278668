import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { BucketHistogram } from './bucket-histogram.js'

// One registry per gateway (never prom-client's global one), so two gateways can run in one
// test process. Modules get hooks wired to these in main.ts.

export interface Metrics {
  registry: Registry
  /** Every refused input, by stable error code and where it came from. */
  rejections: Counter<'code' | 'source'>
  eventsAppended: Counter<'topic'>
  eventsRemoved: Counter<'topic'>
  duplicates: Counter<'topic'>
  logBatchEvents: Histogram
  logBatchSeconds: Histogram
  logWriteFailures: Counter
  httpRequestSeconds: Histogram<'route' | 'method' | 'status'>
  mqttMessages: Counter<'topic'>
  /**
   * One device message appended to `topic`, for mqttMessages: counted in a map and added to
   * the counter when it is read (a scrape), since prom-client's inc hashes its labels on each call.
   */
  countIngested: (topic: string) => void
  mqttInvalid: Counter<'route'>
  mqttConnections: Counter<'transport'>
  mqttConnectedClients: Gauge
  replayMessages: Counter<'topic'>
  deliveries: Counter<'topic' | 'subscription' | 'outcome'>
  deadLettered: Counter<'topic' | 'subscription'>
  commandTransitions: Counter<'status'>
  commandResponses: Counter<'outcome'>
  mqttPublishSeconds: BucketHistogram
  telemetryReadings: Counter<'topic'>
  telemetrySkipped: Counter<'topic' | 'reason'>
  telemetryWindows: Counter<'window'>
  telemetryErrors: Counter<'topic'>
  /** Read at scrape time, wired in main.ts (observability imports no module that owns the data). */
  hooks: {
    /** The event-time policies' counters (late, early, out of order; dropped or adjusted). */
    eventTime?: () => Record<string, number>
    /** Every topic's retained events and bytes, as GET /topics/{topic} says; undefined: unknown now. */
    topics?: () => Promise<ReadonlyArray<{ topic: string, events: number, bytes: number }> | undefined>
    /** Every subscription's backlog, as GET .../eventsubscriptions/{sub}/status says; undefined: unknown now. */
    backlogs?: () => Promise<ReadonlyArray<{ topic: string, subscription: string, backlog: number }> | undefined>
    /** Whether the storage answers now (always, on the embedded engines). */
    storageAvailable?: () => boolean
    /** Each telemetry source stream running here: events its topic holds that it has not read yet. */
    telemetryLag?: () => Promise<ReadonlyArray<{ topic: string, lag: number }> | undefined>
  }
  eventTime: Counter<'outcome'>
  topicEvents: Gauge<'topic'>
  topicBytes: Gauge<'topic'>
  subscriptionBacklog: Gauge<'topic' | 'subscription'>
  /** Events a telemetry source stream has yet to read (it runs behind ingest under load, and catches up). */
  telemetryLag: Gauge<'topic'>
  /** Event-loop delay by loop and quantile, over the time since the previous scrape. */
  eventLoopDelay: Gauge<'loop' | 'quantile'>
  /** Worker threads that died unasked (each is started again), by worker. */
  workerCrashes: Counter<'worker'>
  /** 1 while the storage answers, 0 while it is unreachable (read at scrape time through hooks.storageAvailable). */
  storageAvailable: Gauge
  /** Times the storage became unreachable. */
  storageUnavailable: Counter
  /** Adds a loop whose delay histogram is read at scrape time (the ingest loop is there from the start). */
  watchLoop: (name: string, histogram: LoopDelay) => void
  /** Stops the delay monitors. */
  close: () => void
}

/** What a loop reports: delays in nanoseconds (perf_hooks' IntervalHistogram has this shape). */
export interface LoopDelay {
  percentile: (p: number) => number
  readonly max: number
  readonly count?: number
  reset: () => void
}

/** Quantiles reported per loop; 1 is the maximum. */
export const LOOP_DELAY_QUANTILES = [0.5, 0.9, 0.99, 0.999, 1] as const

const RESOLUTION_MS = 10

/**
 * The delay monitor of the calling thread's event loop, sampling every 10 ms. perf_hooks
 * records each sample's whole interval (an idle loop shows 10 ms), so the resolution is
 * taken off: what remains is how late the loop was.
 */
export function monitorLoop (): LoopDelay & { disable: () => void } {
  const h: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  h.enable()
  const late = (ns: number): number => Number.isFinite(ns) ? Math.max(0, ns - RESOLUTION_MS * 1e6) : ns
  return {
    percentile: (p) => late(h.percentile(p)),
    get max () { return late(h.max) },
    get count () { return h.count },
    reset: () => { h.reset() },
    disable: () => { h.disable() }
  }
}

export interface MetricsOptions {
  /**
   * On a cluster (the `redis` engine): this node's id, a `node` label on every series, so the
   * scrapes of several nodes stay apart when they are summed or compared.
   */
  node?: string
}

export function createMetrics (opts: MetricsOptions = {}): Metrics {
  const registry = new Registry()
  if (opts.node !== undefined) registry.setDefaultLabels({ node: opts.node })
  // The process and Node.js metrics under their standard names (process_cpu_seconds_total,
  // nodejs_eventloop_lag_seconds, ...), as every Node.js dashboard expects them.
  collectDefaultMetrics({ register: registry })
  // Except prom-client's three gauges named like counters (nodejs_active_handles_total,
  // _requests_total, _resources_total): _total is for counters only, and each is the sum of
  // the gauge of the same name without it (nodejs_active_handles{type}, ...).
  for (const m of registry.getMetricsAsArray()) {
    if (m.name.endsWith('_total') && (m as { type: unknown }).type !== 'counter') registry.removeSingleMetric(m.name)
  }
  const registers = [registry]
  const ingested = new Map<string, number>()
  const hooks: Metrics['hooks'] = {}
  type TopicSize = NonNullable<Awaited<ReturnType<NonNullable<Metrics['hooks']['topics']>>>>[number]
  const topicGauge = (name: string, help: string, value: (t: TopicSize) => number): Gauge<'topic'> => new Gauge({
    name,
    help,
    labelNames: ['topic'],
    registers,
    async collect () {
      const topics = await hooks.topics?.()
      if (topics === undefined) return
      this.reset()
      for (const t of topics) this.set({ topic: t.topic }, value(t))
    }
  })
  const ingestLoop = monitorLoop()
  const loops = new Map<string, LoopDelay>([['ingest', ingestLoop]])
  return {
    registry,
    hooks,
    eventLoopDelay: new Gauge({
      name: 'gridgate_event_loop_delay_seconds',
      help: 'Event-loop delay of each loop (ingest: the main thread; workers by name) by quantile (1 = max), over the time since the previous scrape',
      labelNames: ['loop', 'quantile'],
      registers,
      collect () {
        for (const [loop, h] of loops) {
          // Before the first sample a histogram reports NaN or its initial max; say 0.
          const at = (p: number): number => {
            const ns = p === 1 ? h.max : h.percentile(p * 100)
            return Number.isFinite(ns) && ns > 0 && ns < 1e12 ? ns / 1e9 : 0
          }
          for (const q of LOOP_DELAY_QUANTILES) this.set({ loop, quantile: String(q) }, at(q))
          h.reset()
        }
      }
    }),
    watchLoop: (name, histogram) => { loops.set(name, histogram) },
    storageAvailable: new Gauge({
      name: 'gridgate_storage_available',
      help: '1 while the storage engine answers, 0 while it is unreachable (Redis down: nothing is acknowledged)',
      registers,
      collect () { this.set(hooks.storageAvailable?.() === false ? 0 : 1) }
    }),
    storageUnavailable: new Counter({ name: 'gridgate_storage_unavailable_total', help: 'Times the storage engine became unreachable', registers }),
    workerCrashes: new Counter({ name: 'gridgate_worker_crashes_total', help: 'Worker threads that died unasked and were started again, by worker (telemetry, twins)', labelNames: ['worker'], registers }),
    close: () => { ingestLoop.disable() },
    telemetryReadings: new Counter({ name: 'gridgate_telemetry_readings_total', help: 'Numeric readings taken from telemetry events, by source topic', labelNames: ['topic'], registers }),
    telemetrySkipped: new Counter({ name: 'gridgate_telemetry_skipped_total', help: 'Telemetry passed over: non-numeric fields (field), events without a valid deviceid (device) or time field (time)', labelNames: ['topic', 'reason'], registers }),
    telemetryWindows: new Counter({ name: 'gridgate_telemetry_windows_emitted_total', help: 'Closed windows appended as telemetry.window CloudEvents, by window', labelNames: ['window'], registers }),
    telemetryErrors: new Counter({ name: 'gridgate_telemetry_errors_total', help: 'Failed telemetry checkpoints or window appends (retried), by source topic', labelNames: ['topic'], registers }),
    // A counter kept by telemetry (stored with its snapshots, so it survives restarts), read
    // at scrape time: only ever grows, so it is a counter, set from the stored count.
    eventTime: new Counter({
      name: 'gridgate_telemetry_event_time_total',
      help: 'Readings the event-time policies dropped or adjusted (late, early, out of order), since the counters were first stored',
      labelNames: ['outcome'],
      registers,
      collect () {
        const counts = hooks.eventTime?.()
        if (counts === undefined) return
        this.reset()
        for (const [outcome, n] of Object.entries(counts)) this.inc({ outcome }, n)
      }
    }),
    // Sizes and backlogs are state, not events: read when scraped, so a removed topic or
    // subscription leaves no stale series behind.
    topicEvents: topicGauge('gridgate_topic_events', 'Events a topic retains now', (t) => t.events),
    topicBytes: topicGauge('gridgate_topic_bytes', 'Bytes of the events a topic retains now', (t) => t.bytes),
    subscriptionBacklog: new Gauge({
      name: 'gridgate_subscription_backlog',
      help: 'Events a subscription has not yet taken from its topic (before filtering) plus those waiting for another attempt, as its status says',
      labelNames: ['topic', 'subscription'],
      registers,
      async collect () {
        const backlogs = await hooks.backlogs?.()
        if (backlogs === undefined) return
        this.reset()
        for (const b of backlogs) this.set({ topic: b.topic, subscription: b.subscription }, b.backlog)
      }
    }),
    telemetryLag: new Gauge({
      name: 'gridgate_telemetry_lag_events',
      help: 'Events of a telemetry source topic that its stream has not read yet, on the node running the stream (windows and rollups are that far behind ingest)',
      labelNames: ['topic'],
      registers,
      async collect () {
        const lags = await hooks.telemetryLag?.()
        if (lags === undefined) return
        this.reset()
        for (const l of lags) this.set({ topic: l.topic }, l.lag)
      }
    }),
    rejections: new Counter({ name: 'gridgate_rejections_total', help: 'Refused inputs by error code and source', labelNames: ['code', 'source'], registers }),
    eventsAppended: new Counter({ name: 'gridgate_log_events_appended_total', help: 'Events durably appended, by topic', labelNames: ['topic'], registers }),
    eventsRemoved: new Counter({ name: 'gridgate_log_events_removed_total', help: 'Events removed by retention, by topic', labelNames: ['topic'], registers }),
    duplicates: new Counter({ name: 'gridgate_duplicates_total', help: 'Events acknowledged but not appended: their (source, id) was appended within the topic\'s deduplication window, by topic', labelNames: ['topic'], registers }),
    logBatchEvents: new Histogram({ name: 'gridgate_log_batch_items', help: 'Appends per group-commit write', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096], registers }),
    logBatchSeconds: new Histogram({ name: 'gridgate_log_batch_write_seconds', help: 'Duration of one group-commit write', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers }),
    logWriteFailures: new Counter({ name: 'gridgate_log_write_failures_total', help: 'Group-commit writes that failed (their callers got 503)', registers }),
    mqttMessages: new Counter({
      name: 'gridgate_ingest_events_total',
      help: 'Device messages appended as CloudEvents, by namespace topic',
      labelNames: ['topic'],
      registers,
      collect () {
        for (const [topic, n] of ingested) this.inc({ topic }, n)
        ingested.clear()
      }
    }),
    countIngested: (topic) => { ingested.set(topic, (ingested.get(topic) ?? 0) + 1) },
    mqttInvalid: new Counter({ name: 'gridgate_ingest_schema_violations_total', help: 'Device messages that failed their route schema (appended to the invalid topic)', labelNames: ['route'], registers }),
    mqttConnections: new Counter({ name: 'gridgate_mqtt_connections_total', help: 'Accepted MQTT connections by transport', labelNames: ['transport'], registers }),
    mqttConnectedClients: new Gauge({ name: 'gridgate_mqtt_connected_clients', help: 'Authenticated MQTT connections open now', registers }),
    replayMessages: new Counter({ name: 'gridgate_replay_messages_total', help: 'Events sent to `$replay/...` MQTT subscriptions, by namespace topic', labelNames: ['topic'], registers }),
    deliveries: new Counter({ name: 'gridgate_delivery_events_total', help: 'Push delivery attempts by event and outcome (success, retry, deadletter)', labelNames: ['topic', 'subscription', 'outcome'], registers }),
    deadLettered: new Counter({ name: 'gridgate_delivery_deadlettered_total', help: 'Events dead-lettered, by subscription', labelNames: ['topic', 'subscription'], registers }),
    commandTransitions: new Counter({ name: 'gridgate_command_transitions_total', help: 'Command state changes, by the state entered', labelNames: ['status'], registers }),
    commandResponses: new Counter({ name: 'gridgate_command_responses_total', help: 'Device answers: matched, late (after an end state or before sending), unknown command, invalid', labelNames: ['outcome'], registers }),
    mqttPublishSeconds: new BucketHistogram({ name: 'gridgate_mqtt_publish_seconds', help: 'Device publish from arrival to the durable append (the QoS 1 PUBACK waits for it)', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers }),
    httpRequestSeconds: new Histogram({ name: 'gridgate_http_request_seconds', help: 'HTTP request duration', labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers })
  }
}
