import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { Subscription, Subscriptions } from '../delivery/subscriptions.js'
import type { NodeDirectory } from '../registry/nodes.js'

// Calls on a subscription's queue (pull, status, dead letters) made to a node that does not
// deliver it are forwarded over HTTP to the node that does (subscriptions.ts: one owner per
// subscription on a cluster), at the `http` listener the node list gives for it (the owner's
// cluster.advertiseHttpUrl, or its bound address), with the caller's own Authorization (the nodes share
// http.keys), and its answer is passed back as it is: status, body, content type. A forwarded
// call carries FORWARDED_HEADER and is never forwarded again: a node that gets one for a
// subscription it does not deliver (ownership moved meanwhile) answers 503 SUBSCRIPTION_NOT_OWNED,
// which clients retry. While no node delivers the subscription (an owner died and its lease
// has not expired yet, or one is just taking over), the call waits for one, up to `waitMs`;
// so does a call whose owner does not answer (killed, its lease not expired yet). A call
// whose connection to the owner broke after it was sent may have been applied there: it is
// sent again (to the new owner), which at worst answers LOCK_TOKEN_INVALID for a token the
// first attempt settled, or leaves events locked for nobody until their lock expires.

export const FORWARDED_HEADER = 'x-gridgate-forwarded-by'

export interface ForwardDeps {
  subscriptions: Subscriptions
  nodes: NodeDirectory
  clock: Clock
  /** How long a call waits for a subscription without an owner before 503. */
  waitMs: number
}

/**
 * The subscription when this node delivers it; otherwise the call is forwarded (the reply is
 * sent) and the answer is undefined.
 */
export async function localOrForward (deps: ForwardDeps, req: FastifyRequest, reply: FastifyReply, topic: string, name: string): Promise<Subscription | undefined> {
  const forwarded = req.headers[FORWARDED_HEADER] !== undefined
  const deadline = deps.clock.now() + deps.waitMs
  for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
    const where = await deps.subscriptions.locate(topic, name)
    if ('local' in where) return where.local
    if (where.owner !== undefined && !forwarded) {
      const target = (await deps.nodes.list()).find((n) => n.id === where.owner)?.listeners.http
      // An owner that does not answer (killed, its lease not expired yet): asked again until another takes over.
      if (target !== undefined && await forward(req, reply, target, deps.nodes.id)) return undefined
    }
    if (deps.clock.now() >= deadline) {
      throw new GridgateError('SUBSCRIPTION_NOT_OWNED', `no node delivers event subscription '${name}' of topic '${topic}' right now; retry`, { details: { topic, subscription: name } })
    }
    await new Promise((resolve) => setTimeout(resolve, wait))
  }
}

/** True when the call was answered (the owner's answer passed back, or the caller gone); false when the owner could not be reached. */
async function forward (req: FastifyRequest, reply: FastifyReply, base: string, self: string): Promise<boolean> {
  const headers: Record<string, string> = { [FORWARDED_HEADER]: self }
  if (typeof req.headers.authorization === 'string') headers.authorization = req.headers.authorization
  let body: string | undefined
  if (req.body !== undefined && req.method !== 'GET') {
    body = JSON.stringify(req.body)
    headers['content-type'] = 'application/json'
  }
  // The caller hanging up ends the forwarded call too (a long poll locks nothing for nobody).
  const abort = new AbortController()
  const onClose = (): void => { if (!reply.raw.writableEnded) abort.abort() }
  reply.raw.once('close', onClose)
  try {
    const res = await fetch(new URL(req.url, base), { method: req.method, headers, body, signal: abort.signal })
    const bytes = Buffer.from(await res.arrayBuffer())
    const type = res.headers.get('content-type')
    const retryAfter = res.headers.get('retry-after')
    if (type !== null) void reply.header('content-type', type)
    if (retryAfter !== null) void reply.header('retry-after', retryAfter)
    await reply.code(res.status).send(bytes)
    return true
  } catch {
    return abort.signal.aborted
  } finally {
    reply.raw.off('close', onClose)
  }
}
