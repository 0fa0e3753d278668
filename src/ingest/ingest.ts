import type { Clock } from '../core/clock.js'
import { deviceSource, jsonCloudEvent } from '../core/cloudevent-writer.js'
import type { IdGenerator } from '../core/ids.js'
import type { TopicLog } from '../log/types.js'
import { matchRoute, type Route } from './routes.js'
import { describeSchemaErrors, type DataSchema } from './schemas.js'
import { parseJsonPayload, toCloudEvent, type DeviceMessage } from './to-cloudevent.js'

// The broker's onPublish port: device message -> CloudEvent -> durable append. The promise
// resolves only after the append is written, which is what lets aedes send the PUBACK.

export const INVALID_TOPIC = 'invalid'
export const SYSTEM_TOPIC = 'system'

export interface IngestObserver {
  ingested?: (topic: string) => void
  invalid?: (route: string) => void
}

export interface Ingest {
  /** Resolves when the message is durably in the log (or at once when no route takes it). */
  handle: (msg: DeviceMessage) => Promise<void>
  /** Appends device.connected / device.disconnected to the system topic. */
  connection: (deviceId: string, connected: boolean, details: { transport?: string, reason?: string }) => Promise<void>
  /** The namespace topics routes write to; they must exist before ingest starts. */
  topics: () => string[]
}

export interface IngestOptions {
  log: TopicLog
  routes: ReadonlyArray<Route<DataSchema>>
  namespace: string
  clock: Clock
  ids: IdGenerator
  observer?: IngestObserver
}

export function createIngest (opts: IngestOptions): Ingest {
  const { log, routes, namespace, clock, ids, observer } = opts
  return {
    handle: async (msg) => {
      const route = matchRoute(routes, msg.mqttTopic)
      if (route === undefined) return
      const parsed = parseJsonPayload(msg.payload)
      let topic = route.topic
      let validationError: string | undefined
      if (route.schema !== undefined) {
        const ok = parsed.json && route.schema(parsed.value)
        if (!ok) {
          validationError = parsed.json ? describeSchemaErrors(route.schema) : 'data is not JSON'
          topic = INVALID_TOPIC
          observer?.invalid?.(route.topic)
        }
      }
      const event = toCloudEvent(msg, { id: ids.next(), time: clock.now(), namespace, type: route.type, json: parsed.json, validationError })
      await log.append(topic, [event])
      observer?.ingested?.(topic)
    },
    connection: async (deviceId, connected, details) => {
      const event = jsonCloudEvent({
        id: ids.next(),
        source: deviceSource(namespace, deviceId),
        type: connected ? 'device.connected' : 'device.disconnected',
        subject: `devices/${deviceId}`,
        time: clock.now(),
        deviceId,
        data: details
      })
      await log.append(SYSTEM_TOPIC, [Buffer.from(event)])
    },
    topics: () => [...new Set([...routes.map((r) => r.topic), INVALID_TOPIC, SYSTEM_TOPIC])]
  }
}
