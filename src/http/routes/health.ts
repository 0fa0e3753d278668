import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { sendError } from '../reply.js'

export async function healthRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_req, reply) => {
    return deps.health.ready
      ? reply.send({ status: 'ready', engine: deps.engine })
      : sendError(reply, new GridgateError('NOT_READY'))
  })
  app.get('/metrics', async (_req, reply) => {
    return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics())
  })
}
