import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'

// One registry per gateway (never prom-client's global one), so two gateways can run in one
// test process. Modules get hooks wired to these in main.ts.

export interface Metrics {
  registry: Registry
  /** Every refused input, by stable error code and where it came from. */
  rejections: Counter<'code' | 'source'>
  eventsAppended: Counter<'topic'>
  eventsRemoved: Counter<'topic'>
  logBatchEvents: Histogram
  logBatchSeconds: Histogram
  logWriteFailures: Counter
  httpRequestSeconds: Histogram<'route' | 'method' | 'status'>
  mqttMessages: Counter<'topic'>
  mqttInvalid: Counter<'route'>
  mqttConnections: Counter<'transport'>
  mqttConnectedClients: Gauge
  deliveries: Counter<'topic' | 'subscription' | 'outcome'>
  deadLettered: Counter<'topic' | 'subscription'>
  commandTransitions: Counter<'status'>
  commandResponses: Counter<'outcome'>
  mqttPublishSeconds: Histogram
  telemetryReadings: Counter<'topic'>
  telemetrySkipped: Counter<'topic' | 'reason'>
  telemetryWindows: Counter<'window'>
  telemetryErrors: Counter<'topic'>
  /** Read at scrape time: the event-time policies' counters (late, early, out of order; dropped or adjusted). */
  hooks: { eventTime?: () => Record<string, number> }
  eventTime: Gauge<'outcome'>
}

export function createMetrics (): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'gridgate_' })
  const registers = [registry]
  const hooks: Metrics['hooks'] = {}
  return {
    registry,
    hooks,
    telemetryReadings: new Counter({ name: 'gridgate_telemetry_readings_total', help: 'Numeric readings taken from telemetry events, by source topic', labelNames: ['topic'], registers }),
    telemetrySkipped: new Counter({ name: 'gridgate_telemetry_skipped_total', help: 'Telemetry passed over: non-numeric fields (field), events without a valid deviceid (device) or time field (time)', labelNames: ['topic', 'reason'], registers }),
    telemetryWindows: new Counter({ name: 'gridgate_telemetry_windows_emitted_total', help: 'Closed windows appended as telemetry.window CloudEvents, by window', labelNames: ['window'], registers }),
    telemetryErrors: new Counter({ name: 'gridgate_telemetry_errors_total', help: 'Failed telemetry checkpoints or window appends (retried), by source topic', labelNames: ['topic'], registers }),
    eventTime: new Gauge({
      name: 'gridgate_telemetry_event_time_total',
      help: 'Readings the event-time policies dropped or adjusted (late, early, out of order), since the counters were first stored',
      labelNames: ['outcome'],
      registers,
      collect () {
        const counts = hooks.eventTime?.() ?? {}
        for (const [outcome, n] of Object.entries(counts)) this.set({ outcome }, n)
      }
    }),
    rejections: new Counter({ name: 'gridgate_rejections_total', help: 'Refused inputs by error code and source', labelNames: ['code', 'source'], registers }),
    eventsAppended: new Counter({ name: 'gridgate_log_events_appended_total', help: 'Events durably appended, by topic', labelNames: ['topic'], registers }),
    eventsRemoved: new Counter({ name: 'gridgate_log_events_removed_total', help: 'Events removed by retention, by topic', labelNames: ['topic'], registers }),
    logBatchEvents: new Histogram({ name: 'gridgate_log_batch_items', help: 'Appends per group-commit write', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096], registers }),
    logBatchSeconds: new Histogram({ name: 'gridgate_log_batch_write_seconds', help: 'Duration of one group-commit write', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers }),
    logWriteFailures: new Counter({ name: 'gridgate_log_write_failures_total', help: 'Group-commit writes that failed (their callers got 503)', registers }),
    mqttMessages: new Counter({ name: 'gridgate_ingest_events_total', help: 'Device messages appended as CloudEvents, by namespace topic', labelNames: ['topic'], registers }),
    mqttInvalid: new Counter({ name: 'gridgate_ingest_schema_violations_total', help: 'Device messages that failed their route schema (appended to the invalid topic)', labelNames: ['route'], registers }),
    mqttConnections: new Counter({ name: 'gridgate_mqtt_connections_total', help: 'Accepted MQTT connections by transport', labelNames: ['transport'], registers }),
    mqttConnectedClients: new Gauge({ name: 'gridgate_mqtt_connected_clients', help: 'Authenticated MQTT connections open now', registers }),
    deliveries: new Counter({ name: 'gridgate_delivery_events_total', help: 'Push delivery attempts by event and outcome (success, retry, deadletter)', labelNames: ['topic', 'subscription', 'outcome'], registers }),
    deadLettered: new Counter({ name: 'gridgate_delivery_deadlettered_total', help: 'Events dead-lettered, by subscription', labelNames: ['topic', 'subscription'], registers }),
    commandTransitions: new Counter({ name: 'gridgate_command_transitions_total', help: 'Command state changes, by the state entered', labelNames: ['status'], registers }),
    commandResponses: new Counter({ name: 'gridgate_command_responses_total', help: 'Device answers: matched, late (after an end state or before sending), unknown command, invalid', labelNames: ['outcome'], registers }),
    mqttPublishSeconds: new Histogram({ name: 'gridgate_mqtt_publish_seconds', help: 'Device publish from arrival to the durable append (the QoS 1 PUBACK waits for it)', buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1], registers }),
    httpRequestSeconds: new Histogram({ name: 'gridgate_http_request_seconds', help: 'HTTP request duration', labelNames: ['route', 'method', 'status'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers })
  }
}
