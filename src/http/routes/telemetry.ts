import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import { AGGREGATE_NAMES } from '../../telemetry/aggregate.js'
import { WINDOW_BODY_SCHEMA } from '../../telemetry/window-spec.js'
import type { HttpDeps } from '../deps.js'
import { DEVICE_ID, ERROR_ANSWERS, json, list, NEW_WINDOW_NAME, NO_CONTENT, params, query, ref } from '../schemas.js'

// Continuous windows (PUT/GET/DELETE /windows/{name}) and rollup queries (GET /telemetry/...).

/** The PUT body: a definition, which may be one GET answered (its name and createdAt are the gateway's). */
const WINDOW_PUT_SCHEMA = {
  ...WINDOW_BODY_SCHEMA,
  properties: {
    ...WINDOW_BODY_SCHEMA.properties,
    name: { type: 'string', description: "Ignored when it is the URL's name (a definition as GET shows it may be PUT back)." },
    createdAt: { type: 'string', description: 'Ignored (set by the gateway).' }
  }
} as const

const TIME = 'An RFC 3339 date-time or epoch milliseconds'
const DURATION = { type: 'string', pattern: '^\\d{1,16}[smhd]?$', 'x-error': { problem: "must be a whole number of seconds, optionally with a unit s, m, h or d (60, 90s, 5m, 1h, 1d), not '{value}'" } } as const

/**
 * The shape of each parameter; which apply to which window kind, the range and the limits are
 * checked by the query (telemetry/query.ts), in the same `param: problem` words.
 */
const TELEMETRY_QUERY = query({
  from: { type: 'string', description: `${TIME}; default: an hour before to.` },
  to: { type: 'string', description: `${TIME}; default: now.` },
  window: { type: 'string', enum: ['tumbling', 'hopping', 'sliding', 'session'], default: 'tumbling', 'x-error': { problem: "must be one of tumbling, hopping, sliding, session, not '{value}'" } },
  size: { ...DURATION, description: 'Window size (tumbling: default 60 s; hopping and sliding: required).' },
  hop: { ...DURATION, description: 'Hopping windows: how far each starts after the previous one, at most size.' },
  offset: { ...DURATION, description: 'Tumbling and hopping windows: shifts the grid; less than size (hop).' },
  gap: { ...DURATION, description: 'Session windows: the timeout (required).' },
  maxDuration: { ...DURATION, description: 'Session windows: the longest session.' },
  agg: { type: 'string', description: `Comma-separated aggregates (count is always there): ${AGGREGATE_NAMES.join(', ')}; default count,min,max,avg.` }
}, { additionalProperties: false, 'x-error': { style: 'field' } })

export async function telemetryRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const t = deps.telemetry
  const windows = ['Telemetry windows']
  const queries = ['Telemetry']
  const windowParams = params({ name: { type: 'string', description: 'The continuous window' } })

  app.get('/windows', {
    schema: { tags: windows, operationId: 'Windows_List', summary: 'The continuous windows', response: { 200: json('The windows', list(ref('Window'))), ...ERROR_ANSWERS } }
  }, async () => ({ value: await t.listWindows() }))

  app.put<{ Params: { name: string } }>('/windows/:name', {
    schema: {
      tags: windows,
      operationId: 'Windows_CreateOrUpdate',
      summary: 'Define a continuous window; a changed definition starts over with empty state',
      params: params({ name: NEW_WINDOW_NAME }),
      body: WINDOW_PUT_SCHEMA,
      response: { 200: json('Unchanged or updated', ref('Window')), 201: json('Created', ref('Window')), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const { window, created } = await t.putWindow(req.params.name, req.body)
    return reply.code(created ? 201 : 200).send(window)
  })

  app.get<{ Params: { name: string } }>('/windows/:name', {
    schema: { tags: windows, operationId: 'Windows_Get', summary: 'A continuous window', params: windowParams, response: { 200: json('The window', ref('Window')), ...ERROR_ANSWERS } }
  }, async (req) => await t.getWindow(req.params.name))

  app.delete<{ Params: { name: string } }>('/windows/:name', {
    schema: { tags: windows, operationId: 'Windows_Delete', summary: 'Delete a continuous window', params: windowParams, response: { 204: NO_CONTENT, ...ERROR_ANSWERS } }
  }, async (req, reply) => {
    await t.deleteWindow(req.params.name)
    return reply.code(204).send()
  })

  app.get<{ Params: { deviceId: string } }>('/telemetry/:deviceId', {
    schema: {
      tags: queries,
      operationId: 'Telemetry_ListMetrics',
      summary: "A device's metrics with their newest reading",
      params: params({ deviceId: DEVICE_ID }),
      response: {
        200: json('The metrics', {
          type: 'object',
          properties: {
            deviceId: { type: 'string' },
            value: { type: 'array', items: { type: 'object', properties: { metric: { type: 'string' }, lastValue: { type: 'number' }, lastTime: { type: 'string', format: 'date-time' } } } }
          }
        }),
        ...ERROR_ANSWERS
      }
    }
  }, async (req) => {
    const metrics = await t.metricsOf(req.params.deviceId)
    if (metrics.length === 0 && await deps.registry.get(req.params.deviceId) === undefined) {
      throw new GridgateError('DEVICE_NOT_FOUND', `device '${req.params.deviceId}' does not exist and has sent no telemetry`, { details: { device: req.params.deviceId } })
    }
    return {
      deviceId: req.params.deviceId,
      value: metrics.map((m) => ({ metric: m.metric, lastValue: m.lastValue, lastTime: new Date(m.lastTime).toISOString() }))
    }
  })

  app.get<{ Params: { deviceId: string, metric: string }, Querystring: Record<string, string | undefined> }>('/telemetry/:deviceId/:metric', {
    schema: {
      tags: queries,
      operationId: 'Telemetry_Query',
      summary: 'A windowed series of one metric, computed from per-second rollups',
      params: params({ deviceId: DEVICE_ID, metric: { type: 'string', description: 'The metric name (a dot path)' } }),
      querystring: TELEMETRY_QUERY,
      response: {
        200: json('One entry per window holding readings, oldest first', {
          type: 'object',
          properties: {
            series: { type: 'array', items: { type: 'object', properties: { start: { type: 'string', format: 'date-time' }, end: { type: 'string', format: 'date-time' }, count: { type: 'integer' } }, additionalProperties: { type: ['number', 'null'] } } }
          }
        }),
        ...ERROR_ANSWERS
      }
    }
  }, async (req) => {
    const { 'api-version': _apiVersion, ...params } = req.query
    return await t.query(req.params.deviceId, req.params.metric, params)
  })
}
