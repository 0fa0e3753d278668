import { GridgateError } from '../core/errors.js'

// POST /devices/{id}/commands: the body's JSON Schema (validated by the HTTP layer, see
// core/validation.ts) and what code adds to it: the Idempotency-Key header against the body
// id, the payload's size as published, and the configured defaults. Pure.

export interface CommandRequest {
  /** Caller-chosen id (body `id` or the Idempotency-Key header): the same one twice is one command. */
  id?: string
  name: string
  payload: unknown
  timeoutSeconds: number
  ttlSeconds: number
}

// Names and ids become MQTT topic levels: no separators or wildcards.
export const COMMAND_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$'
export const COMMAND_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
export const COMMAND_NAME = new RegExp(COMMAND_NAME_PATTERN)
export const COMMAND_ID = new RegExp(COMMAND_ID_PATTERN)
/** A payload is published as its UTF-8 JSON; at most this many bytes. */
export const MAX_PAYLOAD_BYTES = 256 * 1024

const ID_RULE = "must be 1-128 letters, digits, '-', '_', '.' or ':'"

export const COMMAND_REQUEST_SCHEMA = {
  type: 'object',
  'x-error': { code: 'COMMAND_INVALID', problem: 'must be a JSON object' },
  description: 'A command for the device. `timeoutSeconds` and `ttlSeconds` default to `commands.defaultTimeoutSeconds` and `commands.defaultTtlSeconds`.',
  additionalProperties: false,
  required: ['name'],
  properties: {
    id: { type: 'string', pattern: COMMAND_ID_PATTERN, description: 'Caller-chosen id: the same id twice is one command (or use the Idempotency-Key header).', 'x-error': { problem: ID_RULE } },
    name: { type: 'string', pattern: COMMAND_NAME_PATTERN, description: 'The command name: the MQTT topic level `devices/{id}/commands/{name}/{commandId}`.', 'x-error': { problem: "is required: 1-64 letters, digits, '-', '_', '.' or ':'" } },
    payload: { description: 'Any JSON value (default null), published as the MQTT payload; at most 256 KiB as UTF-8 JSON.' },
    timeoutSeconds: { type: ['integer', 'null'], minimum: 1, maximum: 86_400, description: 'How long the device has to answer once the command is sent.' },
    ttlSeconds: { type: ['integer', 'null'], minimum: 0, maximum: 2_592_000, description: 'How long a command for an offline device waits to be sent.' }
  }
} as const

/** The request's headers: the Idempotency-Key (fastify sees header names in lower case). */
export const COMMAND_HEADERS_SCHEMA = {
  type: 'object',
  'x-error': { code: 'COMMAND_INVALID' },
  properties: {
    'idempotency-key': {
      type: 'string',
      pattern: COMMAND_ID_PATTERN,
      description: 'The command id, as an alternative to the body `id`.',
      'x-error': { name: 'Idempotency-Key', problem: ID_RULE }
    }
  }
} as const

/** A body that passed COMMAND_REQUEST_SCHEMA. */
export interface CommandBody {
  id?: string
  name: string
  payload?: unknown
  timeoutSeconds?: number | null
  ttlSeconds?: number | null
}

function fail (field: string, problem: string): never {
  throw new GridgateError('COMMAND_INVALID', `${field}: ${problem}`, { details: { field } })
}

/** The request from a valid body: the id chosen, the payload's size checked, the defaults filled in. */
export function commandRequest (body: CommandBody, idempotencyKey: string | undefined, defaults: { timeoutSeconds: number, ttlSeconds: number }): CommandRequest {
  if (body.id !== undefined && idempotencyKey !== undefined && body.id !== idempotencyKey) fail('id', 'differs from the Idempotency-Key header')
  const payload = body.payload === undefined ? null : body.payload
  // Bytes as published (UTF-8), not UTF-16 characters.
  if (Buffer.byteLength(JSON.stringify(payload), 'utf8') > MAX_PAYLOAD_BYTES) fail('payload', 'is larger than 256 KiB')
  return {
    id: body.id ?? idempotencyKey,
    name: body.name,
    payload,
    timeoutSeconds: body.timeoutSeconds ?? defaults.timeoutSeconds,
    ttlSeconds: body.ttlSeconds ?? defaults.ttlSeconds
  }
}
