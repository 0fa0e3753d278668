import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { Cut } from '../../twins/history.js'
import type { TwinView } from '../../twins/twins.js'
import type { HttpDeps } from '../deps.js'
import { DEVICE_ID, ERROR_ANSWERS, intQuery, json, params, query } from '../schemas.js'

// Device twins: GET /devices/{id}/twin (now, ?asOf= or ?atOffset=), its history, and
// PATCH /devices/{id}/twin/desired (an RFC 7396 merge patch). Registered when twins are on.

const tags = ['Device twins']
const ANY = {} as const
const FIELD = {
  type: 'object',
  properties: {
    value: ANY,
    time: { type: 'string', format: 'date-time', description: 'The `time` of the event that set the value' },
    eventId: { type: 'string' },
    topic: { type: 'string', description: 'The namespace topic of that event' },
    offset: { type: 'integer', minimum: 0, description: 'Its offset there' }
  }
} as const
const DOC = { type: 'object', additionalProperties: true } as const
const TWIN = {
  type: 'object',
  required: ['deviceId', 'version', 'reported', 'desiredVersion', 'desired', 'delta'],
  properties: {
    deviceId: { type: 'string' },
    version: { type: 'integer', minimum: 0, description: 'How many events changed the reported state' },
    reported: { type: 'object', additionalProperties: FIELD, description: 'The last value of each field of the device\'s events, and the event that set it' },
    desiredVersion: { type: 'integer', minimum: 0 },
    desired: { ...DOC, description: 'The desired document' },
    delta: { ...DOC, description: 'The desired fields whose value the device has not reported' }
  }
} as const
const HISTORY = {
  type: 'object',
  required: ['value'],
  properties: {
    value: {
      type: 'array',
      items: {
        type: 'object',
        properties: { version: { type: 'integer' }, field: { type: 'string' }, value: ANY, time: FIELD.properties.time, eventId: { type: 'string' }, topic: { type: 'string' }, offset: { type: 'integer' } }
      }
    },
    next: { type: 'integer', description: 'Pass as `after` for the next page' }
  }
} as const

const TIME = 'An RFC 3339 date-time or epoch milliseconds'

function parseTime (name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  const ms = /^\d{1,15}$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isFinite(ms)) throw new GridgateError('QUERY_PARAM_INVALID', `${name}: must be ${TIME.toLowerCase()}, not '${text.slice(0, 100)}'`, { details: { param: name } })
  return ms
}

export async function twinRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const twins = deps.twins
  if (twins === undefined) return
  // A merge patch's own media type (RFC 7396 section 4), read as JSON.
  app.addContentTypeParser('application/merge-patch+json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string))
    } catch {
      done(new GridgateError('MALFORMED_JSON', 'the request body is not valid JSON'), undefined)
    }
  })

  const missing = async (id: string): Promise<never> => {
    throw new GridgateError('DEVICE_NOT_FOUND', `device '${id}' does not exist`, { details: { device: id } })
  }
  const empty = (deviceId: string): TwinView => ({ deviceId, version: 0, reported: {}, desiredVersion: 0, desired: {}, delta: {} })

  app.get<{ Params: { id: string }, Querystring: { asOf?: string, atOffset?: number, topic?: string } }>('/devices/:id/twin', {
    schema: {
      tags,
      operationId: 'Twins_Get',
      summary: "A device's twin: reported state, desired state and their delta, now or as it was at a time or log offset",
      params: params({ id: DEVICE_ID }),
      querystring: query({
        asOf: { type: 'string', description: `${TIME}: the twin as it was then.` },
        atOffset: intQuery(0, Number.MAX_SAFE_INTEGER, 'The twin as it was once the event at this offset of `topic` was applied.'),
        topic: { type: 'string', description: 'The source topic `atOffset` counts in (default: the first route\'s topic).' }
      }),
      response: { 200: json('The twin', TWIN), ...ERROR_ANSWERS }
    }
  }, async (req) => {
    const { id } = req.params
    const { asOf, atOffset, topic } = req.query
    if (asOf !== undefined && atOffset !== undefined) throw new GridgateError('QUERY_PARAM_INVALID', 'asOf and atOffset: give one of them', { details: { param: 'atOffset' } })
    let cut: Cut | undefined
    if (asOf !== undefined) cut = { time: parseTime('asOf', asOf) as number }
    if (atOffset !== undefined) {
      const t = topic ?? twins.defaultTopic
      if (!twins.sources.includes(t)) throw new GridgateError('QUERY_PARAM_INVALID', `topic: '${t.slice(0, 100)}' is not a topic twins follow (${twins.sources.join(', ')})`, { details: { param: 'topic' } })
      cut = { topic: t, offset: atOffset }
    }
    const twin = await twins.get(id, cut)
    if (twin !== undefined) return twin
    if (await deps.registry.get(id) === undefined) return await missing(id)
    return empty(id)
  })

  app.get<{ Params: { id: string }, Querystring: { field?: string, from?: string, to?: string, limit: number, after?: number } }>('/devices/:id/twin/history', {
    schema: {
      tags,
      operationId: 'Twins_History',
      summary: 'The changes of reported fields, oldest first, each with the event that caused it',
      params: params({ id: DEVICE_ID }),
      querystring: query({
        field: { type: 'string', description: 'Only this field (default: every field).' },
        from: { type: 'string', description: `${TIME}; changes at or after it.` },
        to: { type: 'string', description: `${TIME}; changes at or before it.` },
        limit: intQuery(1, 10_000, 'Changes in the answer (the fields one event changed are never split).', 1000),
        after: intQuery(0, Number.MAX_SAFE_INTEGER, 'The `next` of the previous page.')
      }),
      response: { 200: json('The changes', HISTORY), ...ERROR_ANSWERS }
    }
  }, async (req) => {
    const { id } = req.params
    const q = req.query
    const from = parseTime('from', q.from)
    const to = parseTime('to', q.to)
    const answer = await twins.history(id, { limit: q.limit, ...(q.field === undefined ? {} : { field: q.field }), ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }), ...(q.after === undefined ? {} : { after: q.after }) })
    if (answer.value.length === 0 && await deps.registry.get(id) === undefined) return await missing(id)
    return answer
  })

  app.patch<{ Params: { id: string }, Body: unknown }>('/devices/:id/twin/desired', {
    schema: {
      tags,
      operationId: 'Twins_PatchDesired',
      summary: 'Change the desired document with a JSON merge patch (RFC 7396); the whole document is sent to the device, retained, on devices/{id}/twin/desired',
      params: params({ id: DEVICE_ID }),
      body: { ...DOC, description: 'A JSON merge patch: members set fields, null removes them' },
      response: { 200: json('The twin after the patch', TWIN), ...ERROR_ANSWERS }
    }
  }, async (req) => {
    const { id } = req.params
    if (await deps.registry.get(id) === undefined) return await missing(id)
    return await twins.patchDesired(id, req.body)
  })
}
