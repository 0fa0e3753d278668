import type { FastifyError, FastifyReply } from 'fastify'
import { GridgateError, isGridgateError } from '../core/errors.js'

// The single place where an error becomes an HTTP answer: {"error":{"code","message"}}.
// Fastify's own errors are translated to gridgate codes so clients see one vocabulary.

function fromFastify (err: FastifyError, contentType: string | undefined): GridgateError {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return /cloudevents-batch\+json/i.test(contentType ?? '')
        ? new GridgateError('BATCH_TOO_LARGE', 'the request body is larger than the batch limit', { cause: err })
        : new GridgateError('EVENT_TOO_LARGE', 'the request body is larger than the limit', { cause: err })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GridgateError('UNSUPPORTED_MEDIA_TYPE', `content type '${contentType ?? '(none)'}' is not supported here`, { cause: err })
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GridgateError('BODY_INVALID', 'the request body is empty', { cause: err })
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new GridgateError('MALFORMED_JSON', err.message, { cause: err })
  }
  if (err instanceof SyntaxError) return new GridgateError('MALFORMED_JSON', err.message, { cause: err })
  return new GridgateError('INTERNAL', undefined, { cause: err })
}

export function toGridgateError (err: unknown, contentType?: string): GridgateError {
  if (isGridgateError(err)) return err
  return fromFastify(err as FastifyError, contentType)
}

export function sendError (reply: FastifyReply, err: GridgateError): FastifyReply {
  // Event Grid clients retry 503 and honour Retry-After.
  if (err.status === 503 || err.code === 'TOO_MANY_RECEIVES') void reply.header('retry-after', '1')
  return reply.code(err.status).type('application/json').send({ error: { code: err.code, message: err.message } })
}
