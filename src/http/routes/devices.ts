import type { FastifyInstance } from 'fastify'
import { parseClientQuery, type ClientQuery } from '../../core/client-query.js'
import { GridgateError } from '../../core/errors.js'
import type { Device } from '../../registry/devices.js'
import type { HttpDeps } from '../deps.js'
import { DEVICE_ID, ERROR_ANSWERS, json, list, NEW_DEVICE_ID, NO_CONTENT, params, query, ref } from '../schemas.js'

/** A device as the API shows it: the registry's view and the client groups it is in. */
function viewOf (deps: HttpDeps, device: Device): Device & { groups: string[] } {
  return { ...device, groups: deps.clientGroups.of({ authenticationName: device.id, attributes: device.attributes }) }
}

/** `?filter=`: a client group query (Event Grid's syntax) over the devices' ids and attributes. */
function filterOf (text: string | undefined): ClientQuery | undefined {
  if (text === undefined) return undefined
  const parsed = parseClientQuery(text)
  if (!parsed.ok) throw new GridgateError('QUERY_PARAM_INVALID', `query parameter 'filter' is not a client group query: ${parsed.error}`, { details: { param: 'filter' } })
  return parsed.query
}

async function requireDevice (deps: HttpDeps, id: string): Promise<Device> {
  const device = await deps.registry.get(id)
  if (device === undefined) throw new GridgateError('DEVICE_NOT_FOUND', `device '${id}' does not exist`, { details: { device: id } })
  return device
}

const ATTRIBUTES = {
  type: 'object',
  maxProperties: 32,
  description: 'Up to 32 attributes, usable in permission templates and client group queries as client.attributes.NAME.',
  propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$', 'x-error': { problem: "has an invalid attribute name: use 1-64 letters, digits, '_', '.', '-'" } },
  additionalProperties: { type: 'string', maxLength: 256, 'x-error': { problem: 'must be a string of at most 256 characters' } }
} as const

/** `{"attributes":{...}}`, optionally inside a `properties` wrapper; no body: no attributes. */
export const DEVICE_BODY_SCHEMA = {
  type: ['object', 'null'],
  'x-error': { code: 'BODY_INVALID', style: 'quoted', problem: 'must be a JSON object' },
  if: { type: 'object', properties: { properties: true }, required: ['properties'] },
  then: { type: 'object', properties: { properties: { type: 'object', additionalProperties: false, properties: { attributes: ATTRIBUTES } } } },
  else: { type: ['object', 'null'], additionalProperties: false, properties: { attributes: ATTRIBUTES } }
} as const

type DeviceBody = { attributes?: Record<string, string>, properties?: { attributes?: Record<string, string> } } | null
type Params = { id: string }

export async function deviceRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  const tags = ['Devices']
  const deviceParams = params({ id: DEVICE_ID })

  app.get<{ Querystring: { filter?: string } }>('/devices', {
    schema: {
      tags,
      operationId: 'Devices_List',
      summary: 'The registered devices with their presence and client groups',
      querystring: query({ filter: { type: 'string', description: "Only the devices a client group query matches, e.g. attributes.role = 'monitor'" } }),
      response: { 200: json('The devices', list(ref('Device'))), ...ERROR_ANSWERS }
    }
  }, async (req) => {
    const filter = filterOf(req.query.filter)
    const devices = await deps.registry.list()
    const matching = filter === undefined ? devices : devices.filter((d) => filter.matches({ authenticationName: d.id, attributes: d.attributes }))
    return { value: matching.map((d) => viewOf(deps, d)) }
  })

  // The password is in the answer only when the device is created: it is stored as a hash.
  app.put<{ Params: Params, Body: DeviceBody }>('/devices/:id', {
    schema: {
      tags,
      operationId: 'Devices_CreateOrUpdate',
      summary: 'Register a device (its MQTT password is in this answer only) or change its attributes',
      params: params({ id: NEW_DEVICE_ID }),
      body: DEVICE_BODY_SCHEMA,
      response: { 200: json('Updated', ref('Device')), 201: json('Registered, with its password', ref('Device')), ...ERROR_ANSWERS }
    }
  }, async (req, reply) => {
    const attributes = (req.body?.properties ?? req.body)?.attributes
    const { device, password, created } = await deps.registry.register(req.params.id, attributes)
    return reply.code(created ? 201 : 200).send(password === undefined ? viewOf(deps, device) : { ...viewOf(deps, device), password })
  })

  app.get<{ Params: Params }>('/devices/:id', {
    schema: { tags, operationId: 'Devices_Get', summary: 'A device with its presence', params: deviceParams, response: { 200: json('The device', ref('Device')), ...ERROR_ANSWERS } }
  }, async (req) => viewOf(deps, await requireDevice(deps, req.params.id)))

  app.delete<{ Params: Params }>('/devices/:id', {
    schema: { tags, operationId: 'Devices_Delete', summary: 'Revoke a device: its credentials and open connections go', params: deviceParams, response: { 204: NO_CONTENT, ...ERROR_ANSWERS } }
  }, async (req, reply) => {
    await requireDevice(deps, req.params.id)
    await deps.registry.remove(req.params.id)
    deps.disconnectDevice(req.params.id) // revoked: its open connections go too
    return reply.code(204).send()
  })
}
