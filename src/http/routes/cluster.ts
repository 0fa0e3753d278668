import type { FastifyInstance } from 'fastify'
import type { HttpDeps } from '../deps.js'
import { ERROR_ANSWERS, json, list } from '../schemas.js'

// The nodes of the cluster (registry/nodes.ts): every live gateway process on the same Redis
// and key prefix; on the embedded engines, this one.

const tags = ['Cluster']

const NODE = {
  type: 'object',
  required: ['id', 'listeners', 'startedAt', 'lastHeartbeat', 'owns'],
  properties: {
    id: { type: 'string', description: 'The node id (cluster.nodeId, or generated at its start)' },
    listeners: { type: 'object', additionalProperties: { type: 'string' }, description: 'Its listener URLs by name (http, mqtt, ws, mqtts, wss), as in its `listening` log line' },
    startedAt: { type: 'string', format: 'date-time' },
    lastHeartbeat: { type: 'string', format: 'date-time', description: 'Its last heartbeat, on its own clock; a node silent for cluster.heartbeatExpiryMs is gone from the list' },
    owns: { type: 'object', additionalProperties: { type: 'integer', minimum: 0 }, description: 'What it holds for the cluster, by kind: `devices`, the device connections it holds; `subscriptions`, the event subscriptions it delivers (owns the lease of)' }
  }
} as const

export async function clusterRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  app.get('/cluster/nodes', {
    schema: {
      tags,
      operationId: 'Cluster_ListNodes',
      summary: 'The live nodes of the cluster, by id',
      response: { 200: json('The live nodes', list(NODE)), ...ERROR_ANSWERS }
    }
  }, async () => ({ value: await deps.nodes.list() }))
}
