import { createHmac, timingSafeEqual } from 'node:crypto'

// Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"):
// HMAC-SHA256 over `${webhook-id}.${webhook-timestamp}.${body}`, sent as `v1,<base64>`.
// Pure: the time comes in as an argument.

export type WebhookSignatureHeaders = Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>

/** Default window for verifyWebhook: the spec's suggested tolerance against replays, 5 minutes. */
export const DEFAULT_TOLERANCE_SECONDS = 300

const SECRET_PREFIX = 'whsec_'

// Standard Webhooks: a `whsec_` secret is base64 after the prefix and the HMAC key is its
// bytes; any other secret is used as its UTF-8 bytes.
function secretKey (secret: string): Buffer {
  const key = secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8')
  if (key.length === 0) throw new RangeError('the webhook secret is empty')
  return key
}

// The timestamp goes in as the header's text, so verification signs exactly what was received.
function hmac (key: Buffer, id: string, timestamp: string, body: Buffer | string): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest()
}

/** The three Standard Webhooks headers for one request; `body` must be the exact bytes sent. */
export function signWebhook (secret: string, id: string, timestampSeconds: number, body: Buffer | string): WebhookSignatureHeaders {
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) {
    throw new RangeError(`the webhook timestamp must be whole seconds since the epoch, got ${timestampSeconds}`)
  }
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': `v1,${hmac(secretKey(secret), id, String(timestampSeconds), body).toString('base64')}`
  }
}

/**
 * True when the headers (names in any case) carry a `v1` signature of `body` under `secret`
 * and the timestamp is within `toleranceSeconds` of `nowSeconds` either way. The signature
 * header may list several space-separated signatures (secret rotation); one match is enough.
 */
export function verifyWebhook (
  secret: string,
  headers: Record<string, string | undefined>,
  body: Buffer | string,
  nowSeconds: number,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS
): boolean {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]))
  const id = lower.get('webhook-id')
  const timestamp = lower.get('webhook-timestamp')
  const signatures = lower.get('webhook-signature')
  if (id === undefined || timestamp === undefined || signatures === undefined) return false
  if (!/^\d+$/.test(timestamp)) return false
  const ts = Number(timestamp)
  if (!Number.isSafeInteger(ts) || Math.abs(nowSeconds - ts) > toleranceSeconds) return false
  const expected = hmac(secretKey(secret), id, timestamp, body)
  let ok = false
  for (const entry of signatures.split(' ')) {
    const comma = entry.indexOf(',')
    // Other versions (e.g. v1a, asymmetric) are not ours to check: skip them.
    if (comma === -1 || entry.slice(0, comma) !== 'v1') continue
    const given = Buffer.from(entry.slice(comma + 1), 'base64')
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true
  }
  return ok
}
