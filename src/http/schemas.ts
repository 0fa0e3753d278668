import { ERRORS } from '../core/errors.js'
import { DEVICE_ID_PATTERN, NAME_PATTERN, NAME_RULE } from '../core/names.js'
import type { JsonSchema } from '../core/validation.js'

// What the route schemas share: path parameters, query parameters, answers, and the shared
// response schemas the OpenAPI document lists under components (added with addSchema, named
// by `$id`, referenced as `Name#`). Request schemas are inline: they are what fastify checks.

// ------------------------------------------------------------------ path parameters

/** A name in a path: any name may be asked for (an impossible one is simply not found). */
const name = (description: string) => ({ type: 'string', description }) as const

/** A name in a PUT path: it must follow the rule it will be stored under. */
const newName = (description: string, error: { code: string, message: string }) => ({
  type: 'string',
  pattern: NAME_PATTERN,
  description: `${description}: ${NAME_RULE}`,
  'x-error': error
}) as const

export const TOPIC_NAME = name('The namespace topic')
export const SUBSCRIPTION_NAME = name('The event subscription')
export const DEVICE_ID = name('The device id')

export const NEW_TOPIC_NAME = newName('The namespace topic', { code: 'TOPIC_NAME_INVALID', message: `topic name '{value}' is invalid: use ${NAME_RULE}` })
export const NEW_SUBSCRIPTION_NAME = newName('The event subscription', { code: 'SUBSCRIPTION_INVALID', message: `name: '{value}' is invalid: use ${NAME_RULE}` })
export const NEW_WINDOW_NAME = newName('The continuous window', { code: 'WINDOW_INVALID', message: 'name: must be 1-50 letters, digits, _ . - starting with a letter or digit' })
export const NEW_DEVICE_ID = {
  type: 'string',
  pattern: DEVICE_ID_PATTERN,
  description: "The device id: 1-128 letters, digits, '-', '_', '.' or ':', starting with a letter or digit",
  'x-error': { code: 'DEVICE_ID_INVALID', message: "device id '{value}' is invalid: use 1-128 letters, digits, '-', '_', '.' or ':', starting with a letter or digit" }
} as const

export function params (properties: Record<string, JsonSchema>): JsonSchema {
  return { type: 'object', required: Object.keys(properties), properties }
}

// ------------------------------------------------------------------ query parameters

/** Event Grid clients send api-version=2024-06-01; any value is accepted. */
const API_VERSION = { type: 'string', description: 'Accepted and ignored (Event Grid clients send 2024-06-01).' } as const

export function intQuery (min: number, max: number, description: string, def?: number): JsonSchema {
  return { type: 'integer', minimum: min, maximum: max, description, ...(def === undefined ? {} : { default: def }) }
}

export function query (properties: Record<string, JsonSchema>, extra: JsonSchema = {}): JsonSchema {
  return { type: 'object', properties: { 'api-version': API_VERSION, ...properties }, ...extra }
}

// ------------------------------------------------------------------ answers

export function json (description: string, schema: JsonSchema, type = 'application/json'): JsonSchema {
  return { description, content: { [type]: { schema } } }
}

export const ref = (id: string): JsonSchema => ({ $ref: `${id}#` })

export const NO_CONTENT = { description: 'Done; no body.', type: 'null' } as const

/** Every route's error answer. */
export const ERROR_ANSWERS = {
  default: json('An error: `{"error":{"code","message"}}` with the status of its code (see the error table).', ref('ErrorResponse'))
} as const

export const list = (item: JsonSchema): JsonSchema => ({ type: 'object', required: ['value'], properties: { value: { type: 'array', items: item } } })

const time = { type: 'string', format: 'date-time' } as const
const count = { type: 'integer', minimum: 0 } as const

// ------------------------------------------------------------------ components

/** The shared response schemas, each with its `$id` (its name under components.schemas). */
export const COMPONENTS: JsonSchema[] = [
  {
    $id: 'ErrorResponse',
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: { code: { type: 'string', enum: Object.keys(ERRORS) }, message: { type: 'string' } }
      }
    }
  },
  {
    $id: 'CloudEvent',
    type: 'object',
    description: 'A CloudEvent 1.0 in the JSON event format; extension attributes are lower-case a-z and 0-9, at most 20 characters.',
    required: ['specversion', 'id', 'source', 'type'],
    properties: {
      specversion: { type: 'string', const: '1.0' },
      id: { type: 'string', minLength: 1 },
      source: { type: 'string', minLength: 1 },
      type: { type: 'string', minLength: 1 },
      subject: { type: 'string' },
      time,
      datacontenttype: { type: 'string' },
      dataschema: { type: 'string' },
      data: { description: 'Any JSON value' },
      data_base64: { type: 'string', contentEncoding: 'base64' }
    },
    additionalProperties: { type: ['string', 'number', 'boolean'] }
  },
  {
    $id: 'Topic',
    type: 'object',
    properties: {
      name: { type: 'string' },
      retention: { type: 'object', properties: { maxAgeSeconds: count, maxBytes: count } },
      createdAt: time,
      firstOffset: count,
      nextOffset: count,
      events: count,
      bytes: count,
      deduplication: {
        type: 'object',
        description: 'Only when on: an event whose (source, id) the topic took less than `windowSeconds` before is acknowledged and not appended again.',
        properties: { windowSeconds: count }
      },
      schemas: {
        type: 'object',
        description: 'Only when set: event type → the schema subject (and optional fixed version) its data must match on HTTP publish.',
        additionalProperties: { type: 'object', properties: { subject: { type: 'string' }, version: { type: 'integer' } } }
      }
    }
  },
  {
    $id: 'EventSubscription',
    type: 'object',
    description: "Event Grid's namespace subscription; a push destination's secret is never shown (`hasSecret`).",
    properties: {
      name: { type: 'string' },
      topic: { type: 'string' },
      properties: {
        type: 'object',
        properties: {
          provisioningState: { type: 'string' },
          eventDeliverySchema: { type: 'string' },
          deliveryConfiguration: { type: 'object' },
          filtersConfiguration: { type: 'object' },
          startOffset: count,
          createdAt: time
        }
      }
    }
  },
  {
    $id: 'SettleResult',
    type: 'object',
    description: 'Both lists are always there; an unknown, spent or expired token is in failedLockTokens.',
    required: ['failedLockTokens', 'succeededLockTokens'],
    properties: {
      failedLockTokens: {
        type: 'array',
        items: {
          type: 'object',
          required: ['lockToken', 'error'],
          properties: { lockToken: { type: 'string' }, error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } } }
        }
      },
      succeededLockTokens: { type: 'array', items: { type: 'string' } }
    }
  },
  {
    $id: 'Device',
    type: 'object',
    properties: {
      id: { type: 'string' },
      attributes: { type: 'object', additionalProperties: { type: 'string' } },
      createdAt: time,
      connected: { type: 'boolean' },
      lastSeen: { type: ['string', 'null'], format: 'date-time' },
      node: { type: 'string', description: 'While connected: the cluster node holding its connection (an id of GET /cluster/nodes).' },
      connectedSince: { type: 'string', format: 'date-time', description: 'While connected: since when.' },
      groups: { type: 'array', items: { type: 'string' }, description: "The client groups (mqtt.clientGroups) the device is in, '$all' first." },
      password: { type: 'string', description: 'Only in the answer that created the device: it is stored as a hash.' }
    }
  },
  {
    $id: 'Command',
    type: 'object',
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      payload: { description: 'Any JSON value' },
      status: { type: 'string', enum: ['pending', 'sent', 'delivered', 'succeeded', 'failed', 'timedOut', 'expired', 'canceled'] },
      result: { description: "The device's result" },
      error: { type: ['string', 'null'] },
      createdAt: time,
      updatedAt: time
    }
  },
  {
    $id: 'Window',
    type: 'object',
    description: 'A continuous window definition as given (seconds), with its name and creation time.',
    properties: {
      name: { type: 'string' },
      sourceTopic: { type: 'string' },
      outputTopic: { type: 'string' },
      metrics: { type: 'array', items: { type: 'string' } },
      aggregates: { type: 'array', items: { type: 'string' } },
      window: { type: 'object' },
      filtersConfiguration: { type: 'object' },
      createdAt: time
    }
  }
]
