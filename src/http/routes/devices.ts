import type { FastifyInstance } from 'fastify'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'

function requireDevice (deps: HttpDeps, id: string) {
  const device = deps.registry.get(id)
  if (device === undefined) throw new GridgateError('DEVICE_NOT_FOUND', `device '${id}' does not exist`, { details: { device: id } })
  return device
}

/** `{"attributes":{...}}`, optionally inside a `properties` wrapper. */
function parseDeviceBody (body: unknown): unknown {
  if (body === undefined || body === null) return undefined
  if (typeof body !== 'object' || Array.isArray(body)) throw new GridgateError('BODY_INVALID', 'the body must be a JSON object')
  const outer = body as Record<string, unknown>
  const props = (outer.properties ?? outer) as Record<string, unknown>
  for (const key of Object.keys(props)) {
    if (key !== 'attributes') throw new GridgateError('BODY_INVALID', `unknown field '${key}'`, { details: { field: key } })
  }
  return props.attributes
}

export async function deviceRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  app.get('/devices', async () => ({ value: deps.registry.list() }))

  // The password is in the answer only when the device is created: it is stored as a hash.
  app.put<{ Params: { id: string } }>('/devices/:id', async (req, reply) => {
    const { device, password, created } = await deps.registry.register(req.params.id, parseDeviceBody(req.body) as Record<string, string> | undefined)
    return reply.code(created ? 201 : 200).send(password === undefined ? device : { ...device, password })
  })

  app.get<{ Params: { id: string } }>('/devices/:id', async (req) => requireDevice(deps, req.params.id))

  app.delete<{ Params: { id: string } }>('/devices/:id', async (req, reply) => {
    requireDevice(deps, req.params.id)
    await deps.registry.remove(req.params.id)
    deps.disconnectDevice(req.params.id) // revoked: its open connections go too
    return reply.code(204).send()
  })
}
