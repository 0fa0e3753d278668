import { Validator } from '@seriousme/openapi-schema-validator'
import type { FastifyInstance, RouteOptions } from 'fastify'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import type { HttpDeps } from '../../src/http/deps.js'
import { createHttpServer } from '../../src/http/server.js'

// The OpenAPI document at GET /openapi.json: valid OpenAPI 3.1, and every route the server
// registers is in it (collected with fastify's onRoute hook, so a route added later without
// a description fails here), the Event Grid data plane under Event Grid's operation names.

type Operation = { operationId?: string, responses?: Record<string, unknown>, security?: unknown[] }
type Doc = { openapi: string, paths: Record<string, Record<string, Operation>>, components: Record<string, unknown> }

const KEY = 'openapi-test-key-0123456789'
const config = validateConfig({ http: { keys: [KEY] } })
const noop = (): void => {}
// Building the routes reads only the config; the modules are never called here.
const deps = {
  config: config.http,
  commandLimits: config.commands,
  metrics: { httpRequestSeconds: { observe: noop }, rejections: { inc: noop } },
  health: { ready: true },
  engine: 'memory'
} as unknown as HttpDeps

/** Fastify's path syntax to OpenAPI's: `:name` and `:name(regex)` are `{name}`, `::` a literal ':'. */
function openapiPath (url: string): string {
  return url.split('::').map((part) => part.replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}').replace(/\*/g, '{*}')).join(':')
}

describe('the OpenAPI document', () => {
  const routes: RouteOptions[] = []
  let app: FastifyInstance
  let doc: Doc

  beforeAll(async () => {
    app = createHttpServer(deps, pino({ level: 'silent' }), { onRoute: (r) => { routes.push(r) } })
    await app.ready()
    const res = await app.inject({ method: 'GET', url: '/openapi.json' })
    expect(res.statusCode).toBe(200)
    doc = res.json<Doc>()
  })
  afterAll(async () => { await app.close() })

  it('is valid OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0')
    const result = await new Validator().validate(doc)
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
  })

  it('describes every route the server registers, each with an operationId and its answers', () => {
    const described = routes
      .filter((r) => (r.schema as { hide?: boolean } | undefined)?.hide !== true)
      .flatMap((r) => [r.method].flat().filter((m) => m !== 'HEAD').map((m) => ({ method: m.toLowerCase(), path: openapiPath(r.url) })))
    expect(described.length).toBeGreaterThan(30)
    const missing = described.filter(({ method, path }) => {
      const op = doc.paths[path]?.[method]
      return op?.operationId === undefined || !Object.keys(op.responses ?? {}).some((status) => /^[23]/.test(status))
    })
    expect(missing).toEqual([])
  })

  it('gives every operation its own operationId', () => {
    const ids = Object.values(doc.paths).flatMap((item) => Object.values(item).flatMap((op) => op.operationId ?? []))
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("names the Event Grid data plane as Event Grid's REST spec does, on its paths", () => {
    const sub = '/topics/{topicName}/eventsubscriptions/{eventSubscriptionName}'
    expect({
      publish: doc.paths['/topics/{topicName}:publish']?.post?.operationId,
      receive: doc.paths[`${sub}:receive`]?.post?.operationId,
      acknowledge: doc.paths[`${sub}:acknowledge`]?.post?.operationId,
      release: doc.paths[`${sub}:release`]?.post?.operationId,
      reject: doc.paths[`${sub}:reject`]?.post?.operationId,
      renewLock: doc.paths[`${sub}:renewLock`]?.post?.operationId
    }).toEqual({
      publish: 'EventGridClient_PublishCloudEvents',
      receive: 'EventGridClient_ReceiveCloudEvents',
      acknowledge: 'EventGridClient_AcknowledgeCloudEvents',
      release: 'EventGridClient_ReleaseCloudEvents',
      reject: 'EventGridClient_RejectCloudEvents',
      renewLock: 'EventGridClient_RenewCloudEventLocks'
    })
  })

  it('declares key authentication as Event Grid clients send it, or Bearer, and leaves the probes and itself open', () => {
    expect(doc.components.securitySchemes).toMatchObject({
      SharedAccessKey: { type: 'apiKey', in: 'header', name: 'Authorization' },
      Bearer: { type: 'http', scheme: 'bearer' }
    })
    expect((doc as unknown as { security: unknown }).security).toEqual([{ SharedAccessKey: [] }, { Bearer: [] }])
    for (const path of ['/healthz', '/readyz', '/openapi.json']) expect(doc.paths[path]?.get?.security).toEqual([])
  })

  it('keeps the error wording annotations of the schemas out of the document', () => {
    expect(JSON.stringify(doc)).not.toContain('x-error')
  })
})

describe('serving the description', () => {
  let app: FastifyInstance
  beforeAll(async () => {
    app = createHttpServer(deps, pino({ level: 'silent' }))
    await app.ready()
  })
  afterAll(async () => { await app.close() })

  it.each(['/openapi.json', '/docs', '/docs/static/index.html', '/docs/static/swagger-ui-bundle.js'])('serves %s without an access key', async (url) => {
    const res = await app.inject({ method: 'GET', url })
    expect(res.statusCode, res.body.slice(0, 200)).toBeLessThan(400)
  })

  it('serves the browsable docs from local assets, no CDN', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs/static/index.html' })
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//)
  })

  it.each(['/topics', '/docs/../topics', '/openapi.json/../topics', '/metrics'])('still asks for a key at %s', async (url) => {
    const res = await app.inject({ method: 'GET', url })
    expect(res.statusCode).toBe(401)
    expect(res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } })
  })
})
