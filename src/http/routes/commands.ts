import type { FastifyInstance } from 'fastify'
import type { CommandStatus } from '../../commands/lifecycle.js'
import { COMMAND_HEADERS_SCHEMA, COMMAND_REQUEST_SCHEMA, commandRequest, type CommandBody } from '../../commands/request.js'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { DEVICE_ID, ERROR_ANSWERS, intQuery, json, list, params, query, ref } from '../schemas.js'

const STATUSES = ['pending', 'sent', 'delivered', 'succeeded', 'failed', 'timedOut', 'expired', 'canceled']

export async function commandRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const { commands, config } = deps
  const tags = ['Commands']
  type Params = { id: string, commandId: string }
  const commandParams = params({ id: DEVICE_ID, commandId: { type: 'string', description: 'The command id' } })

  const requireDevice = async (id: string): Promise<void> => {
    if (await deps.registry.get(id) === undefined) throw new GridgateError('DEVICE_NOT_FOUND', `device '${id}' does not exist`, { details: { device: id } })
  }

  app.post<{ Params: { id: string }, Querystring: { wait: number }, Body: CommandBody, Headers: { 'idempotency-key'?: string } }>('/devices/:id/commands', {
    schema: {
      tags,
      operationId: 'Commands_Send',
      summary: 'Send a command to a device (queued while it is offline)',
      params: params({ id: DEVICE_ID }),
      querystring: query({ wait: intQuery(0, deps.commandLimits.maxWaitSeconds, 'Seconds to wait for the command to end before answering (0: answer at once).', 0) }),
      headers: COMMAND_HEADERS_SCHEMA,
      body: COMMAND_REQUEST_SCHEMA,
      response: { 200: json('The command with that id already existed', ref('Command')), 201: json('Created', ref('Command')), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    await requireDevice(req.params.id)
    const request = commandRequest(req.body, req.headers['idempotency-key'], { timeoutSeconds: deps.commandLimits.defaultTimeoutSeconds, ttlSeconds: deps.commandLimits.defaultTtlSeconds })
    const { command, created } = await commands.create(req.params.id, request)
    const wait = req.query.wait
    const answer = wait > 0 ? await commands.wait(req.params.id, command.id as string, wait * 1000) : command
    return reply.code(created ? 201 : 200).send(answer)
  })

  app.get<{ Params: { id: string }, Querystring: { status?: CommandStatus, limit: number, cursor?: number } }>('/devices/:id/commands', {
    schema: {
      tags,
      operationId: 'Commands_List',
      summary: "A device's commands, newest first",
      params: params({ id: DEVICE_ID }),
      querystring: query({
        status: { type: 'string', enum: STATUSES, description: 'Only commands in this state.' },
        limit: intQuery(1, config.maxReplayLimit, 'Commands in the answer.', 50),
        cursor: intQuery(1, Number.MAX_SAFE_INTEGER, 'The nextCursor of the previous page.')
      }),
      response: { 200: json('A page of commands', { ...list(ref('Command')), properties: { value: { type: 'array', items: ref('Command') }, next: { type: 'integer', description: 'The cursor of the next page, when there is one' } } }), ...ERROR_ANSWERS }
    }
  }, async (req) => {
    await requireDevice(req.params.id)
    const { status, limit, cursor } = req.query
    return await commands.list(req.params.id, { status, limit, cursor })
  })

  app.get<{ Params: Params }>('/devices/:id/commands/:commandId', {
    schema: { tags, operationId: 'Commands_Get', summary: "A command's state", params: commandParams, response: { 200: json('The command', ref('Command')), ...ERROR_ANSWERS } }
  }, async (req) => await commands.get(req.params.id, req.params.commandId))

  app.delete<{ Params: Params }>('/devices/:id/commands/:commandId', {
    schema: { tags, operationId: 'Commands_Cancel', summary: 'Cancel a command that is still pending', params: commandParams, response: { 200: json('The canceled command', ref('Command')), ...ERROR_ANSWERS } }
  }, async (req) => await commands.cancel(req.params.id, req.params.commandId))
}
