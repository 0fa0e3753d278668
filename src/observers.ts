import type { Subscriptions } from './delivery/subscriptions.js'
import type { LogObserver, TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import type { Health } from './observability/health.js'
import type { Metrics } from './observability/metrics.js'
import type { StorageAvailability } from './storage/engine.js'

// Module events → metrics and log lines. Every module reports through an observer port it
// declares; these adapters are the only place that knows both sides.

/**
 * Whether an error is the storage being unreachable: logged once when the outage begins and
 * once when it ends (watchStorage), so the steps that fail meanwhile log it at debug only.
 */
export function duringOutage (err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === 'STORAGE_UNAVAILABLE'
}

export function logObserver (metrics: Metrics): LogObserver {
  return {
    batch: (items, _bytes, ms, ok) => {
      if (!ok) { metrics.logWriteFailures.inc(); return }
      metrics.logBatchEvents.observe(items)
      metrics.logBatchSeconds.observe(ms / 1000)
    },
    appended: (topic, n) => metrics.eventsAppended.inc({ topic }, n),
    duplicates: (topic, n) => metrics.duplicates.inc({ topic }, n),
    removed: (topic, n) => metrics.eventsRemoved.inc({ topic }, n)
  }
}

export function ingestObserver (metrics: Metrics) {
  return {
    ingested: metrics.countIngested,
    invalid: (route: string) => {
      metrics.mqttInvalid.inc({ route })
      metrics.rejections.inc({ code: 'SCHEMA_VIOLATION', source: 'mqtt' })
    }
  }
}

export function brokerObserver (metrics: Metrics, log: Logger) {
  return {
    handled: (seconds: number) => metrics.mqttPublishSeconds.observe(seconds),
    refused: (code: string, deviceId: string | undefined, detail: unknown) => {
      metrics.rejections.inc({ code, source: 'mqtt' })
      // Storage outages are logged once, when they begin and end (watchStorage), not per device.
      if (code === 'STORAGE_UNAVAILABLE') log.debug({ code, deviceId, detail }, 'mqtt refused')
      else log.warn({ code, deviceId, detail }, 'mqtt refused')
    }
  }
}

/** A device connection became live or ended; `live` is presence's count of live connections after it. */
export function connectionMetrics (metrics: Metrics, connected: boolean, transport: string, live: number): void {
  if (connected) metrics.mqttConnections.inc({ transport })
  metrics.mqttConnectedClients.set(live)
}

export function commandsObserver (metrics: Metrics, log: Logger) {
  return {
    transition: (status: string) => metrics.commandTransitions.inc({ status }),
    response: (outcome: string) => metrics.commandResponses.inc({ outcome }),
    error: (err: unknown, id: string) => log[duringOutage(err) ? 'debug' : 'warn']({ err, command: id }, 'command step failed')
  }
}

export function telemetryObserver (metrics: Metrics, log: Logger) {
  return {
    readings: (topic: string, n: number) => metrics.telemetryReadings.inc({ topic }, n),
    skipped: (topic: string, reason: string, n: number) => metrics.telemetrySkipped.inc({ topic, reason }, n),
    emitted: (window: string, n: number) => metrics.telemetryWindows.inc({ window }, n),
    error: (topic: string, err: unknown) => {
      metrics.telemetryErrors.inc({ topic })
      log[duringOutage(err) ? 'debug' : 'warn']({ err, topic }, 'telemetry step failed; it is retried')
    }
  }
}

/**
 * Topic sizes and subscription backlogs, read when /metrics is scraped. The backlog is the
 * one GET .../eventsubscriptions/{sub}/status answers: events not yet taken from the topic
 * (before filtering) plus those waiting for another attempt.
 */
export function watchState (metrics: Metrics, log: TopicLog, subscriptions: Pick<Subscriptions, 'list'>): void {
  // While the storage is unreachable these are unknown: the gauges keep their last values and
  // the rest of /metrics is still served.
  metrics.hooks.topics = async () => (await log.listTopics().catch(() => undefined))?.map((t) => ({ topic: t.name, events: t.events, bytes: t.bytes }))
  metrics.hooks.backlogs = async () => (await log.listTopics().catch(() => undefined))?.flatMap((t) => subscriptions.list(t.name).map((sub) => ({
    topic: t.name,
    subscription: sub.name,
    backlog: Math.max(0, t.nextOffset - sub.queue.cursor) + sub.queue.stats().waiting
  })))
}

/**
 * The storage engine's availability → /readyz (503 STORAGE_UNAVAILABLE with the reason),
 * gridgate_storage_available, gridgate_storage_unavailable_total, and one log line when the
 * storage goes away (warn) and one when it is back (info). Returns its removal.
 */
export function watchStorage (availability: StorageAvailability, health: Health, metrics: Metrics, log: Logger, now: () => number): () => void {
  const problem = (): string | undefined => availability.available ? undefined : availability.reason ?? 'the storage is unreachable'
  health.setStorageProbe(problem)
  metrics.hooks.storageAvailable = () => availability.available
  let since: number | undefined
  return availability.onChange((available) => {
    if (!available) {
      since = now()
      metrics.storageUnavailable.inc()
      log.warn({ reason: problem() }, 'storage unavailable: nothing is acknowledged (HTTP 503 STORAGE_UNAVAILABLE, no PUBACK, CONNACK 3) until it is back')
    } else {
      log.info({ unavailableMs: since === undefined ? undefined : now() - since }, 'storage available again')
      since = undefined
    }
  })
}
