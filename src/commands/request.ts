import { GridgateError } from '../core/errors.js'

// POST /devices/{id}/commands bodies. Pure.

export interface CommandRequest {
  /** Caller-chosen id (body `id` or the Idempotency-Key header): the same one twice is one command. */
  id?: string
  name: string
  payload: unknown
  timeoutSeconds: number
  ttlSeconds: number
}

// Names and ids become MQTT topic levels: no separators or wildcards.
export const COMMAND_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/
export const COMMAND_ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/

function fail (field: string, problem: string): never {
  throw new GridgateError('COMMAND_INVALID', `${field}: ${problem}`, { details: { field } })
}

function seconds (value: unknown, field: string, min: number, max: number, def: number): number {
  if (value === undefined || value === null) return def
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(field, `must be an integer from ${min} to ${max}`)
  return value
}

export function parseCommandRequest (body: unknown, idempotencyKey: string | undefined, defaults: { timeoutSeconds: number, ttlSeconds: number }): CommandRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) fail('body', 'must be a JSON object')
  const b = body as Record<string, unknown>
  for (const key of Object.keys(b)) {
    if (!['id', 'name', 'payload', 'timeoutSeconds', 'ttlSeconds'].includes(key)) fail(key, 'unknown field')
  }
  if (typeof b.name !== 'string' || !COMMAND_NAME.test(b.name)) fail('name', "is required: 1-64 letters, digits, '-', '_', '.' or ':'")
  if (b.id !== undefined && (typeof b.id !== 'string' || !COMMAND_ID.test(b.id))) fail('id', "must be 1-128 letters, digits, '-', '_', '.' or ':'")
  if (idempotencyKey !== undefined && !COMMAND_ID.test(idempotencyKey)) fail('Idempotency-Key', "must be 1-128 letters, digits, '-', '_', '.' or ':'")
  if (b.id !== undefined && idempotencyKey !== undefined && b.id !== idempotencyKey) fail('id', 'differs from the Idempotency-Key header')
  const payload = b.payload === undefined ? null : b.payload
  // Bytes as published (UTF-8), not UTF-16 characters.
  if (Buffer.byteLength(JSON.stringify(payload), 'utf8') > 256 * 1024) fail('payload', 'is larger than 256 KiB')
  return {
    id: (b.id as string | undefined) ?? idempotencyKey,
    name: b.name,
    payload,
    timeoutSeconds: seconds(b.timeoutSeconds, 'timeoutSeconds', 1, 86_400, defaults.timeoutSeconds),
    ttlSeconds: seconds(b.ttlSeconds, 'ttlSeconds', 0, 2_592_000, defaults.ttlSeconds)
  }
}
