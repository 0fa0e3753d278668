// The whole configuration as one JSON Schema: every default lives here, every unit is in
// the field name. ajv fills the defaults and refuses unknown fields (additionalProperties).

export interface RetentionConfig {
  /** Events older than this are removed; 0 keeps them forever. */
  maxAgeSeconds: number
  /** The oldest events are removed while the topic holds more; 0 means no byte limit. */
  maxBytes: number
}

export interface TopicConfig {
  name: string
  retention?: Partial<RetentionConfig>
}

export interface Config {
  dataDir: string
  namespace: string
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' }
  http: {
    host: string
    port: number
    keys: string[]
    allowUnauthenticated: boolean
    maxEventBytes: number
    maxBatchBytes: number
    maxBatchEvents: number
    maxReplayLimit: number
  }
  mqtt: {
    host: string
    port: number
    wsPort: number
    tlsPort: number
    wssPort: number
    allowAnonymous: boolean
  }
  webhooks: { allowLoopback: boolean }
  storage: {
    /** fsync every group-commit batch before acknowledging it. */
    sync: boolean
    maxBatchEvents: number
    maxBatchBytes: number
  }
  retention: RetentionConfig & { sweepIntervalSeconds: number }
  topics: TopicConfig[]
}

const port = { type: 'integer', minimum: 0, maximum: 65535 } as const
const host = { type: 'string', minLength: 1 } as const
const count = (def: number, max = 2 ** 31) => ({ type: 'integer', minimum: 1, maximum: max, default: def }) as const
const retentionFields = {
  maxAgeSeconds: { type: 'integer', minimum: 0 },
  maxBytes: { type: 'integer', minimum: 0 }
} as const

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dataDir: { type: 'string', minLength: 1, default: './data' },
    // Used in CloudEvent sources: /{namespace}/devices/{id}.
    namespace: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', default: 'gridgate' },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' }
      }
    },
    http: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Loopback by default, as Mosquitto 2 does with no listener configured; set 0.0.0.0 to expose.
        host: { ...host, default: '127.0.0.1' },
        port: { ...port, default: 8080 },
        keys: { type: 'array', items: { type: 'string', minLength: 16 }, default: [] },
        allowUnauthenticated: { type: 'boolean', default: false },
        maxEventBytes: count(1_048_576, 16 * 1_048_576),
        maxBatchBytes: count(1_048_576, 64 * 1_048_576),
        maxBatchEvents: count(1000, 100_000),
        maxReplayLimit: count(1000, 100_000)
      }
    },
    mqtt: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { ...host, default: '127.0.0.1' },
        port: { ...port, default: 1883 },
        wsPort: { ...port, default: 8083 },
        tlsPort: { ...port, default: 8883 },
        wssPort: { ...port, default: 8084 },
        allowAnonymous: { type: 'boolean', default: false }
      }
    },
    webhooks: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowLoopback: { type: 'boolean', default: false }
      }
    },
    storage: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        sync: { type: 'boolean', default: true },
        maxBatchEvents: count(10_000),
        maxBatchBytes: count(8 * 1_048_576)
      }
    },
    retention: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        // Event Grid namespace topics keep events 7 days by default.
        maxAgeSeconds: { ...retentionFields.maxAgeSeconds, default: 604_800 },
        maxBytes: { ...retentionFields.maxBytes, default: 0 },
        sweepIntervalSeconds: count(60, 86_400)
      }
    },
    topics: {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$' },
          retention: { type: 'object', additionalProperties: false, properties: retentionFields }
        }
      }
    }
  }
} as const
