import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { RetentionPolicy } from '../../log/types.js'
import type { HttpDeps } from '../deps.js'
import { ERROR_ANSWERS, intQuery, json, list, NEW_TOPIC_NAME, NO_CONTENT, params, query, ref, TOPIC_NAME } from '../schemas.js'

const DEFAULT_REPLAY_LIMIT = 100

async function requireTopic (deps: HttpDeps, name: string) {
  const topic = await deps.log.getTopic(name)
  if (topic === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${name}' does not exist`, { details: { topic: name } })
  return topic
}

const retentionField = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, 'x-error': { problem: 'must be a non-negative integer (0 = no limit)' } } as const
const RETENTION = {
  type: 'object',
  additionalProperties: false,
  description: 'Unset fields keep the configured retention.',
  properties: {
    maxAgeSeconds: { ...retentionField, description: 'Events older than this are removed; 0 keeps them.' },
    maxBytes: { ...retentionField, description: 'The oldest events are removed while the topic holds more; 0: no limit.' }
  }
} as const

/** `{"retention":{...}}`, optionally inside Event Grid's `properties` wrapper; no body keeps the defaults. */
export const TOPIC_BODY_SCHEMA = {
  type: ['object', 'null'],
  'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
  if: { type: 'object', properties: { properties: true }, required: ['properties'] },
  then: { type: 'object', properties: { properties: { type: 'object', additionalProperties: false, properties: { retention: RETENTION } } } },
  else: { type: ['object', 'null'], additionalProperties: false, properties: { retention: RETENTION } }
} as const

type TopicBody = { retention?: Partial<RetentionPolicy>, properties?: { retention?: Partial<RetentionPolicy> } } | null

const topicParams = params({ topicName: TOPIC_NAME })
type Params = { topicName: string }

export async function topicRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const tags = ['Topics']

  app.get('/topics', {
    schema: { tags, operationId: 'Topics_List', summary: 'List the namespace topics', response: { 200: json('The topics', list(ref('Topic'))), ...ERROR_ANSWERS } }
  }, async () => ({ value: await deps.log.listTopics() }))

  app.put<{ Params: Params, Body: TopicBody }>('/topics/:topicName', {
    schema: {
      tags,
      operationId: 'Topics_CreateOrUpdate',
      summary: 'Create a topic or change its retention',
      params: params({ topicName: NEW_TOPIC_NAME }),
      body: TOPIC_BODY_SCHEMA,
      response: { 200: json('Updated', ref('Topic')), 201: json('Created', ref('Topic')), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const retention = (req.body?.properties ?? req.body)?.retention
    const { topic, created } = await deps.log.createTopic(req.params.topicName, retention)
    return reply.code(created ? 201 : 200).send(topic)
  })

  app.get<{ Params: Params }>('/topics/:topicName', {
    schema: { tags, operationId: 'Topics_Get', summary: 'A topic with its offsets and size', params: topicParams, response: { 200: json('The topic', ref('Topic')), ...ERROR_ANSWERS } }
  }, async (req) => await requireTopic(deps, req.params.topicName))

  app.delete<{ Params: Params }>('/topics/:topicName', {
    schema: { tags, operationId: 'Topics_Delete', summary: 'Delete a topic, its events and its subscriptions', params: topicParams, response: { 204: NO_CONTENT, ...ERROR_ANSWERS } }
  }, async (req, reply) => {
    await requireTopic(deps, req.params.topicName)
    await deps.subscriptions.removeTopic(req.params.topicName)
    await deps.log.deleteTopic(req.params.topicName)
    return reply.code(204).send()
  })

  // Replay: {"value":[{"offset":N,"event":{...}}],"nextOffset":N}. The stored event bytes go
  // into the answer as they are; nothing is parsed or re-serialised.
  app.get<{ Params: Params, Querystring: { fromOffset?: number, fromTime?: string, limit: number } }>('/topics/:topicName/events', {
    schema: {
      tags,
      operationId: 'Topics_ReadEvents',
      summary: 'Replay events from an offset or a time',
      params: topicParams,
      querystring: query({
        fromOffset: intQuery(0, Number.MAX_SAFE_INTEGER, 'The first offset to read (default: the oldest retained event).'),
        fromTime: { type: 'string', format: 'date-time', description: 'Read from the first event the log accepted at or after this time (not with fromOffset).' },
        limit: intQuery(1, deps.config.maxReplayLimit, 'Events in the answer, at most http.maxReplayLimit.', DEFAULT_REPLAY_LIMIT)
      }),
      response: {
        200: json('The events and the offset to read from next', {
          type: 'object',
          required: ['value', 'nextOffset'],
          properties: {
            value: { type: 'array', items: { type: 'object', properties: { offset: { type: 'integer' }, time: { type: 'string', format: 'date-time', description: 'When the log accepted the event' }, event: ref('CloudEvent') } } },
            nextOffset: { type: 'integer' }
          }
        }),
        ...ERROR_ANSWERS
      }
    }
  }, async (req, reply) => {
    const topic = await requireTopic(deps, req.params.topicName)
    const { fromOffset, fromTime, limit } = req.query
    if (fromOffset !== undefined && fromTime !== undefined) {
      throw new GridgateError('QUERY_PARAM_INVALID', "give either 'fromOffset' or 'fromTime', not both", { details: { param: 'fromTime' } })
    }
    const from = fromTime !== undefined ? { time: Date.parse(fromTime) } : { offset: fromOffset ?? topic.firstOffset }
    const { records, nextOffset } = await deps.log.read(topic.name, from, limit)
    const parts: Buffer[] = [Buffer.from('{"value":[')]
    records.forEach((r, i) => {
      parts.push(Buffer.from(`${i === 0 ? '' : ','}{"offset":${r.offset},"time":"${new Date(r.time).toISOString()}","event":`), r.bytes, Buffer.from('}'))
    })
    parts.push(Buffer.from(`],"nextOffset":${nextOffset}}`))
    return reply.type('application/json').send(Buffer.concat(parts))
  })
}
