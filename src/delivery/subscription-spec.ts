import { GridgateError } from '../core/errors.js'
import { isRfc3339 } from '../core/cloudevent.js'
import { compileFilters, type EventMatcher, type FiltersConfiguration } from '../core/filters.js'
import { NAME } from '../core/names.js'
import { parseIsoDuration } from './push/schedule.js'

// Event subscriptions in Event Grid's namespace-subscription shape, with or without the
// `properties` wrapper. Pure: validates a request body into a normalised spec, and renders
// a spec back into the shape clients expect. Errors name the field at fault.

export type DeliveryMode = 'Queue' | 'Push'

export interface QueueSettings {
  receiveLockDurationInSeconds: number
  maxDeliveryCount: number
  eventTimeToLive: string
}

export interface PushSettings {
  maxDeliveryCount: number
  eventTimeToLive: string
  endpointUrl: string
  maxEventsPerBatch: number
  preferredBatchSizeInKilobytes: number
  /** Standard Webhooks signing secret (a gridgate extension); never rendered back. */
  secret?: string
}

/** Where a new subscription starts reading its topic (a gridgate extension). */
export type StartAt = { kind: 'end' } | { kind: 'beginning' } | { kind: 'offset', offset: number } | { kind: 'time', time: number }

export interface SubscriptionSpec {
  mode: DeliveryMode
  queue?: QueueSettings
  push?: PushSettings
  filters: FiltersConfiguration
  startAt: StartAt
}

/** Subscription names follow the one name rule (core/names.ts). */
export const SUBSCRIPTION_NAME = NAME

function fail (field: string, problem: string): never {
  throw new GridgateError('SUBSCRIPTION_INVALID', `${field}: ${problem}`, { details: { field } })
}

function object (value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail(field, 'must be an object')
  return value as Record<string, unknown>
}

function onlyKeys (obj: Record<string, unknown>, field: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(`${field}.${key}`, `unknown field (allowed: ${allowed.join(', ')})`)
  }
}

function int (value: unknown, field: string, min: number, max: number, def: number): number {
  if (value === undefined || value === null) return def
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(field, `must be an integer from ${min} to ${max}`)
  return value
}

function ttl (value: unknown, field: string): string {
  if (value === undefined || value === null) return 'P7D'
  if (typeof value !== 'string') fail(field, 'must be an ISO 8601 duration such as PT1H or P7D')
  let ms: number
  try {
    ms = parseIsoDuration(value)
  } catch {
    fail(field, `'${value}' is not an ISO 8601 duration such as PT1H or P7D`)
  }
  // Event Grid: at least one minute.
  if (ms < 60_000) fail(field, 'must be at least PT1M')
  return value
}

function parseStart (props: Record<string, unknown>): StartAt {
  const { startOffset, startTime, startAt } = props
  const given = [startOffset, startTime, startAt].filter((v) => v !== undefined).length
  if (given > 1) fail('properties.startOffset', 'give at most one of startOffset, startTime, startAt')
  if (startOffset !== undefined) return { kind: 'offset', offset: int(startOffset, 'properties.startOffset', 0, Number.MAX_SAFE_INTEGER, 0) }
  if (startTime !== undefined) {
    if (typeof startTime !== 'string' || !isRfc3339(startTime)) fail('properties.startTime', 'must be an RFC 3339 time')
    return { kind: 'time', time: Date.parse(startTime) }
  }
  if (startAt === undefined || startAt === 'end') return { kind: 'end' }
  if (startAt === 'beginning') return { kind: 'beginning' }
  fail('properties.startAt', "must be 'end' or 'beginning'")
}

function parseQueue (value: unknown): QueueSettings {
  const field = 'properties.deliveryConfiguration.queue'
  const q = value === undefined ? {} : object(value, field)
  onlyKeys(q, field, ['receiveLockDurationInSeconds', 'maxDeliveryCount', 'eventTimeToLive', 'deadLetterDestinationWithResourceIdentity'])
  return {
    // Event Grid namespaces: lock 60-300 s (default 60), 1-10 deliveries (default 10).
    receiveLockDurationInSeconds: int(q.receiveLockDurationInSeconds, `${field}.receiveLockDurationInSeconds`, 60, 300, 60),
    maxDeliveryCount: int(q.maxDeliveryCount, `${field}.maxDeliveryCount`, 1, 10, 10),
    eventTimeToLive: ttl(q.eventTimeToLive, `${field}.eventTimeToLive`)
  }
}

function parsePush (value: unknown): PushSettings {
  const field = 'properties.deliveryConfiguration.push'
  const p = object(value, field)
  onlyKeys(p, field, ['maxDeliveryCount', 'eventTimeToLive', 'destination', 'deliveryWithResourceIdentity', 'deadLetterDestinationWithResourceIdentity'])
  const dest = object(p.destination, `${field}.destination`)
  onlyKeys(dest, `${field}.destination`, ['endpointType', 'properties'])
  if (dest.endpointType !== undefined && dest.endpointType !== 'WebHook') fail(`${field}.destination.endpointType`, "only 'WebHook' is supported")
  const dp = object(dest.properties, `${field}.destination.properties`)
  onlyKeys(dp, `${field}.destination.properties`, ['endpointUrl', 'maxEventsPerBatch', 'preferredBatchSizeInKilobytes', 'secret'])
  if (typeof dp.endpointUrl !== 'string' || dp.endpointUrl.length === 0) fail(`${field}.destination.properties.endpointUrl`, 'is required')
  let url: URL
  try {
    url = new URL(dp.endpointUrl)
  } catch {
    fail(`${field}.destination.properties.endpointUrl`, 'is not a URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${field}.destination.properties.endpointUrl`, 'must be an https or http URL')
  if (dp.secret !== undefined && (typeof dp.secret !== 'string' || dp.secret.length < 16 || dp.secret.length > 512)) {
    fail(`${field}.destination.properties.secret`, 'must be a string of 16 to 512 characters')
  }
  return {
    maxDeliveryCount: int(p.maxDeliveryCount, `${field}.maxDeliveryCount`, 1, 10, 10),
    eventTimeToLive: ttl(p.eventTimeToLive, `${field}.eventTimeToLive`),
    endpointUrl: dp.endpointUrl,
    maxEventsPerBatch: int(dp.maxEventsPerBatch, `${field}.destination.properties.maxEventsPerBatch`, 1, 5000, 1),
    preferredBatchSizeInKilobytes: int(dp.preferredBatchSizeInKilobytes, `${field}.destination.properties.preferredBatchSizeInKilobytes`, 1, 1024, 64),
    secret: dp.secret as string | undefined
  }
}

/** Validates a PUT body into a spec and its compiled filter. */
export function parseSubscription (body: unknown): { spec: SubscriptionSpec, matcher: EventMatcher } {
  const outer = object(body ?? {}, 'body')
  const props = outer.properties === undefined ? outer : object(outer.properties, 'properties')
  if (outer.properties !== undefined) onlyKeys(outer, 'body', ['properties', 'name', 'id', 'type'])
  onlyKeys(props, 'properties', ['deliveryConfiguration', 'filtersConfiguration', 'eventDeliverySchema', 'startOffset', 'startTime', 'startAt', 'provisioningState'])
  if (props.eventDeliverySchema !== undefined && props.eventDeliverySchema !== 'CloudEventSchemaV1_0') {
    fail('properties.eventDeliverySchema', "only 'CloudEventSchemaV1_0' is supported")
  }
  const dc = object(props.deliveryConfiguration, 'properties.deliveryConfiguration')
  onlyKeys(dc, 'properties.deliveryConfiguration', ['deliveryMode', 'queue', 'push'])
  const mode = dc.deliveryMode ?? (dc.push !== undefined ? 'Push' : 'Queue')
  if (mode !== 'Queue' && mode !== 'Push') fail('properties.deliveryConfiguration.deliveryMode', "must be 'Queue' or 'Push'")
  const matcher = compileFilters(props.filtersConfiguration, 'properties.filtersConfiguration')
  const spec: SubscriptionSpec = {
    mode,
    filters: (props.filtersConfiguration ?? {}) as FiltersConfiguration,
    startAt: parseStart(props)
  }
  if (mode === 'Queue') spec.queue = parseQueue(dc.queue)
  else spec.push = parsePush(dc.push)
  return { spec, matcher }
}

export function maxDeliveryCount (spec: SubscriptionSpec): number {
  return (spec.queue ?? spec.push as PushSettings).maxDeliveryCount
}

export function timeToLiveMs (spec: SubscriptionSpec): number {
  return parseIsoDuration((spec.queue ?? spec.push as PushSettings).eventTimeToLive)
}

/** The subscription as GET answers it (Event Grid's shape; the secret is never shown). */
export function renderSubscription (topic: string, name: string, spec: SubscriptionSpec, startOffset: number, createdAt: string): Record<string, unknown> {
  const deliveryConfiguration: Record<string, unknown> = { deliveryMode: spec.mode }
  if (spec.queue !== undefined) deliveryConfiguration.queue = spec.queue
  if (spec.push !== undefined) {
    const { secret, endpointUrl, maxEventsPerBatch, preferredBatchSizeInKilobytes, ...rest } = spec.push
    deliveryConfiguration.push = {
      ...rest,
      destination: { endpointType: 'WebHook', properties: { endpointUrl, maxEventsPerBatch, preferredBatchSizeInKilobytes, hasSecret: secret !== undefined } }
    }
  }
  return {
    name,
    topic,
    properties: {
      provisioningState: 'Succeeded',
      eventDeliverySchema: 'CloudEventSchemaV1_0',
      deliveryConfiguration,
      filtersConfiguration: spec.filters,
      startOffset,
      createdAt
    }
  }
}
