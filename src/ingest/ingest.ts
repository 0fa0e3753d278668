import type { Clock } from '../core/clock.js'
import { deviceSource, jsonCloudEvent } from '../core/cloudevent-writer.js'
import type { IdGenerator } from '../core/ids.js'
import { dedupeKey } from '../log/dedupe.js'
import type { AppendResult, DedupeKeys, TopicLog } from '../log/types.js'
import { matchRoute, type Route } from './routes.js'
import { describeSchemaErrors, type DataSchema, type RegistrySchema } from './schemas.js'
import { isJsonText } from './json-text.js'
import { createCloudEventEncoder, idFromPayload, parseJsonPayload, type DeviceMessage } from './to-cloudevent.js'

// The broker's onPublish port: device message -> CloudEvent -> durable append. The promise
// resolves only after the append is written, which is what lets aedes send the PUBACK.
//
// Idempotent publish: a route with `idField` takes the event id from the payload, and the
// append carries the event's deduplication key, so on a topic that deduplicates a resend (a
// QoS 1 message whose PUBACK was lost) is acknowledged and not appended again. An id the
// gateway generates cannot recur, so those events carry no key (the log neither parses nor
// indexes them): with no `idField` the message path does no more work than before.

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

/** A route with a schema file's validator (`schema`) or a registry subject's (`registrySchema`). */
export type IngestRoute = Route<DataSchema> & { registrySchema?: RegistrySchema }

export interface IngestOptions {
  log: TopicLog
  routes: readonly IngestRoute[]
  namespace: string
  clock: Clock
  ids: IdGenerator
  observer?: IngestObserver
}

/** MQTT topics whose route ingest remembers; past this it starts again. */
const CACHED_ROUTES = 50_000
const NO_ROUTE = null
/** The keys of an event whose id the gateway generated: none to index. */
const NO_KEY: DedupeKeys = [undefined]

export function createIngest (opts: IngestOptions): Ingest {
  const { log, routes, namespace, clock, ids, observer } = opts
  const encode = createCloudEventEncoder(namespace)
  // Routes are fixed for the process, so a topic's route is decided once.
  let routeOf = new Map<string, IngestRoute | typeof NO_ROUTE>()
  // A duplicate is counted by the log (gridgate_duplicates_total), not as an ingested message.
  const counted = (topic: string) => (r: AppendResult) => { if (r.duplicates === undefined) observer?.ingested?.(topic) }
  const countedByTopic = new Map<string, (r: AppendResult) => void>()
  return {
    // Not async: the append's promise is the only one a message waits on (issue 13).
    handle: (msg) => {
      let route = routeOf.get(msg.mqttTopic)
      if (route === undefined) {
        if (routeOf.size >= CACHED_ROUTES) routeOf = new Map()
        route = matchRoute(routes, msg.mqttTopic) ?? NO_ROUTE
        routeOf.set(msg.mqttTopic, route)
      }
      if (route === NO_ROUTE) return Promise.resolve()
      let topic = route.topic
      let validationError: string | undefined
      let json: boolean
      let schema = route.schema
      let dataschema: string | undefined
      // One parse serves both the id and a schema.
      let parsed = route.idField === undefined ? undefined : parseJsonPayload(msg.payload)
      if (route.registrySchema !== undefined) {
        const version = route.registrySchema.current()
        schema = version?.validate
        dataschema = version?.uri
        if (version === undefined) validationError = `schema subject '${route.registrySchema.subject}' has no version to check against`
      }
      if (schema !== undefined || validationError !== undefined) {
        // Only a schema (or an idField) needs the value; otherwise the bytes are checked, not parsed.
        parsed ??= parseJsonPayload(msg.payload)
        json = parsed.json
        if (schema === undefined || !(parsed.json && schema(parsed.value))) {
          validationError ??= parsed.json && schema !== undefined ? describeSchemaErrors(schema) : 'data is not JSON'
          topic = INVALID_TOPIC
          observer?.invalid?.(route.topic)
        }
      } else if (parsed !== undefined) {
        json = parsed.json
      } else {
        json = msg.payload.length > 0 && isJsonText(msg.payload)
      }
      const given = route.idField !== undefined && parsed?.json === true ? idFromPayload(parsed.value, route.idField) : undefined
      const event = encode(msg, { id: given ?? ids.next(), time: clock.now(), type: route.type, json, validationError, dataschema })
      let done = countedByTopic.get(topic)
      if (done === undefined) countedByTopic.set(topic, done = counted(topic))
      return log.append(topic, [event], given === undefined ? NO_KEY : [dedupeKey(deviceSource(namespace, msg.deviceId), given)]).then(done)
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
      await log.append(SYSTEM_TOPIC, [Buffer.from(event)], NO_KEY)
    },
    topics: () => [...new Set([...routes.map((r) => r.topic), INVALID_TOPIC, SYSTEM_TOPIC])]
  }
}
