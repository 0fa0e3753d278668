import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { sendError } from '../reply.js'
import { ERROR_ANSWERS, json, ref } from '../schemas.js'

const OPEN = [] as const // probes need no access key (auth.ts)
const tags = ['Operations']

export async function healthRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  app.get('/healthz', {
    schema: { tags, operationId: 'Health_Live', summary: 'Liveness', security: OPEN, response: { 200: json('The process is up', { type: 'object', properties: { status: { type: 'string', const: 'ok' } } }) } }
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    schema: {
      tags,
      operationId: 'Health_Ready',
      summary: 'Readiness: 503 NOT_READY while starting or stopping, 503 STORAGE_UNAVAILABLE while the storage (Redis) is unreachable',
      security: OPEN,
      response: {
        200: json('Ready', { type: 'object', properties: { status: { type: 'string', const: 'ready' }, engine: { type: 'string', description: 'The storage engine' } } }),
        503: json('Starting or stopping (NOT_READY), or the storage is unreachable (STORAGE_UNAVAILABLE, the message says why)', ref('ErrorResponse'))
      }
    }
  }, async (_req, reply) => {
    if (!deps.health.ready) return sendError(reply, new GridgateError('NOT_READY'))
    const problem = deps.health.storageProblem
    if (problem !== undefined) return sendError(reply, new GridgateError('STORAGE_UNAVAILABLE', `storage unavailable: ${problem}`))
    return reply.send({ status: 'ready', engine: deps.engine })
  })

  app.get('/metrics', {
    schema: { tags, operationId: 'Metrics_Get', summary: 'Prometheus metrics', response: { 200: json('The Prometheus text format', { type: 'string' }, 'text/plain'), ...ERROR_ANSWERS } }
  }, async (_req, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
  })
}
