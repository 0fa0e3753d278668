import { performance } from 'node:perf_hooks'
import { request } from 'undici'
import type { Agent } from 'undici'
import { GridgateError, isGridgateError } from '../../core/errors.js'
import { signWebhook } from './sign.js'

// The HTTP side of push delivery: the CloudEvents webhook validation handshake and one POST
// per delivery attempt. Retry decisions are not made here (schedule.ts); this only reports
// what the endpoint answered, or why it did not.

export interface WebhookClientOptions {
  /** A guarded agent (endpoint-guard.ts): it refuses forbidden targets at connect time. */
  agent: Agent
  /** Bound on a whole exchange: connect, request, answer and reading the answer's body. */
  timeoutMs: number
  /** This gateway's name, sent as WebHook-Request-Origin, e.g. 'gridgate'. */
  origin: string
}

export const CONTENT_TYPE_SINGLE = 'application/cloudevents+json; charset=utf-8'
export const CONTENT_TYPE_BATCH = 'application/cloudevents-batch+json; charset=utf-8'

// Answers are read only to keep the connection reusable; past this the socket is dropped.
const MAX_ANSWER_BYTES = 64 * 1024
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'])

function validationFailed (why: string, cause?: unknown): GridgateError {
  return new GridgateError('WEBHOOK_VALIDATION_FAILED', `Webhook validation failed: ${why}`, cause === undefined ? {} : { cause })
}

/**
 * CloudEvents webhook validation handshake ("HTTP 1.1 Web Hooks for Event Delivery" §4):
 * OPTIONS to the exact URL with WebHook-Request-Origin; consent is a 2xx answer carrying
 * WebHook-Allowed-Origin equal to the origin or '*'. Redirects are not followed. Throws
 * GridgateError('WEBHOOK_VALIDATION_FAILED') saying what was wrong, or passes on the agent's
 * GridgateError('WEBHOOK_TARGET_FORBIDDEN') unchanged when the target address is not allowed.
 */
export async function validateEndpoint (url: string, opts: WebhookClientOptions): Promise<void> {
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort() }, opts.timeoutMs)
  let statusCode: number
  let allowed: string | string[] | undefined
  try {
    // §4.1: the request goes to the exact resource being registered; §4.1.2: Origin is required.
    const res = await request(url, {
      method: 'OPTIONS',
      dispatcher: opts.agent,
      signal: controller.signal,
      headers: { 'webhook-request-origin': opts.origin }
    })
    statusCode = res.statusCode
    allowed = res.headers['webhook-allowed-origin']
    await discard(res.body, controller.signal)
  } catch (err) {
    if (isGridgateError(err)) throw err
    if (controller.signal.aborted || isTimeout(err)) throw validationFailed(`no answer to OPTIONS within ${opts.timeoutMs} ms`, err)
    throw validationFailed(`OPTIONS could not reach the endpoint: ${messageOf(err)}`, err)
  } finally {
    clearTimeout(timer)
  }
  if (statusCode >= 300 && statusCode < 400) {
    throw validationFailed(`OPTIONS answered ${statusCode}, a redirect; redirects are not followed`)
  }
  if (statusCode < 200 || statusCode >= 300) throw validationFailed(`OPTIONS answered ${statusCode}`)
  // §4.2: a status code alone is not consent; only the header is.
  if (allowed === undefined) throw validationFailed(`OPTIONS answered ${statusCode} without a WebHook-Allowed-Origin header`)
  const values = Array.isArray(allowed) ? allowed : [allowed]
  // §4.2.1: the value is the origin as sent, or a single '*'.
  if (!values.some((v) => v === opts.origin || v === '*')) {
    throw validationFailed(`WebHook-Allowed-Origin is "${values.join(', ')}", expected "${opts.origin}" or "*"`)
  }
}

export type DeliveryOutcome = { status: number, ms: number } | { error: string, ms: number }

/**
 * POSTs already-serialised CloudEvents (CloudEvents HTTP binding 3.2 structured / 3.3 batched
 * mode): one event as application/cloudevents+json with its bytes as the body, or (batch) a
 * JSON array made by joining the raw bytes, never re-serialised. With a secret, adds Standard
 * Webhooks headers with `deliveryId` as webhook-id (keep it stable across retries of one
 * delivery so receivers can de-duplicate). Redirects are not followed: a 3xx comes back as
 * its status. Resolves with the status, or with `error` ('timeout' or what failed) for
 * transport failures; never throws for those. Throws only on misuse (no events, or
 * several without `batch`).
 */
export async function deliver (
  url: string,
  events: readonly Buffer[],
  opts: WebhookClientOptions & { batch: boolean, secret?: string, deliveryId: string, nowSeconds: number }
): Promise<DeliveryOutcome> {
  const first = events[0]
  if (first === undefined) throw new RangeError('deliver needs at least one event')
  if (!opts.batch && events.length > 1) throw new RangeError(`deliver got ${events.length} events without batch: true`)
  const body = opts.batch ? joinBatch(events) : first
  const headers: Record<string, string> = {
    'content-type': opts.batch ? CONTENT_TYPE_BATCH : CONTENT_TYPE_SINGLE,
    // Webhooks §4.1.2: after the handshake every delivery carries the same origin.
    'webhook-request-origin': opts.origin
  }
  if (opts.secret !== undefined && opts.secret !== '') {
    Object.assign(headers, signWebhook(opts.secret, opts.deliveryId, opts.nowSeconds, body))
  }

  const started = performance.now()
  const elapsed = (): number => Math.round(performance.now() - started)
  const controller = new AbortController()
  const timer = setTimeout(() => { controller.abort() }, opts.timeoutMs)
  try {
    // undici's request() has no redirect handling unless an interceptor adds it: §2.2 of the
    // webhooks spec says a sender MUST NOT follow redirects.
    const res = await request(url, { method: 'POST', dispatcher: opts.agent, signal: controller.signal, headers, body })
    // The status is the answer; a body that is slow or cut off does not change it.
    await discard(res.body, controller.signal)
    return { status: res.statusCode, ms: elapsed() }
  } catch (err) {
    return { error: controller.signal.aborted || isTimeout(err) ? 'timeout' : messageOf(err), ms: elapsed() }
  } finally {
    clearTimeout(timer)
  }
}

const OPEN = Buffer.from('[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']')

function joinBatch (events: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [OPEN]
  events.forEach((e, i) => {
    if (i > 0) parts.push(COMMA)
    parts.push(e)
  })
  parts.push(CLOSE)
  return Buffer.concat(parts)
}

/** Reads and drops an answer's body, at most MAX_ANSWER_BYTES (then the socket is destroyed); never rejects. */
async function discard (body: { dump: (opts: { limit: number, signal: AbortSignal }) => Promise<unknown> }, signal: AbortSignal): Promise<void> {
  try {
    await body.dump({ limit: MAX_ANSWER_BYTES, signal })
  } catch {
    // Aborted or broken mid-body: the connection is gone, the status already known.
  }
}

function isTimeout (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  const code = (err as { code?: unknown }).code
  return (typeof code === 'string' && TIMEOUT_CODES.has(code)) || err.name === 'TimeoutError'
}

function messageOf (err: unknown): string {
  // Connecting to a name with several addresses fails with an AggregateError whose own message is empty.
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(messageOf).join('; ')
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    if (err.message !== '') return err.message
    return typeof code === 'string' ? code : err.name
  }
  return String(err)
}
