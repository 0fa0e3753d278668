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
      summary: 'Readiness: 503 NOT_READY while starting or stopping',
      security: OPEN,
      response: {
        200: json('Ready', { type: 'object', properties: { status: { type: 'string', const: 'ready' }, engine: { type: 'string', description: 'The storage engine' } } }),
        503: json('Starting or stopping', ref('ErrorResponse'))
      }
    }
  }, async (_req, reply) => {
    return deps.health.ready
      ? reply.send({ status: 'ready', engine: deps.engine })
      : sendError(reply, new GridgateError('NOT_READY'))
  })

  app.get('/metrics', {
    schema: { tags, operationId: 'Metrics_Get', summary: 'Prometheus metrics', response: { 200: json('The Prometheus text format', { type: 'string' }, 'text/plain'), ...ERROR_ANSWERS } }
  }, async (_req, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
  })
}
