import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { singleParams, type Query } from '../query.js'

// Continuous windows (PUT/GET/DELETE /windows/{name}) and rollup queries (GET /telemetry/...).

export async function telemetryRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const t = deps.telemetry

  app.get('/windows', async () => ({ value: t.listWindows() }))

  app.put<{ Params: { name: string } }>('/windows/:name', async (req, reply) => {
    const { window, created } = await t.putWindow(req.params.name, req.body)
    return reply.code(created ? 201 : 200).send(window)
  })

  app.get<{ Params: { name: string } }>('/windows/:name', async (req) => t.getWindow(req.params.name))

  app.delete<{ Params: { name: string } }>('/windows/:name', async (req, reply) => {
    await t.deleteWindow(req.params.name)
    return reply.code(204).send()
  })

  app.get<{ Params: { deviceId: string } }>('/telemetry/:deviceId', async (req) => {
    const metrics = await t.metricsOf(req.params.deviceId)
    if (metrics.length === 0 && deps.registry.get(req.params.deviceId) === undefined) {
      throw new GridgateError('DEVICE_NOT_FOUND', `device '${req.params.deviceId}' does not exist and has sent no telemetry`, { details: { device: req.params.deviceId } })
    }
    return {
      deviceId: req.params.deviceId,
      value: metrics.map((m) => ({ metric: m.metric, lastValue: m.lastValue, lastTime: new Date(m.lastTime).toISOString() }))
    }
  })

  app.get<{ Params: { deviceId: string, metric: string } }>('/telemetry/:deviceId/:metric', async (req) => {
    return await t.query(req.params.deviceId, req.params.metric, singleParams(req.query as Query))
  })
}
