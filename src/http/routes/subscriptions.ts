import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import { receive, RELEASE_DELAYS_SECONDS, settle } from '../../delivery/pull.js'
import { SUBSCRIPTION_BODY_SCHEMA } from '../../delivery/subscription-spec.js'
import type { HttpDeps } from '../deps.js'
import { localOrForward, type ForwardDeps } from '../forward.js'
import { ERROR_ANSWERS, intQuery, json, list, NEW_SUBSCRIPTION_NAME, NO_CONTENT, params, query, ref, SUBSCRIPTION_NAME, TOPIC_NAME } from '../schemas.js'

// Event subscriptions: management in Event Grid's namespace-subscription shape, and the
// pull data plane (`:receive`, `:acknowledge`, `:release`, `:reject`, `:renewLock`) exactly
// as the official Event Grid namespaces client calls it. Actions end the last path segment:
// fastify writes the literal ':' as '::', and the name before it is held to [^:]+.

const DATA_PLANE = ['Event Grid data plane']
const MANAGEMENT = ['Event subscriptions']

const subParams = params({ topicName: TOPIC_NAME, eventSubscriptionName: SUBSCRIPTION_NAME })
type Params = { topicName: string, eventSubscriptionName: string }

/** `{"lockTokens":[...]}`: at least one, at most 1000. */
const LOCK_TOKENS_BODY = {
  type: 'object',
  'x-error': { code: 'BODY_INVALID', message: 'the body must be {"lockTokens":[...]} with 1 to 1000 lock tokens' },
  required: ['lockTokens'],
  properties: {
    lockTokens: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', description: 'A lock token from :receive' } }
  }
} as const

const RECEIVE_RESULT = {
  type: 'object',
  required: ['value'],
  properties: {
    value: {
      type: 'array',
      items: {
        type: 'object',
        required: ['brokerProperties', 'event'],
        properties: {
          brokerProperties: { type: 'object', required: ['lockToken', 'deliveryCount'], properties: { lockToken: { type: 'string' }, deliveryCount: { type: 'integer', minimum: 1 } } },
          event: ref('CloudEvent')
        }
      }
    }
  }
} as const

const SETTLE = {
  acknowledge: { operationId: 'EventGridClient_AcknowledgeCloudEvents', summary: 'Acknowledge received events: they are done' },
  release: { operationId: 'EventGridClient_ReleaseCloudEvents', summary: 'Release received events: they can be received again (after releaseDelayInSeconds)' },
  reject: { operationId: 'EventGridClient_RejectCloudEvents', summary: 'Reject received events: they are dead-lettered' },
  renewLock: { operationId: 'EventGridClient_RenewCloudEventLocks', summary: 'Renew the locks of received events' }
} as const

function sendRaw (reply: FastifyReply, parts: Buffer[]): FastifyReply {
  return reply.code(200).type('application/json').send(Buffer.concat(parts))
}

export async function subscriptionRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { subscriptions } = deps
  // On a cluster, calls on a queue go to the node that delivers the subscription (forward.ts).
  const fwd: ForwardDeps = { subscriptions, nodes: deps.nodes, clock: deps.clock, waitMs: deps.subscriptionCluster?.ownerWaitMs ?? 0 }
  const owned = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) =>
    await localOrForward(fwd, req, reply, req.params.topicName, req.params.eventSubscriptionName)
  // Long polls open now, over all subscriptions (http.maxConcurrentReceives).
  let openReceives = 0

  app.get<{ Params: { topicName: string } }>('/topics/:topicName/eventsubscriptions', {
    schema: { tags: MANAGEMENT, operationId: 'EventSubscriptions_ListByTopic', summary: "A topic's event subscriptions", params: params({ topicName: TOPIC_NAME }), response: { 200: json('The subscriptions', list(ref('EventSubscription'))), ...ERROR_ANSWERS } }
  }, async (req) => {
    if (await deps.log.getTopic(req.params.topicName) === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${req.params.topicName}' does not exist`)
    return { value: (await subscriptions.definitions(req.params.topicName)).map(subscriptions.render) }
  })

  app.put<{ Params: Params }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName', {
    schema: {
      tags: MANAGEMENT,
      operationId: 'EventSubscriptions_CreateOrUpdate',
      summary: 'Create or update an event subscription',
      description: 'A push endpoint must consent in the CloudEvents webhook validation handshake first. An update keeps the position and the events in flight.',
      params: params({ topicName: TOPIC_NAME, eventSubscriptionName: NEW_SUBSCRIPTION_NAME }),
      body: SUBSCRIPTION_BODY_SCHEMA,
      response: { 200: json('Updated', ref('EventSubscription')), 201: json('Created', ref('EventSubscription')), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const { subscription, created } = await subscriptions.put(req.params.topicName, req.params.eventSubscriptionName, req.body)
    return reply.code(created ? 201 : 200).send(subscription)
  })

  app.get<{ Params: Params }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName', {
    schema: { tags: MANAGEMENT, operationId: 'EventSubscriptions_Get', summary: 'An event subscription', params: subParams, response: { 200: json('The subscription', ref('EventSubscription')), ...ERROR_ANSWERS } }
  }, async (req) => {
    return subscriptions.render(await subscriptions.definition(req.params.topicName, req.params.eventSubscriptionName))
  })

  app.delete<{ Params: Params }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName', {
    schema: { tags: MANAGEMENT, operationId: 'EventSubscriptions_Delete', summary: 'Delete an event subscription and its state', params: subParams, response: { 204: NO_CONTENT, ...ERROR_ANSWERS } }
  }, async (req, reply) => {
    await subscriptions.definition(req.params.topicName, req.params.eventSubscriptionName)
    await subscriptions.remove(req.params.topicName, req.params.eventSubscriptionName)
    return reply.code(204).send()
  })

  app.get<{ Params: Params }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName/status', {
    schema: {
      tags: MANAGEMENT,
      operationId: 'EventSubscriptions_GetStatus',
      summary: 'Backlog, events in flight, delivered, failed and dead-lettered',
      params: subParams,
      response: {
        200: json('The delivery state', {
          type: 'object',
          properties: {
            name: { type: 'string' },
            topic: { type: 'string' },
            deliveryMode: { type: 'string', enum: ['Queue', 'Push'] },
            cursor: { type: 'integer' },
            backlog: { type: 'integer' },
            inFlight: { type: 'integer' },
            delivered: { type: 'integer', description: 'Events acknowledged (pull) or delivered (push): since the gateway started; on a cluster, by every node since the subscription was created' },
            failed: { type: 'integer', description: 'Failed push attempts, counted as delivered is' },
            deadLettered: { type: 'integer', description: 'Dead letters kept now' },
            lastError: { type: ['string', 'null'], description: 'The last failed attempt, counted as delivered is' },
            validationState: { type: 'string', enum: ['Validated', 'NotApplicable'] },
            node: { type: 'string', description: 'On a cluster: the node that delivers the subscription' }
          }
        }),
        ...ERROR_ANSWERS
      }
    }
  }, async (req, reply) => {
    const sub = await owned(req, reply)
    if (sub === undefined) return reply
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
      validationState: sub.spec.mode === 'Push' ? 'Validated' : 'NotApplicable',
      ...(deps.subscriptionCluster === undefined ? {} : { node: deps.nodes.id })
    }
  })

  app.get<{ Params: Params, Querystring: { limit: number } }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName/deadletters', {
    schema: {
      tags: MANAGEMENT,
      operationId: 'EventSubscriptions_ListDeadLetters',
      summary: 'Dead-lettered events with the reason',
      params: subParams,
      querystring: query({ limit: intQuery(1, 1000, 'Dead letters in the answer.', 100) }),
      response: {
        200: json('The dead letters, oldest first', list({
          type: 'object',
          properties: {
            offset: { type: 'integer' },
            event: ref('CloudEvent'),
            deadLetterReason: { type: 'string' },
            deliveryAttempts: { type: 'integer' },
            lastHttpStatusCode: { type: ['integer', 'null'] },
            lastError: { type: ['string', 'null'] },
            deadLetteredAt: { type: 'string', format: 'date-time' },
            deadletterProperties: { type: 'object', description: "Event Grid's dead-letter record properties" }
          }
        })),
        ...ERROR_ANSWERS
      }
    }
  }, async (req, reply) => {
    const sub = await owned(req, reply)
    if (sub === undefined) return reply
    const value = (await sub.queue.deadLetters(req.query.limit)).map((d) => {
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

  app.post<{ Params: Params, Querystring: { maxEvents: number, maxWaitTime: number } }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName([^:]+)::receive', {
    schema: {
      tags: DATA_PLANE,
      operationId: 'EventGridClient_ReceiveCloudEvents',
      summary: 'Receive events (long poll), each locked for the subscription\'s lock duration',
      description: `Answers as soon as an event is there, or with an empty list when maxWaitTime passes. At most http.maxConcurrentReceives (${deps.config.maxConcurrentReceives}) receives wait at once; more get 429 TOO_MANY_RECEIVES.`,
      params: subParams,
      querystring: query({
        maxEvents: intQuery(1, 100, 'Events in the answer, at most.', 1),
        maxWaitTime: intQuery(10, 120, 'Seconds to wait for an event.', 60)
      }),
      response: { 200: json('The events with their lock tokens', RECEIVE_RESULT), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const sub = await owned(req, reply)
    if (sub === undefined) return reply
    const { maxEvents, maxWaitTime } = req.query
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
  })

  for (const action of ['acknowledge', 'release', 'reject', 'renewLock'] as const) {
    const release = action === 'release'
    app.post<{ Params: Params, Querystring: { releaseDelayInSeconds?: number }, Body: { lockTokens: string[] } }>(`/topics/:topicName/eventsubscriptions/:eventSubscriptionName([^:]+)::${action}`, {
      schema: {
        tags: DATA_PLANE,
        ...SETTLE[action],
        params: subParams,
        querystring: query(release
          ? { releaseDelayInSeconds: { type: 'integer', enum: [...RELEASE_DELAYS_SECONDS], default: 0, description: 'Seconds before the events can be received again.', 'x-error': { problem: `must be one of ${RELEASE_DELAYS_SECONDS.join(', ')}` } } }
          : {}),
        body: LOCK_TOKENS_BODY,
        response: { 200: json('Which tokens were settled and which not', ref('SettleResult')), ...ERROR_ANSWERS }
      }
    }, async (req, reply) => {
      const sub = await owned(req, reply)
      if (sub === undefined) return reply
      return reply.code(200).send(await settle(sub, action, req.body.lockTokens, req.query.releaseDelayInSeconds ?? 0))
    })
  }

  app.post<{ Params: Params, Body: { offsets?: number[] } | null }>('/topics/:topicName/eventsubscriptions/:eventSubscriptionName/deadletters::redeliver', {
    schema: {
      tags: MANAGEMENT,
      operationId: 'EventSubscriptions_RedeliverDeadLetters',
      summary: 'Deliver dead-lettered events again: the ones at `offsets`, or all',
      params: subParams,
      body: {
        type: ['object', 'null'],
        'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
        properties: {
          offsets: { type: 'array', items: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER }, description: 'Omit it to redeliver all.', 'x-error': { message: "'offsets' must be an array of event offsets (omit it to redeliver all)" } }
        }
      },
      response: { 200: json('How many were put back', { type: 'object', properties: { redelivered: { type: 'integer' } } }), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const sub = await owned(req, reply)
    if (sub === undefined) return reply
    return { redelivered: await sub.queue.redeliver(req.body?.offsets) }
  })
}
