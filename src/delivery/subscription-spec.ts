import { GridgateError } from '../core/errors.js'
import { compileFilters, FILTERS_CONFIGURATION_SCHEMA, type EventMatcher, type FiltersConfiguration } from '../core/filters.js'
import { NAME } from '../core/names.js'
import { checkWith } from '../core/validation.js'
import { parseIsoDuration } from './push/schedule.js'

// Event subscriptions in Event Grid's namespace-subscription shape, with or without the
// `properties` wrapper. Pure: the body's JSON Schema, the normalised spec a valid body becomes,
// and the spec rendered back into the shape clients expect. Errors name the field at fault.

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

const int = (min: number, max: number, description: string) => ({ type: ['integer', 'null'], minimum: min, maximum: max, description }) as const
const TTL = {
  type: ['string', 'null'],
  description: 'ISO 8601 duration, at least PT1M (default P7D); then the event is dead-lettered.',
  'x-error': { problem: 'must be an ISO 8601 duration such as PT1H or P7D' }
} as const
/** Azure resource references gridgate accepts and ignores. */
const IGNORED = { description: 'Accepted for compatibility with Event Grid; ignored.' } as const

const QUEUE = {
  type: 'object',
  additionalProperties: false,
  properties: {
    // Event Grid namespaces: lock 60-300 s (default 60), 1-10 deliveries (default 10).
    receiveLockDurationInSeconds: int(60, 300, 'How long a received event stays locked (default 60).'),
    maxDeliveryCount: int(1, 10, 'Deliveries before the event is dead-lettered (default 10).'),
    eventTimeToLive: TTL,
    deadLetterDestinationWithResourceIdentity: IGNORED
  }
} as const

const PUSH = {
  type: 'object',
  additionalProperties: false,
  required: ['destination'],
  properties: {
    maxDeliveryCount: int(1, 10, 'Attempts before the event is dead-lettered (default 10).'),
    eventTimeToLive: TTL,
    destination: {
      type: 'object',
      additionalProperties: false,
      required: ['properties'],
      properties: {
        endpointType: { type: 'string', const: 'WebHook', 'x-error': { problem: "only 'WebHook' is supported" } },
        properties: {
          type: 'object',
          additionalProperties: false,
          required: ['endpointUrl'],
          properties: {
            endpointUrl: { type: 'string', minLength: 1, description: 'An https or http URL; it must consent in the CloudEvents webhook validation handshake.' },
            maxEventsPerBatch: int(1, 5000, 'Events per request (default 1); above 1 they go as application/cloudevents-batch+json.'),
            preferredBatchSizeInKilobytes: int(1, 1024, 'Default 64.'),
            secret: { type: 'string', minLength: 16, maxLength: 512, writeOnly: true, description: 'Standard Webhooks signing secret (a gridgate extension); never shown again.', 'x-error': { problem: 'must be a string of 16 to 512 characters' } }
          }
        }
      }
    },
    deliveryWithResourceIdentity: IGNORED,
    deadLetterDestinationWithResourceIdentity: IGNORED
  }
} as const

const PROPERTIES = {
  type: 'object',
  additionalProperties: false,
  required: ['deliveryConfiguration'],
  properties: {
    deliveryConfiguration: {
      type: 'object',
      additionalProperties: false,
      properties: {
        deliveryMode: { type: 'string', enum: ['Queue', 'Push'], description: 'Default: Push when `push` is given, else Queue.' },
        queue: QUEUE,
        push: PUSH
      }
    },
    filtersConfiguration: FILTERS_CONFIGURATION_SCHEMA,
    eventDeliverySchema: { type: 'string', const: 'CloudEventSchemaV1_0', 'x-error': { problem: "only 'CloudEventSchemaV1_0' is supported" } },
    startOffset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Where a new subscription starts reading its topic (a gridgate extension); at most one of startOffset, startTime, startAt.' },
    startTime: { type: 'string', format: 'date-time', description: 'Start at the first event the log accepted at or after this time.' },
    startAt: { type: 'string', enum: ['end', 'beginning'], description: 'Default: end (only events published from now on).' },
    provisioningState: { type: 'string', description: 'Accepted (as GET shows it) and ignored.' }
  }
} as const

/**
 * PUT /topics/{topic}/eventsubscriptions/{sub}: Event Grid's namespace-subscription shape, with
 * or without the `properties` wrapper (fields are named under `properties.` either way).
 */
export const SUBSCRIPTION_BODY_SCHEMA = {
  type: 'object',
  'x-error': { code: 'SUBSCRIPTION_INVALID' },
  if: { type: 'object', properties: { properties: true }, required: ['properties'] },
  then: {
    type: 'object',
    additionalProperties: false,
    properties: { properties: PROPERTIES, name: IGNORED, id: IGNORED, type: IGNORED }
  },
  else: { ...PROPERTIES, 'x-error': { prefix: 'properties' } }
} as const

/** A body's properties that passed SUBSCRIPTION_BODY_SCHEMA. */
interface Properties {
  deliveryConfiguration: { deliveryMode?: DeliveryMode, queue?: Record<string, unknown>, push?: PushBody }
  filtersConfiguration?: FiltersConfiguration | null
  startOffset?: number
  startTime?: string
  startAt?: 'end' | 'beginning'
}

interface PushBody {
  maxDeliveryCount?: number | null
  eventTimeToLive?: string | null
  destination: { properties: { endpointUrl: string, maxEventsPerBatch?: number | null, preferredBatchSizeInKilobytes?: number | null, secret?: string } }
}

function ttl (value: unknown, field: string): string {
  if (value === undefined || value === null) return 'P7D'
  let ms: number
  try {
    ms = parseIsoDuration(value as string)
  } catch {
    fail(field, `'${String(value)}' is not an ISO 8601 duration such as PT1H or P7D`)
  }
  // Event Grid: at least one minute.
  if (ms < 60_000) fail(field, 'must be at least PT1M')
  return value as string
}

function parseStart (props: Properties): StartAt {
  const { startOffset, startTime, startAt } = props
  const given = [startOffset, startTime, startAt].filter((v) => v !== undefined).length
  if (given > 1) fail('properties.startOffset', 'give at most one of startOffset, startTime, startAt')
  if (startOffset !== undefined) return { kind: 'offset', offset: startOffset }
  if (startTime !== undefined) return { kind: 'time', time: Date.parse(startTime) }
  return startAt === 'beginning' ? { kind: 'beginning' } : { kind: 'end' }
}

function parseQueue (q: Record<string, unknown> = {}): QueueSettings {
  return {
    receiveLockDurationInSeconds: (q.receiveLockDurationInSeconds as number | null | undefined) ?? 60,
    maxDeliveryCount: (q.maxDeliveryCount as number | null | undefined) ?? 10,
    eventTimeToLive: ttl(q.eventTimeToLive, 'properties.deliveryConfiguration.queue.eventTimeToLive')
  }
}

function parsePush (p: PushBody | undefined): PushSettings {
  const field = 'properties.deliveryConfiguration.push'
  if (p === undefined) fail(field, "is required when deliveryMode is 'Push'")
  const dp = p.destination.properties
  let url: URL
  try {
    url = new URL(dp.endpointUrl)
  } catch {
    fail(`${field}.destination.properties.endpointUrl`, 'is not a URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${field}.destination.properties.endpointUrl`, 'must be an https or http URL')
  return {
    maxDeliveryCount: p.maxDeliveryCount ?? 10,
    eventTimeToLive: ttl(p.eventTimeToLive, `${field}.eventTimeToLive`),
    endpointUrl: dp.endpointUrl,
    maxEventsPerBatch: dp.maxEventsPerBatch ?? 1,
    preferredBatchSizeInKilobytes: dp.preferredBatchSizeInKilobytes ?? 64,
    secret: dp.secret
  }
}

/**
 * Validates a PUT body against SUBSCRIPTION_BODY_SCHEMA, then what spans fields (the delivery
 * mode, the start, durations and URLs), into a spec and its compiled filter.
 */
export function parseSubscription (body: unknown): { spec: SubscriptionSpec, matcher: EventMatcher } {
  const outer = checkWith<Record<string, unknown>>(SUBSCRIPTION_BODY_SCHEMA, body ?? {})
  const props = (outer.properties ?? outer) as Properties
  const dc = props.deliveryConfiguration
  const mode = dc.deliveryMode ?? (dc.push !== undefined ? 'Push' : 'Queue')
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
