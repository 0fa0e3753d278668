import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { resolveAccessKeys } from './config/access-key.js'
import type { Config } from './config/schema.js'
import { systemClock, type Clock } from './core/clock.js'
import { createHttpServer } from './http/server.js'
import { startRetentionSweeper, type RetentionSweeper } from './log/retention-sweeper.js'
import { openTopicLog } from './log/topic-log.js'
import type { TopicLog } from './log/types.js'
import { createHealth } from './observability/health.js'
import { createLogger, type Logger } from './observability/logger.js'
import { createMetrics, type Metrics } from './observability/metrics.js'
import { openStorage, type Storage } from './storage/db.js'

// The composition root: builds every module from the one frozen Config, starts them in
// dependency order and stops them in reverse. Nothing else constructs modules.

export interface GatewayOptions {
  clock?: Clock
  logger?: Logger
  /** Where a generated access key is announced (stderr by default). */
  announce?: (text: string) => void
}

export interface Listeners {
  http: string
  [name: string]: string
}

export interface Gateway {
  readonly config: Config
  readonly log: TopicLog
  readonly metrics: Metrics
  readonly listeners: Listeners
  /** The HTTP keys in force (configured or generated). */
  readonly accessKeys: readonly string[]
  /** Runs one retention sweep now. */
  sweepRetention: () => Promise<number>
  stop: () => Promise<void>
}

function urlOf (scheme: string, address: AddressInfo | string | null, path = ''): string {
  if (address === null || typeof address === 'string') return `${scheme}://${String(address)}${path}`
  const wildcard = address.address === '0.0.0.0' || address.address === '::'
  const host = wildcard ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address
  return `${scheme}://${host}:${address.port}${path}`
}

export async function startGateway (config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? createLogger(config.log.level)
  const metrics = createMetrics()
  const health = createHealth()
  const dataDir = resolve(config.dataDir)
  const stops: Array<() => Promise<void>> = []
  const stopAll = async (): Promise<void> => {
    health.setReady(false)
    while (stops.length > 0) {
      try { await stops.pop()?.() } catch (err) { logger.error({ err }, 'error while stopping') }
    }
  }

  try {
    const { keys, generated } = await resolveAccessKeys(config.http.keys, dataDir)
    const effective: Config = Object.freeze({ ...config, http: Object.freeze({ ...config.http, keys: Object.freeze(keys) as string[] }) })

    const storage: Storage = await openStorage(dataDir)
    stops.push(() => storage.close())

    const log = await openTopicLog({
      storage,
      clock,
      sync: config.storage.sync,
      maxBatchEvents: config.storage.maxBatchEvents,
      maxBatchBytes: config.storage.maxBatchBytes,
      defaultRetention: { maxAgeSeconds: config.retention.maxAgeSeconds, maxBytes: config.retention.maxBytes },
      observer: {
        batch: (items, _bytes, ms, ok) => {
          if (!ok) { metrics.logWriteFailures.inc(); return }
          metrics.logBatchEvents.observe(items)
          metrics.logBatchSeconds.observe(ms / 1000)
        },
        appended: (topic, n) => metrics.eventsAppended.inc({ topic }, n),
        removed: (topic, n) => metrics.eventsRemoved.inc({ topic }, n)
      }
    })
    stops.push(() => log.close())
    for (const t of config.topics) await log.createTopic(t.name, t.retention)

    const sweeper: RetentionSweeper = startRetentionSweeper(log, clock, config.retention.sweepIntervalSeconds * 1000,
      (err) => logger.error({ err }, 'retention sweep failed'))
    stops.push(() => sweeper.stop())

    const http = createHttpServer({ config: effective.http, log, metrics, health }, logger)
    await http.listen({ host: config.http.host, port: config.http.port })
    stops.push(() => http.close())

    const listeners: Listeners = { http: urlOf('http', http.server.address()) }
    if (generated !== undefined) {
      const announce = options.announce ?? ((text: string) => process.stderr.write(text))
      announce([
        `gridgate: no HTTP access key was configured, so one was generated and stored in ${generated.file}`,
        '(shown only this once; set http.keys or GRIDGATE_HTTP_KEYS to use your own):',
        '',
        `    ${generated.key}`,
        '',
        `Use it as:  curl -H "Authorization: SharedAccessKey ${generated.key}" ${listeners.http}/topics`,
        ''
      ].join('\n'))
    }

    health.setReady(true)
    logger.info({ listeners, dataDir }, 'listening')

    return {
      config: effective,
      log,
      metrics,
      listeners,
      accessKeys: keys,
      sweepRetention: () => sweeper.sweep(),
      stop: stopAll
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
