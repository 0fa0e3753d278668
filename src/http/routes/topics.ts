import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { RetentionPolicy } from '../../log/types.js'
import type { HttpDeps } from '../deps.js'
import { intParam, timeParam, type Query } from '../query.js'

const DEFAULT_REPLAY_LIMIT = 100

async function requireTopic (deps: HttpDeps, name: string) {
  const topic = await deps.log.getTopic(name)
  if (topic === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${name}' does not exist`, { details: { topic: name } })
  return topic
}

/** `{"retention":{...}}`, optionally inside Event Grid's `properties` wrapper. */
export function parseTopicBody (body: unknown): Partial<RetentionPolicy> | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body !== 'object' || Array.isArray(body)) throw new GridgateError('BODY_INVALID', 'the body must be a JSON object')
  const outer = body as Record<string, unknown>
  const props = (outer.properties ?? outer) as Record<string, unknown>
  if (typeof props !== 'object' || props === null) throw new GridgateError('BODY_INVALID', "'properties' must be an object")
  for (const key of Object.keys(props)) {
    if (key !== 'retention') throw new GridgateError('BODY_INVALID', `unknown field '${key}'`, { details: { field: key } })
  }
  const r = props.retention
  if (r === undefined) return undefined
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new GridgateError('BODY_INVALID', "'retention' must be an object")
  const out: Partial<RetentionPolicy> = {}
  for (const [key, value] of Object.entries(r)) {
    if (key !== 'maxAgeSeconds' && key !== 'maxBytes') throw new GridgateError('BODY_INVALID', `unknown field 'retention.${key}'`, { details: { field: `retention.${key}` } })
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new GridgateError('BODY_INVALID', `'retention.${key}' must be a non-negative integer (0 = no limit)`, { details: { field: `retention.${key}` } })
    }
    out[key] = value
  }
  return out
}

export async function topicRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  app.get('/topics', async () => ({ value: await deps.log.listTopics() }))

  app.put<{ Params: { topic: string } }>('/topics/:topic', async (req, reply) => {
    const { topic, created } = await deps.log.createTopic(req.params.topic, parseTopicBody(req.body))
    return reply.code(created ? 201 : 200).send(topic)
  })

  app.get<{ Params: { topic: string } }>('/topics/:topic', async (req) => await requireTopic(deps, req.params.topic))

  app.delete<{ Params: { topic: string } }>('/topics/:topic', async (req, reply) => {
    await requireTopic(deps, req.params.topic)
    await deps.subscriptions.removeTopic(req.params.topic)
    await deps.log.deleteTopic(req.params.topic)
    return reply.code(204).send()
  })

  // Replay: {"value":[{"offset":N,"event":{...}}],"nextOffset":N}. The stored event bytes go
  // into the answer as they are; nothing is parsed or re-serialised.
  app.get<{ Params: { topic: string }, Querystring: Query }>('/topics/:topic/events', async (req, reply) => {
    const topic = await requireTopic(deps, req.params.topic)
    const fromOffset = intParam(req.query, 'fromOffset', { min: 0, max: Number.MAX_SAFE_INTEGER })
    const fromTime = timeParam(req.query, 'fromTime')
    const limit = intParam(req.query, 'limit', { min: 1, max: deps.config.maxReplayLimit }) ?? DEFAULT_REPLAY_LIMIT
    if (fromOffset !== undefined && fromTime !== undefined) {
      throw new GridgateError('QUERY_PARAM_INVALID', "give either 'fromOffset' or 'fromTime', not both", { details: { param: 'fromTime' } })
    }
    const from = fromTime !== undefined ? { time: fromTime } : { offset: fromOffset ?? topic.firstOffset }
    const { records, nextOffset } = await deps.log.read(topic.name, from, limit)
    const parts: Buffer[] = [Buffer.from('{"value":[')]
    records.forEach((r, i) => {
      parts.push(Buffer.from(`${i === 0 ? '' : ','}{"offset":${r.offset},"time":"${new Date(r.time).toISOString()}","event":`), r.bytes, Buffer.from('}'))
    })
    parts.push(Buffer.from(`],"nextOffset":${nextOffset}}`))
    return reply.type('application/json').send(Buffer.concat(parts))
  })
}
