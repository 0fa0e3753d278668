import type { FastifyInstance, FastifySchema, FastifySchemaCompiler } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import { dedupeKey } from '../../log/dedupe.js'
import { decodePublish } from '../cloudevents-binding.js'
import type { HttpDeps } from '../deps.js'
import { ERROR_ANSWERS, json, params, query, ref, TOPIC_NAME } from '../schemas.js'
import { describedBodyCompiler } from '../validation.js'

// POST /topics/{topicName}:publish — the Event Grid namespace publish call (Event Grid's
// PublishCloudEvent and PublishCloudEvents). The action is part of the last path segment:
// fastify writes a literal ':' as '::', and the name is held to the characters before it
// ([^:]+), names arriving percent-decoded.

export async function publishRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  // The raw body: the binding decides how to read it (structured, batch or binary mode).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.config.maxBatchBytes }, (_req, body, done) => { done(null, body) })

  app.post<{ Params: { topicName: string } }>('/topics/:topicName([^:]+)::publish', {
    // The CloudEvents HTTP binding reads and checks the body (http/cloudevents-binding.ts):
    // three modes, raw bytes, and every event of a batch checked before any is appended.
    validatorCompiler: describedBodyCompiler as FastifySchemaCompiler<FastifySchema>,
    schema: {
      tags: ['Event Grid data plane'],
      operationId: 'EventGridClient_PublishCloudEvents',
      summary: 'Publish one CloudEvent or a batch',
      description: 'Structured mode (one event, `application/cloudevents+json`), batched mode (a JSON array, `application/cloudevents-batch+json`), or binary mode (`ce-*` headers, the body is `data`, any content type). The whole batch is checked first, then all or none is appended; the answer comes once the events are durable. On a topic with deduplication, an event whose (source, id) the topic took within its window, or that an earlier event of the batch has, is acknowledged the same way and not appended again.',
      params: params({ topicName: TOPIC_NAME }),
      querystring: query({}),
      body: {
        content: {
          'application/cloudevents+json': { schema: ref('CloudEvent') },
          'application/cloudevents-batch+json': { schema: { type: 'array', items: ref('CloudEvent'), maxItems: deps.config.maxBatchEvents } },
          'application/octet-stream': { schema: { description: 'Binary mode: the event data, with its attributes in ce-* headers (any content type).' } }
        }
      },
      response: { 200: json('Appended: Event Grid answers exactly `{}`', { type: 'object', additionalProperties: false }), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const topic = req.params.topicName
    if (await deps.log.getTopic(topic) === undefined) {
      throw new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })
    }
    const events = decodePublish(req.headers, req.body as Buffer | undefined, deps.config)
    // Event types the topic binds to a schema subject: their data must match it (all or none).
    await deps.schemas.validateEvents(topic, events.map((e) => e.event))
    // The keys come from the events parsed above, so the log parses nothing again. A duplicate
    // (the topic deduplicates) is a success too: the publisher's retry finds its event there.
    await deps.log.append(topic, events.map((e) => e.bytes), events.map((e) => dedupeKey(e.event.source, e.event.id)))
    // Event Grid: success is 200 with an empty object, nothing else.
    return reply.code(200).type('application/json').send('{}')
  })
}
