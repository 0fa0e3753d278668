import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { consoleAssets, type ConsoleAssets } from '../../console/assets.js'
import { GridgateError } from '../../core/errors.js'
import { sendError } from '../reply.js'

// The web console: GET / is its page, GET /console/{file} its script and stylesheet. They
// hold no data and are served without a key (auth.ts); the page asks for the key and sends
// it with every API call. Not in the OpenAPI document: they are a client of the API, not API.

/**
 * The page may load only its own script and style and talk only to this server; the key it
 * holds never leaves for another origin, and no other site may frame it.
 */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

export interface ConsoleRouteOptions {
  assets?: ConsoleAssets
}

export async function consoleRoutes (app: FastifyInstance, opts: ConsoleRouteOptions = {}): Promise<void> {
  const assets = opts.assets ?? consoleAssets()

  const serve = async (name: string, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const asset = await assets.get(name)
    if (asset === undefined) {
      const problem = name === 'index.html' ? 'the web console is not built: run npm run build' : `no such console asset: ${name}`
      return sendError(reply, new GridgateError('NOT_FOUND', problem))
    }
    void reply
      .header('cache-control', 'no-cache')
      .header('etag', asset.etag)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('content-security-policy', CSP)
    if (req.headers['if-none-match'] === asset.etag) return reply.code(304).send()
    return reply.type(asset.type).send(asset.body)
  }

  app.get('/', { schema: { hide: true } }, async (req, reply) => await serve('index.html', req, reply))
  app.get<{ Params: { file: string } }>('/console/:file', { schema: { hide: true } }, async (req, reply) => await serve(req.params.file, req, reply))
}
