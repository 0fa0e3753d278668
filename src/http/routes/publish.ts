import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import { decodePublish } from '../cloudevents-binding.js'
import type { HttpDeps } from '../deps.js'

// POST /topics/{topic}:publish — the Event Grid namespace publish call. The ':' action
// suffix cannot be expressed as a separate route next to /topics/:topic, so the segment
// is split here (names arrive percent-decoded).

export function splitAction (segment: string): { name: string, action: string } | undefined {
  const i = segment.lastIndexOf(':')
  if (i <= 0) return undefined
  return { name: segment.slice(0, i), action: segment.slice(i + 1) }
}

export async function publishRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  // The raw body: the binding decides how to read it (structured, batch or binary mode).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.config.maxBatchBytes }, (_req, body, done) => { done(null, body) })

  app.post<{ Params: { topicAction: string } }>('/topics/:topicAction', async (req, reply) => {
    const target = splitAction(req.params.topicAction)
    if (target === undefined || target.action !== 'publish') {
      throw new GridgateError('NOT_FOUND', `no such action: POST /topics/${req.params.topicAction}`)
    }
    if (await deps.log.getTopic(target.name) === undefined) {
      throw new GridgateError('TOPIC_NOT_FOUND', `topic '${target.name}' does not exist`, { details: { topic: target.name } })
    }
    const events = decodePublish(req.headers, req.body as Buffer | undefined, deps.config)
    await deps.log.append(target.name, events.map((e) => e.bytes))
    // Event Grid: success is 200 with an empty object, nothing else.
    return reply.code(200).type('application/json').send('{}')
  })
}
