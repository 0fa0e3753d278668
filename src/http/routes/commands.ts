import type { FastifyInstance } from 'fastify'
import type { CommandStatus } from '../../commands/lifecycle.js'
import { parseCommandRequest } from '../../commands/request.js'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { intParam, type Query } from '../query.js'

const STATUSES = new Set(['pending', 'sent', 'delivered', 'succeeded', 'failed', 'timedOut', 'expired', 'canceled'])

export async function commandRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { commands, config } = deps
  type Params = { id: string, commandId: string }

  const requireDevice = (id: string): void => {
    if (deps.registry.get(id) === undefined) throw new GridgateError('DEVICE_NOT_FOUND', `device '${id}' does not exist`, { details: { device: id } })
  }

  app.post<{ Params: { id: string }, Querystring: Query }>('/devices/:id/commands', async (req, reply) => {
    requireDevice(req.params.id)
    const wait = intParam(req.query, 'wait', { min: 0, max: deps.commandLimits.maxWaitSeconds }) ?? 0
    const key = req.headers['idempotency-key']
    const request = parseCommandRequest(req.body, Array.isArray(key) ? key[0] : key, { timeoutSeconds: deps.commandLimits.defaultTimeoutSeconds, ttlSeconds: deps.commandLimits.defaultTtlSeconds })
    const { command, created } = await commands.create(req.params.id, request)
    const answer = wait > 0 ? await commands.wait(req.params.id, command.id as string, wait * 1000) : command
    return reply.code(created ? 201 : 200).send(answer)
  })

  app.get<{ Params: { id: string }, Querystring: Query }>('/devices/:id/commands', async (req) => {
    requireDevice(req.params.id)
    const status = req.query.status
    if (status !== undefined && (typeof status !== 'string' || !STATUSES.has(status))) {
      throw new GridgateError('QUERY_PARAM_INVALID', `query parameter 'status' must be one of ${[...STATUSES].join(', ')}`, { details: { param: 'status' } })
    }
    const limit = intParam(req.query, 'limit', { min: 1, max: config.maxReplayLimit }) ?? 50
    const cursor = intParam(req.query, 'cursor', { min: 1, max: Number.MAX_SAFE_INTEGER })
    return await commands.list(req.params.id, { status: status as CommandStatus | undefined, limit, cursor })
  })

  app.get<{ Params: Params }>('/devices/:id/commands/:commandId', async (req) => await commands.get(req.params.id, req.params.commandId))

  app.delete<{ Params: Params }>('/devices/:id/commands/:commandId', async (req) => await commands.cancel(req.params.id, req.params.commandId))
}
