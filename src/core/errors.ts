// The one catalogue of gridgate's errors. Every throw site names a code from here;
// http/reply.ts is the only place that turns one into `{"error":{"code","message"}}`.
// Codes are stable: clients and dashboards branch on them. The README lists them all
// (test/core/errors.test.ts keeps the two in sync).

export const ERRORS = {
  CONFIG_INVALID: { status: 500, message: 'The configuration is invalid' },
  UNAUTHORIZED: { status: 401, message: 'A valid access key is required' },
  NOT_FOUND: { status: 404, message: 'No such resource' },
  TOPIC_NOT_FOUND: { status: 404, message: 'The topic does not exist' },
  TOPIC_NAME_INVALID: { status: 400, message: 'The topic name is invalid' },
  DEVICE_NOT_FOUND: { status: 404, message: 'The device does not exist' },
  DEVICE_ID_INVALID: { status: 400, message: 'The device id is invalid' },
  SUBSCRIPTION_NOT_FOUND: { status: 404, message: 'The event subscription does not exist' },
  SUBSCRIPTION_INVALID: { status: 400, message: 'The event subscription definition is invalid' },
  DELIVERY_MODE_MISMATCH: { status: 400, message: 'The call does not fit the subscription\'s delivery mode' },
  WEBHOOK_VALIDATION_FAILED: { status: 400, message: 'The webhook endpoint did not consent to receive events' },
  WEBHOOK_TARGET_FORBIDDEN: { status: 400, message: 'The webhook endpoint address is not allowed' },
  LOCK_TOKEN_INVALID: { status: 400, message: 'The lock token is unknown, spent or expired' },
  COMMAND_NOT_FOUND: { status: 404, message: 'The command does not exist' },
  COMMAND_INVALID: { status: 400, message: 'The command request is invalid' },
  COMMAND_NOT_CANCELABLE: { status: 409, message: 'Only a pending command can be canceled' },
  TOO_MANY_COMMANDS: { status: 429, message: 'The device has too many open commands' },
  TOO_MANY_RECEIVES: { status: 429, message: 'Too many receive long polls are open; retry later' },
  WINDOW_NOT_FOUND: { status: 404, message: 'The telemetry window does not exist' },
  WINDOW_INVALID: { status: 400, message: 'The telemetry window definition is invalid' },
  METRIC_NOT_FOUND: { status: 404, message: 'The device has reported no such metric' },
  BODY_INVALID: { status: 400, message: 'The request body is invalid' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON' },
  CLOUDEVENT_MISSING_ATTRIBUTE: { status: 400, message: 'A required CloudEvent attribute is missing' },
  CLOUDEVENT_INVALID_ATTRIBUTE: { status: 400, message: 'A CloudEvent attribute is invalid' },
  CLOUDEVENT_INVALID: { status: 400, message: 'The CloudEvent is invalid' },
  QUERY_PARAM_INVALID: { status: 400, message: 'A query parameter is invalid' },
  QUERY_TOO_LARGE: { status: 400, message: 'The query covers more than the configured limit' },
  EVENT_TOO_LARGE: { status: 413, message: 'An event is larger than the limit' },
  BATCH_TOO_LARGE: { status: 413, message: 'The batch is larger than the limit' },
  BATCH_TOO_MANY_EVENTS: { status: 413, message: 'The batch has more events than the limit' },
  SCHEMA_VIOLATION: { status: 400, message: 'The data does not match its schema' },
  SCHEMA_NOT_FOUND: { status: 404, message: 'The schema subject or version does not exist' },
  SCHEMA_INVALID: { status: 400, message: 'The schema is not a usable JSON Schema 2020-12' },
  SCHEMA_INCOMPATIBLE: { status: 409, message: 'The schema breaks the subject\'s compatibility mode' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The MQTT payload is larger than the limit' },
  MQTT_NOT_AUTHORIZED: { status: 403, message: 'The client may not use this topic' },
  MQTT_BAD_CREDENTIALS: { status: 401, message: 'Bad username or password' },
  MQTT_CLIENT_ID_REJECTED: { status: 400, message: 'The MQTT client id was rejected' },
  MQTT_TOPIC_INVALID: { status: 400, message: 'The MQTT topic name or filter is invalid' },
  RETAINED_NOT_FOUND: { status: 404, message: 'No retained message on that MQTT topic' },
  MQTT_RETAINED_LIMIT: { status: 429, message: 'The device has retained messages on too many topics' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The content type is not supported' },
  STORAGE_WRITE_FAILED: { status: 503, message: 'The event log could not be written; retry later' },
  STORAGE_UNAVAILABLE: { status: 503, message: 'The storage is unreachable; retry later' },
  SUBSCRIPTION_NOT_OWNED: { status: 503, message: 'No node delivers the event subscription right now (its ownership is moving); retry later' },
  TELEMETRY_NOT_OWNED: { status: 503, message: 'No node processes the telemetry source stream right now (its ownership is moving); retry later' },
  SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down' },
  NOT_READY: { status: 503, message: 'The gateway is not ready' },
  INTERNAL: { status: 500, message: 'Internal error' }
} as const satisfies Record<string, { status: number, message: string }>

export type ErrorCode = keyof typeof ERRORS

export interface ErrorOptions {
  /** Extra, machine-readable facts (a field name, an index in a batch). */
  details?: Record<string, unknown>
  cause?: unknown
}

export class GridgateError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: Record<string, unknown> | undefined

  constructor (code: ErrorCode, message?: string, options: ErrorOptions = {}) {
    super(message ?? ERRORS[code].message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GridgateError'
    this.code = code
    this.status = ERRORS[code].status
    this.details = options.details
  }
}

export function isGridgateError (err: unknown): err is GridgateError {
  return err instanceof GridgateError
}
