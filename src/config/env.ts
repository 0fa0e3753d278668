import { GridgateError } from '../core/errors.js'

// The fixed set of environment overrides (api.md, "Running gridgate from scripts and tests").
// Each one replaces a single value of the YAML before validation, so ajv checks it too.

type Kind = 'string' | 'port' | 'boolean' | 'list'

interface Override {
  path: readonly string[]
  kind: Kind
}

export const ENV_OVERRIDES: Readonly<Record<string, Override>> = {
  GRIDGATE_DATA_DIR: { path: ['dataDir'], kind: 'string' },
  GRIDGATE_HTTP_HOST: { path: ['http', 'host'], kind: 'string' },
  GRIDGATE_HTTP_PORT: { path: ['http', 'port'], kind: 'port' },
  GRIDGATE_MQTT_HOST: { path: ['mqtt', 'host'], kind: 'string' },
  GRIDGATE_MQTT_PORT: { path: ['mqtt', 'port'], kind: 'port' },
  GRIDGATE_MQTT_WS_PORT: { path: ['mqtt', 'wsPort'], kind: 'port' },
  GRIDGATE_MQTTS_PORT: { path: ['mqtt', 'tlsPort'], kind: 'port' },
  GRIDGATE_MQTT_WSS_PORT: { path: ['mqtt', 'wssPort'], kind: 'port' },
  GRIDGATE_HTTP_KEYS: { path: ['http', 'keys'], kind: 'list' },
  GRIDGATE_MQTT_ALLOW_ANONYMOUS: { path: ['mqtt', 'allowAnonymous'], kind: 'boolean' },
  GRIDGATE_WEBHOOK_ALLOW_LOOPBACK: { path: ['webhooks', 'allowLoopback'], kind: 'boolean' },
  GRIDGATE_LOG_LEVEL: { path: ['log', 'level'], kind: 'string' },
  GRIDGATE_STORAGE_ENGINE: { path: ['storage', 'engine'], kind: 'string' },
  GRIDGATE_REDIS_URL: { path: ['redis', 'url'], kind: 'string' },
  GRIDGATE_NODE_ID: { path: ['cluster', 'nodeId'], kind: 'string' },
  GRIDGATE_ADVERTISE_HTTP_URL: { path: ['cluster', 'advertiseHttpUrl'], kind: 'string' }
}

function parse (name: string, kind: Kind, raw: string): unknown {
  const fail = (problem: string): never => {
    throw new GridgateError('CONFIG_INVALID', `${name}='${raw}': ${problem}`, { details: { field: name } })
  }
  switch (kind) {
    case 'string':
      return raw
    case 'port':
      if (!/^\d+$/.test(raw.trim())) fail('must be a port number (0 picks a free port)')
      return Number(raw.trim())
    case 'boolean':
      if (!/^(true|false|1|0)$/i.test(raw.trim())) fail("must be 'true' or 'false'")
      return /^(true|1)$/i.test(raw.trim())
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0)
  }
}

/** Returns a copy of `raw` with the overrides present in `env` applied. Pure. */
export function applyEnvOverrides (raw: Record<string, unknown>, env: Record<string, string | undefined>): Record<string, unknown> {
  const out = structuredClone(raw)
  for (const [name, { path, kind }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    let node: Record<string, unknown> = out
    for (const key of path.slice(0, -1)) {
      const next = node[key]
      if (next === undefined || next === null) node[key] = {}
      else if (typeof next !== 'object') {
        throw new GridgateError('CONFIG_INVALID', `${name}: /${path.join('/')} is not an object in the config file`)
      }
      node = node[key] as Record<string, unknown>
    }
    node[path[path.length - 1] as string] = parse(name, kind, value)
  }
  return out
}
