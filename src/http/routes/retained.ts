import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { ERROR_ANSWERS, intQuery, json, list, NO_CONTENT, params, query } from '../schemas.js'

// The MQTT broker's retained messages, for operators: list them by topic filter, clear one.
// MQTT clients still see and set them under their permissions; these calls need the HTTP key.

const tags = ['MQTT']

const RETAINED_MESSAGE = {
  type: 'object',
  properties: {
    topic: { type: 'string' },
    bytes: { type: 'integer', minimum: 0, description: 'Payload size' },
    qos: { type: 'integer', enum: [0, 1, 2] },
    clientId: { type: ['string', 'null'], description: 'The MQTT client that published it; null for the gateway\'s own ($SYS)' },
    time: { type: ['string', 'null'], format: 'date-time', description: 'When the gateway received it' }
  }
} as const

export async function retainedRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  app.get<{ Querystring: { filter?: string, limit: number } }>('/retained', {
    schema: {
      tags,
      operationId: 'Retained_List',
      summary: 'The retained MQTT messages on topics matching a filter, by topic',
      querystring: query({
        filter: { type: 'string', description: "An MQTT topic filter (default '#'); '$' topics only for a filter that names them ('$SYS/#')" },
        limit: intQuery(1, 10_000, 'Messages in the answer', 1000)
      }),
      response: { 200: json('The retained messages', list(RETAINED_MESSAGE)), ...ERROR_ANSWERS }
    }
  }, async (req) => ({ value: await deps.retained.list(req.query.filter ?? '#', req.query.limit) }))

  // The topic URL-encoded (its '/' as %2F), or with its slashes as they are.
  app.delete<{ Params: { '*': string } }>('/retained/*', {
    schema: {
      tags,
      operationId: 'Retained_Delete',
      summary: 'Clear the retained message on one MQTT topic (nothing is sent to subscribers)',
      params: params({ '*': { type: 'string', description: 'The MQTT topic name, URL-encoded' } }),
      response: { 204: NO_CONTENT, ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const topic = req.params['*']
    const cleared = await deps.retained.clear(topic)
    if (cleared === undefined) throw new GridgateError('RETAINED_NOT_FOUND', `no retained message on '${topic.slice(0, 200)}'`, { details: { topic: topic.slice(0, 200) } })
    return reply.code(204).send()
  })
}
