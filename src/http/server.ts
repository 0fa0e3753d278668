import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type RouteOptions } from 'fastify'
import { readFileSync } from 'node:fs'
import { GridgateError } from '../core/errors.js'
import type { Logger } from '../observability/logger.js'
import { createAuthenticator, isOpenPath } from './auth.js'
import type { HttpDeps } from './deps.js'
import { openApiRoutes, swaggerOptions, swaggerUiOptions } from './openapi.js'
import { sendError, toGridgateError } from './reply.js'
import { clusterRoutes } from './routes/cluster.js'
import { commandRoutes } from './routes/commands.js'
import { consoleRoutes } from './routes/console.js'
import { deviceRoutes } from './routes/devices.js'
import { healthRoutes } from './routes/health.js'
import { publishRoutes } from './routes/publish.js'
import { retainedRoutes } from './routes/retained.js'
import { schemaRoutes } from './routes/schemas.js'
import { streamRoutes } from './routes/stream.js'
import { subscriptionRoutes } from './routes/subscriptions.js'
import { telemetryRoutes } from './routes/telemetry.js'
import { topicRoutes } from './routes/topics.js'
import { twinRoutes } from './routes/twins.js'
import { COMPONENTS } from './schemas.js'
import { serializerCompiler, validatorCompiler } from './validation.js'

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export interface HttpServerOptions {
  /** Sees every route as it is added (tests check each is described in the OpenAPI document). */
  onRoute?: (route: RouteOptions) => void
}

export function createHttpServer (deps: HttpDeps, logger: Logger, opts: HttpServerOptions = {}): FastifyInstance {
  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    // Per-request lines would dominate the log at publish rates; metrics count requests instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.maxBatchBytes,
    // Percent-encoded names (Event Grid clients encode them) are decoded by the router.
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    // A client dribbling its headers or body is cut off (408) after http.requestTimeoutSeconds;
    // node checks open requests every connectionsCheckingInterval, so keep that below the limit.
    requestTimeout: deps.config.requestTimeoutSeconds * 1000,
    http: {
      requestTimeout: deps.config.requestTimeoutSeconds * 1000,
      headersTimeout: deps.config.requestTimeoutSeconds * 1000,
      connectionsCheckingInterval: Math.min(1000, deps.config.requestTimeoutSeconds * 250)
    }
  })
  if (opts.onRoute !== undefined) app.addHook('onRoute', opts.onRoute)
  // Every route declares its request parts and answers as JSON Schema: fastify validates with
  // them (http/validation.ts) and @fastify/swagger describes the API from them (openapi.ts).
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  for (const schema of COMPONENTS) app.addSchema(schema)
  const auth = createAuthenticator(deps.config.keys)

  app.addHook('onRequest', async (req, reply) => {
    if (deps.config.allowUnauthenticated || isOpenPath(req.url.split('?')[0] ?? '')) return
    if (!auth.check(req.headers.authorization)) {
      deps.metrics.rejections.inc({ code: 'UNAUTHORIZED', source: 'http' })
      return sendError(reply, new GridgateError('UNAUTHORIZED',
        'a valid access key is required: Authorization: SharedAccessKey <key> or Authorization: Bearer <key>'))
    }
  })

  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpRequestSeconds.observe(
      { route: req.routeOptions.url ?? 'unmatched', method: req.method, status: String(reply.statusCode) },
      reply.elapsedTime / 1000)
  })

  app.setErrorHandler((err, req, reply) => {
    const e = toGridgateError(err, req.headers['content-type'])
    if (e.code === 'INTERNAL') req.log.error({ err }, 'request failed')
    // A storage outage is logged once when it begins and once when it ends (observers.ts watchStorage).
    else if (e.status >= 500 && e.code !== 'STORAGE_UNAVAILABLE') req.log.warn({ code: e.code, cause: (e.cause as Error | undefined)?.message }, e.message)
    deps.metrics.rejections.inc({ code: e.code, source: 'http' })
    return sendError(reply, e)
  })

  app.setNotFoundHandler((req, reply) => {
    deps.metrics.rejections.inc({ code: 'NOT_FOUND', source: 'http' })
    return sendError(reply, new GridgateError('NOT_FOUND', `no such resource: ${req.method} ${req.url.split('?')[0] ?? ''}`))
  })

  // Before the routes: @fastify/swagger collects them as they are added.
  void app.register(swagger, swaggerOptions(VERSION))
  void app.register(swaggerUi, swaggerUiOptions)
  void app.register(openApiRoutes)
  void app.register(healthRoutes, deps)
  void app.register(topicRoutes, deps)
  void app.register(publishRoutes, deps)
  void app.register(deviceRoutes, deps)
  void app.register(subscriptionRoutes, deps)
  void app.register(commandRoutes, deps)
  void app.register(telemetryRoutes, deps)
  void app.register(twinRoutes, deps)
  void app.register(retainedRoutes, deps)
  void app.register(clusterRoutes, deps)
  void app.register(schemaRoutes, deps)
  void app.register(streamRoutes, deps)
  void app.register(consoleRoutes)
  return app
}
