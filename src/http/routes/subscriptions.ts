import type { FastifyInstance, FastifyReply } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import { parseLockTokens, receive, RELEASE_DELAYS_SECONDS, settle } from '../../delivery/pull.js'
import type { HttpDeps } from '../deps.js'
import { intParam, type Query } from '../query.js'
import { splitAction } from './publish.js'

// Event subscriptions: management in Event Grid's namespace-subscription shape, and the
// pull data plane (`:receive`, `:acknowledge`, `:release`, `:reject`, `:renewLock`) exactly
// as the official Event Grid namespaces client calls it.

const PULL_ACTIONS = new Set(['receive', 'acknowledge', 'release', 'reject', 'renewLock'])

function sendRaw (reply: FastifyReply, parts: Buffer[]): FastifyReply {
  return reply.code(200).type('application/json').send(Buffer.concat(parts))
}

export async function subscriptionRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { subscriptions } = deps
  // Long polls open now, over all subscriptions (http.maxConcurrentReceives).
  let openReceives = 0
  type Params = { topic: string, sub: string }

  app.get<{ Params: { topic: string } }>('/topics/:topic/eventsubscriptions', async (req) => {
    if (await deps.log.getTopic(req.params.topic) === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${req.params.topic}' does not exist`)
    return { value: subscriptions.list(req.params.topic).map(subscriptions.render) }
  })

  app.put<{ Params: Params }>('/topics/:topic/eventsubscriptions/:sub', async (req, reply) => {
    const { subscription, created } = await subscriptions.put(req.params.topic, req.params.sub, req.body)
    return reply.code(created ? 201 : 200).send(subscription)
  })

  app.get<{ Params: Params }>('/topics/:topic/eventsubscriptions/:sub', async (req) => {
    return subscriptions.render(await subscriptions.get(req.params.topic, req.params.sub))
  })

  app.delete<{ Params: Params }>('/topics/:topic/eventsubscriptions/:sub', async (req, reply) => {
    await subscriptions.get(req.params.topic, req.params.sub)
    await subscriptions.remove(req.params.topic, req.params.sub)
    return reply.code(204).send()
  })

  app.get<{ Params: Params }>('/topics/:topic/eventsubscriptions/:sub/status', async (req) => {
    const sub = await subscriptions.get(req.params.topic, req.params.sub)
    const topic = await deps.log.getTopic(sub.topic)
    const stats = sub.queue.stats()
    return {
      name: sub.name,
      topic: sub.topic,
      deliveryMode: sub.spec.mode,
      cursor: sub.queue.cursor,
      // Events not yet looked at (before filtering) plus those waiting for another attempt.
      backlog: Math.max(0, (topic?.nextOffset ?? 0) - sub.queue.cursor) + stats.waiting,
      inFlight: stats.locked,
      delivered: sub.queue.counters.delivered,
      failed: sub.queue.counters.failed,
      deadLettered: stats.deadLettered,
      lastError: sub.queue.counters.lastError ?? null,
      validationState: sub.spec.mode === 'Push' ? 'Validated' : 'NotApplicable'
    }
  })

  app.get<{ Params: Params, Querystring: Query }>('/topics/:topic/eventsubscriptions/:sub/deadletters', async (req) => {
    const sub = await subscriptions.get(req.params.topic, req.params.sub)
    const limit = intParam(req.query, 'limit', { min: 1, max: 1000 }) ?? 100
    const value = (await sub.queue.deadLetters(limit)).map((d) => {
      const event = JSON.parse(d.event) as unknown
      return {
        offset: d.offset,
        event,
        deadLetterReason: d.deadLetterReason,
        deliveryAttempts: d.deliveryAttempts,
        lastHttpStatusCode: d.lastHttpStatusCode ?? null,
        lastError: d.lastError ?? null,
        deadLetteredAt: d.deadLetteredAt,
        // Event Grid's dead-letter record properties.
        deadletterProperties: {
          deadletterreason: d.deadLetterReason,
          deliveryattempts: d.deliveryAttempts,
          deliveryresult: d.lastHttpStatusCode !== undefined ? `HTTP ${d.lastHttpStatusCode}` : d.lastError ?? d.deadLetterReason,
          publishutc: d.publishedAt,
          deliveryattemptutc: d.deadLetteredAt
        }
      }
    })
    return { value }
  })

  // POST .../{sub}:action (pull) and POST .../{sub}/deadletters:redeliver
  app.post<{ Params: { topic: string, subAction: string }, Querystring: Query }>('/topics/:topic/eventsubscriptions/:subAction', async (req, reply) => {
    const target = splitAction(req.params.subAction)
    if (target === undefined || !PULL_ACTIONS.has(target.action)) {
      throw new GridgateError('NOT_FOUND', `no such action: POST /topics/${req.params.topic}/eventsubscriptions/${req.params.subAction}`)
    }
    const sub = await subscriptions.get(req.params.topic, target.name)
    if (target.action === 'receive') {
      const maxEvents = intParam(req.query, 'maxEvents', { min: 1, max: 100 }) ?? 1
      const maxWaitTime = intParam(req.query, 'maxWaitTime', { min: 10, max: 120 }) ?? 60
      if (openReceives >= deps.config.maxConcurrentReceives) {
        throw new GridgateError('TOO_MANY_RECEIVES', `${deps.config.maxConcurrentReceives} receive calls are already waiting (http.maxConcurrentReceives); retry later`)
      }
      openReceives++
      let got: Awaited<ReturnType<typeof receive>>
      try {
        got = await receive(sub, deps.log, deps.clock, maxEvents, maxWaitTime * 1000, () => req.raw.destroyed)
      } finally {
        openReceives--
      }
      const parts: Buffer[] = [Buffer.from('{"value":[')]
      got.forEach((d, i) => {
        parts.push(Buffer.from(`${i === 0 ? '' : ','}{"brokerProperties":{"lockToken":${JSON.stringify(d.lockToken)},"deliveryCount":${d.deliveryCount}},"event":`), d.bytes, Buffer.from('}'))
      })
      parts.push(Buffer.from(']}'))
      return sendRaw(reply, parts)
    }
    const tokens = parseLockTokens(req.body)
    let delay = 0
    if (target.action === 'release') {
      delay = intParam(req.query, 'releaseDelayInSeconds', { min: 0, max: 3600 }) ?? 0
      if (!(RELEASE_DELAYS_SECONDS as readonly number[]).includes(delay)) {
        throw new GridgateError('QUERY_PARAM_INVALID', `query parameter 'releaseDelayInSeconds' must be one of ${RELEASE_DELAYS_SECONDS.join(', ')}`, { details: { param: 'releaseDelayInSeconds' } })
      }
    }
    return reply.code(200).send(await settle(sub, target.action as 'acknowledge' | 'release' | 'reject' | 'renewLock', tokens, delay))
  })

  app.post<{ Params: Params & { deadAction: string } }>('/topics/:topic/eventsubscriptions/:sub/:deadAction', async (req) => {
    if (req.params.deadAction !== 'deadletters:redeliver') {
      throw new GridgateError('NOT_FOUND', `no such action: ${req.params.deadAction}`)
    }
    const sub = await subscriptions.get(req.params.topic, req.params.sub)
    const offsets = (req.body as { offsets?: unknown } | undefined)?.offsets
    if (offsets !== undefined && (!Array.isArray(offsets) || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))) {
      throw new GridgateError('BODY_INVALID', "'offsets' must be an array of event offsets (omit it to redeliver all)", { details: { field: 'offsets' } })
    }
    return { redelivered: await sub.queue.redeliver(offsets as number[] | undefined) }
  })
}
