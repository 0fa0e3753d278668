import { validateCloudEvent, type CloudEvent } from '../core/cloudevent.js'
import { GridgateError } from '../core/errors.js'

// CloudEvents HTTP protocol binding 1.0.2: structured mode (one event, or a JSON array in
// batched mode) and binary mode (`ce-*` headers, the body is `data`). Pure: headers and the
// raw body in, validated events out. Every event of a batch is checked before any is kept.

export interface PublishLimits {
  maxEventBytes: number
  maxBatchEvents: number
}

export interface DecodedEvent {
  event: CloudEvent
  /** The event in the JSON event format, as it will be stored. */
  bytes: Buffer
}

type Headers = Record<string, string | string[] | undefined>

const STRUCTURED = 'application/cloudevents+json'
const BATCH = 'application/cloudevents-batch+json'

export function mediaType (contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

export function isJsonMediaType (type: string): boolean {
  return type === 'application/json' || type.endsWith('+json') || type === 'text/json'
}

function parseJson (body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new GridgateError('MALFORMED_JSON', `the request body is not valid JSON: ${(err as Error).message}`, { cause: err })
  }
}

function header (headers: Headers, name: string): string | undefined {
  const v = headers[name]
  return Array.isArray(v) ? v.join(',') : v
}

// HTTP binding 3.1.3.2: ce-* values are percent-encoded where they leave printable ASCII.
function decodeHeaderValue (value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}

function binaryModeEvent (headers: Headers, body: Buffer): Record<string, unknown> {
  const ev: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!name.startsWith('ce-') || value === undefined) continue
    ev[name.slice(3)] = decodeHeaderValue(Array.isArray(value) ? value.join(',') : value)
  }
  const contentType = header(headers, 'content-type')
  if (contentType !== undefined) ev.datacontenttype = contentType
  if (body.length > 0) {
    const type = mediaType(contentType)
    if (isJsonMediaType(type)) ev.data = parseJson(body)
    else if (type.startsWith('text/')) ev.data = body.toString('utf8')
    else ev.data_base64 = body.toString('base64')
  }
  return ev
}

function encode (value: unknown, index: number | undefined, limits: PublishLimits): DecodedEvent {
  const event = validateCloudEvent(value, index)
  const bytes = Buffer.from(JSON.stringify(event), 'utf8')
  if (bytes.length > limits.maxEventBytes) {
    throw new GridgateError('EVENT_TOO_LARGE',
      `${index === undefined ? 'event' : `event ${index}`} is ${bytes.length} bytes; the limit is ${limits.maxEventBytes}`,
      { details: { index, bytes: bytes.length, limit: limits.maxEventBytes } })
  }
  return { event, bytes }
}

/** Decodes a publish request into validated events (all or none). */
export function decodePublish (headers: Headers, body: Buffer | undefined, limits: PublishLimits): DecodedEvent[] {
  const raw = body ?? Buffer.alloc(0)
  const type = mediaType(header(headers, 'content-type'))
  // HTTP binding §1.3: a content type of application/cloudevents… means structured mode,
  // whatever ce-* headers come along; otherwise ce-specversion means binary mode.
  const structured = type.startsWith('application/cloudevents')
  if (!structured && header(headers, 'ce-specversion') !== undefined) return [encode(binaryModeEvent(headers, raw), undefined, limits)]
  if (type !== STRUCTURED && type !== BATCH && type !== 'application/json') {
    throw new GridgateError('UNSUPPORTED_MEDIA_TYPE',
      `content type '${type || '(none)'}' is not supported: use ${STRUCTURED}, ${BATCH}, or binary mode with ce-* headers`,
      { details: { contentType: type } })
  }
  if (raw.length === 0) throw new GridgateError('BODY_INVALID', 'the request body is empty')
  const value = parseJson(raw)
  if (!Array.isArray(value)) {
    if (type === BATCH) throw new GridgateError('BODY_INVALID', `${BATCH} must be a JSON array of CloudEvents`)
    return [encode(value, undefined, limits)]
  }
  if (value.length > limits.maxBatchEvents) {
    throw new GridgateError('BATCH_TOO_MANY_EVENTS',
      `the batch has ${value.length} events; the limit is ${limits.maxBatchEvents}`,
      { details: { events: value.length, limit: limits.maxBatchEvents } })
  }
  return value.map((v, i) => encode(v, i, limits))
}
