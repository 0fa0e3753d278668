import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import { compileFilters, FILTERS_CONFIGURATION_SCHEMA } from '../../core/filters.js'
import { dryRunFilters } from '../../log/dry-run.js'
import type { DeduplicationPolicy, RetentionPolicy, TopicInfo } from '../../log/types.js'
import type { TopicSchemas } from '../../schemas/store.js'
import type { HttpDeps } from '../deps.js'
import { ERROR_ANSWERS, intQuery, json, list, NEW_TOPIC_NAME, NO_CONTENT, params, query, ref, TOPIC_NAME } from '../schemas.js'
import { TOPIC_SCHEMAS } from './schemas.js'

const DEFAULT_REPLAY_LIMIT = 100
/** A dry run reads at most this many events; the answer says where it stopped. */
export const DRY_RUN_MAX_SCAN = 100_000

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

// The index holds every key of one window in memory, so the window is bounded (a week).
const DEDUPLICATION = {
  type: 'object',
  additionalProperties: false,
  required: ['windowSeconds'],
  description: 'Idempotent publish: an event whose (source, id) the topic took less than `windowSeconds` before is acknowledged (200, PUBACK) and not appended again. 0 turns it off; unset keeps what the topic has (off for a new topic).',
  properties: {
    windowSeconds: { type: 'integer', minimum: 0, maximum: 604_800, 'x-error': { problem: 'must be an integer from 0 to 604800 (seconds; 0 = off)' } }
  }
} as const

/** `{"retention":{...},"deduplication":{...},"schemas":{...}}`, optionally inside Event Grid's `properties` wrapper; no body keeps the defaults. */
export const TOPIC_BODY_SCHEMA = {
  type: ['object', 'null'],
  'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
  if: { type: 'object', properties: { properties: true }, required: ['properties'] },
  then: { type: 'object', properties: { properties: { type: 'object', additionalProperties: false, properties: { retention: RETENTION, deduplication: DEDUPLICATION, schemas: TOPIC_SCHEMAS } } } },
  else: { type: ['object', 'null'], additionalProperties: false, properties: { retention: RETENTION, deduplication: DEDUPLICATION, schemas: TOPIC_SCHEMAS } }
} as const

type TopicFields = { retention?: Partial<RetentionPolicy>, deduplication?: DeduplicationPolicy, schemas?: TopicSchemas }
type TopicBody = (TopicFields & { properties?: TopicFields }) | null

/** The topic with the schemas its event types are bound to, when it has any. */
async function withSchemas (deps: HttpDeps, topic: TopicInfo): Promise<TopicInfo & { schemas?: TopicSchemas }> {
  const schemas = await deps.schemas.topicSchemas(topic.name)
  return schemas === undefined ? topic : { ...topic, schemas }
}

const DRY_RUN_BODY = {
  type: 'object',
  additionalProperties: false,
  'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
  properties: {
    filtersConfiguration: FILTERS_CONFIGURATION_SCHEMA,
    fromOffset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'The first offset to scan (default: the oldest retained event)' },
    fromTime: { type: 'string', format: 'date-time', description: 'Scan from the first event the log accepted at or after this time (not with fromOffset)' },
    limit: { type: 'integer', minimum: 0, maximum: 1000, default: 100, description: 'Matching events in `value` (all are counted in `matched`)' }
  }
} as const

const topicParams = params({ topicName: TOPIC_NAME })
type Params = { topicName: string }

export async function topicRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const tags = ['Topics']

  app.get('/topics', {
    schema: { tags, operationId: 'Topics_List', summary: 'List the namespace topics', response: { 200: json('The topics', list(ref('Topic'))), ...ERROR_ANSWERS } }
  }, async () => ({ value: await Promise.all((await deps.log.listTopics()).map(async (t) => await withSchemas(deps, t))) }))

  app.put<{ Params: Params, Body: TopicBody }>('/topics/:topicName', {
    schema: {
      tags,
      operationId: 'Topics_CreateOrUpdate',
      summary: 'Create a topic or change its retention and deduplication',
      params: params({ topicName: NEW_TOPIC_NAME }),
      body: TOPIC_BODY_SCHEMA,
      response: { 200: json('Updated', ref('Topic')), 201: json('Created', ref('Topic')), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const fields = req.body?.properties ?? req.body
    // Checked (every subject and version must exist) and stored before the topic is created.
    if (fields?.schemas !== undefined) await deps.schemas.setTopicSchemas(req.params.topicName, fields.schemas)
    const { topic, created } = await deps.log.createTopic(req.params.topicName, fields?.retention, fields?.deduplication)
    return reply.code(created ? 201 : 200).send(await withSchemas(deps, topic))
  })

  app.get<{ Params: Params }>('/topics/:topicName', {
    schema: { tags, operationId: 'Topics_Get', summary: 'A topic with its offsets and size', params: topicParams, response: { 200: json('The topic', ref('Topic')), ...ERROR_ANSWERS } }
  }, async (req) => await withSchemas(deps, await requireTopic(deps, req.params.topicName)))

  app.delete<{ Params: Params }>('/topics/:topicName', {
    schema: { tags, operationId: 'Topics_Delete', summary: 'Delete a topic, its events and its subscriptions', params: topicParams, response: { 204: NO_CONTENT, ...ERROR_ANSWERS } }
  }, async (req, reply) => {
    await requireTopic(deps, req.params.topicName)
    await deps.subscriptions.removeTopic(req.params.topicName)
    await deps.log.deleteTopic(req.params.topicName)
    await deps.schemas.setTopicSchemas(req.params.topicName, {})
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

  // A dry run of a subscription's filters over the topic's history (README "Dry runs").
  app.post<{ Params: Params, Body: { filtersConfiguration?: unknown, fromOffset?: number, fromTime?: string, limit: number } }>('/topics/:topicName/events::match', {
    schema: {
      tags,
      operationId: 'Topics_MatchEvents',
      summary: 'Which events a subscription with these filters would have delivered',
      description: `Scans from \`fromOffset\` or \`fromTime\` (default: the oldest retained event) to where the topic ended when the call began, at most ${DRY_RUN_MAX_SCAN.toLocaleString('en-US')} events; counts the matches and returns the first \`limit\`. \`nextOffset\` is where the scan stopped, \`complete\` whether it reached the end.`,
      params: topicParams,
      body: DRY_RUN_BODY,
      response: {
        200: json('What the filters would have delivered', {
          type: 'object',
          required: ['matched', 'scanned', 'value', 'nextOffset', 'complete'],
          properties: {
            matched: { type: 'integer', description: 'Events that pass the filters among those scanned' },
            scanned: { type: 'integer', description: `Events read (at most ${DRY_RUN_MAX_SCAN})` },
            value: { type: 'array', items: { type: 'object', properties: { offset: { type: 'integer' }, time: { type: 'string', format: 'date-time' }, event: ref('CloudEvent') } } },
            nextOffset: { type: 'integer', description: 'The first offset not scanned' },
            complete: { type: 'boolean', description: 'Whether the scan reached the end of the topic' }
          }
        }),
        ...ERROR_ANSWERS
      }
    }
  }, async (req, reply) => {
    const topic = await requireTopic(deps, req.params.topicName)
    const { filtersConfiguration, fromOffset, fromTime, limit } = req.body
    if (fromOffset !== undefined && fromTime !== undefined) {
      throw new GridgateError('BODY_INVALID', "give either 'fromOffset' or 'fromTime', not both", { details: { field: 'fromTime' } })
    }
    // The same compiled matcher a subscription gets; its errors name the field as on a PUT.
    const matcher = compileFilters(filtersConfiguration, 'filtersConfiguration')
    const from = fromTime !== undefined ? { time: Date.parse(fromTime) } : { offset: Math.max(fromOffset ?? topic.firstOffset, topic.firstOffset) }
    const run = await dryRunFilters(deps.log, topic.name, topic.nextOffset, matcher, { from, limit, maxScan: DRY_RUN_MAX_SCAN })
    const parts: Buffer[] = [Buffer.from(`{"matched":${run.matched},"scanned":${run.scanned},"value":[`)]
    run.value.forEach((r, i) => {
      parts.push(Buffer.from(`${i === 0 ? '' : ','}{"offset":${r.offset},"time":"${new Date(r.time).toISOString()}","event":`), r.bytes, Buffer.from('}'))
    })
    parts.push(Buffer.from(`],"nextOffset":${run.nextOffset},"complete":${run.complete}}`))
    return reply.type('application/json').send(Buffer.concat(parts))
  })
}
