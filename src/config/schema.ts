import { NAME_PATTERN } from '../core/names.js'

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
  /** Idempotent publish: an event whose (source, id) the topic took within the window is not appended again. */
  deduplication?: { windowSeconds: number }
}

export interface PermissionSet {
  /** Topic templates a client may publish to; `${client.id}`, `${client.username}`, `${client.attributes.KEY}` are filled in. */
  publish: string[]
  /** Topic filter templates a client may subscribe to. */
  subscribe: string[]
}

/** A grant or deny of topic templates to a client group (Event Grid's permission binding). */
export interface PermissionBindingConfig {
  /** A name in mqtt.clientGroups, or `$all`. */
  clientGroup: string
  permission: 'publish' | 'subscribe'
  /** Topic templates as in PermissionSet. */
  topicTemplates: string[]
  /** A deny wins over every allow. */
  effect: 'allow' | 'deny'
}

export interface RouteConfig {
  /** MQTT topic filter the device's topic must match. */
  filter: string
  /** Namespace topic the CloudEvent is appended to. */
  topic: string
  /** CloudEvent `type`. */
  type: string
  /** JSON Schema file for `data`, relative to the config file's directory. */
  schema?: string
  /** Instead of a file: a subject of the schema registry; its latest version unless `schemaVersion`. */
  schemaSubject?: string
  /** A fixed version of `schemaSubject`. */
  schemaVersion?: number
  /** A top-level payload field whose string or number value becomes the CloudEvent id (idempotent publish). */
  idField?: string
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
    /** A request whose headers and body have not all arrived by then is answered 408 and closed. */
    requestTimeoutSeconds: number
    /** `:receive` long polls open at once, over all subscriptions; more get 429 TOO_MANY_RECEIVES. */
    maxConcurrentReceives: number
  }
  mqtt: {
    host: string
    port: number
    wsPort: number
    tlsPort: number
    wssPort: number
    allowAnonymous: boolean
    /** PEM files; the TLS and secure WebSocket listeners start only when cert and key are set. */
    tls: { cert?: string, key?: string, ca?: string }
    maxPayloadBytes: number
    /** aedes sessions, subscriptions, retained and queued messages in LevelDB (else in memory). */
    persistence: boolean
    /** The allow binding of the built-in group `$all`: what every registered client may do. */
    permissions: PermissionSet
    anonymousPermissions: PermissionSet
    /** Client groups by name: an Event Grid client group query over the client's attributes. */
    clientGroups: Record<string, string>
    permissionBindings: PermissionBindingConfig[]
    /** `$share/{group}/{filter}` subscriptions. */
    sharedSubscriptions: {
      /** QoS 1 messages sent to one member and not yet acknowledged; a member with this many is skipped. */
      inflightWindow: number
      /** Messages one shared subscription holds while every member's window is full; past it the oldest is dropped. */
      maxQueued: number
    }
    /** `$replay/{topic}/{position}` subscriptions. */
    replay: {
      /** QoS 1 messages sent on one replay subscription and not yet acknowledged; the next waits for a PUBACK. */
      inflightWindow: number
      /** Replay subscriptions one connection may hold at once. */
      maxPerConnection: number
    }
    authFailures: { freeAttempts: number, baseDelayMs: number, maxDelayMs: number, windowSeconds: number }
    /** A socket that has not completed CONNECT within this is closed. */
    connectTimeoutSeconds: number
    /** Open MQTT sockets over all listeners; 0 = no limit. */
    maxConnections: number
    /** Open MQTT sockets per remote address; 0 = no limit. */
    maxConnectionsPerAddress: number
    /** Incoming QoS 2 messages per connection awaiting PUBREL; more closes the connection. */
    maxInflightQos2: number
    /** Distinct topics with a retained message per device (since start); 0 = no limit. */
    maxRetainedPerDevice: number
    /** A client whose socket stays full (it stopped reading) this long is disconnected. */
    drainTimeoutSeconds: number
    /** How often $SYS/broker/... statistics are published (Mosquitto's sys_interval); 0 = never. */
    sysIntervalSeconds: number
  }
  routes: RouteConfig[]
  webhooks: {
    allowLoopback: boolean
    timeoutSeconds: number
    /** Requests in flight per push subscription. */
    concurrency: number
    /** Delay before attempt 1, 2, ...; the last repeats (Event Grid: 0, 10 s, 30 s, 1 min, 5 min). */
    retryDelaysSeconds: number[]
    jitterRatio: number
    /** Sent as WebHook-Request-Origin in the validation handshake. */
    origin: string
  }
  delivery: {
    /** Events one subscription holds taken-but-unsettled before it stops reading its topic. */
    maxPendingPerSubscription: number
  }
  commands: {
    /** Commands not yet ended, per device. */
    maxOpenPerDevice: number
    defaultTimeoutSeconds: number
    defaultTtlSeconds: number
    /** Longest `wait` of POST /devices/{id}/commands. */
    maxWaitSeconds: number
  }
  storage: {
    /** Which engine holds the state: `leveldb` on disk under dataDir, `memory` in the heap (nothing survives a restart), `redis` on the server `redis` names. */
    engine: 'leveldb' | 'memory' | 'redis'
    /** fsync every group-commit batch before acknowledging it. */
    sync: boolean
    maxBatchEvents: number
    maxBatchBytes: number
    /** Recent log segments kept decoded in memory for readers. */
    segmentCacheBytes: number
    /** LevelDB's write buffer (memtable) of the `leveldb` engine's database. */
    writeBufferBytes: number
    /** How long a short batch behind a busy group commit waits for more (leveldb with sync; 0: never). */
    commitDelayMs: number
  }
  /** The Redis server of the `redis` storage engine (unused by the others). */
  redis: {
    /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). */
    url: string
    /** Put before every key the engine writes, so gateways can share a server under different prefixes. */
    keyPrefix: string
  }
  /** This process as a node of a cluster: every node on one Redis (and key prefix) is one gateway. */
  cluster: {
    /** This node's id; absent: a new one at every start (registry/nodes.ts says why it is not kept). */
    nodeId?: string
    /**
     * The URL other nodes reach this node's HTTP listener at (`http(s)://host[:port]`), listed in
     * GET /cluster/nodes and used to forward calls here; absent: the bound address (a wildcard bind lists 127.0.0.1).
     */
    advertiseHttpUrl?: string
    /** How often the node refreshes its heartbeat key. */
    heartbeatIntervalMs: number
    /** A node whose heartbeat is older than this is gone (the key's expiry); above the interval. */
    heartbeatExpiryMs: number
  }
  retention: RetentionConfig & { sweepIntervalSeconds: number }
  topics: TopicConfig[]
  telemetry: TelemetryConfig
  twins: TwinsConfig
}

/** Device twins (src/twins/): reported state projected from the routed topics, desired state sent to devices. */
export interface TwinsConfig {
  enabled: boolean
  /** Namespace topics whose device events set reported fields; absent: every route's topic. */
  sources?: string[]
  /** Append `device.twin.changed` events to the `twins` topic. */
  events: boolean
  /** Twins kept in memory (least recently used ones are read from storage again). */
  cacheDevices: number
  /** A snapshot of a twin every this many versions: asOf reads one and at most this many changes after it. */
  snapshotEvery: number
  /** The largest desired document, as JSON bytes. */
  maxDesiredBytes: number
  /** The least time between two projection steps unless one has a backlog: how soon a twin follows its device. */
  stepIntervalMs: number
  /** The projection in a worker thread (twins-worker.ts); false: on the main thread. */
  worker: boolean
}

export interface TelemetrySourceConfig {
  /** Namespace topic whose events carry readings. */
  topic: string
  /** CloudEvent types read; empty: all. */
  types: string[]
  /** Dot paths of the fields that are readings; absent: every numeric field. */
  fields?: string[]
  /** Payload field with the event time (epoch ms or RFC 3339); absent: the receive time. */
  timeField?: string
}

export interface TelemetryConfig {
  enabled: boolean
  /** In a worker thread (telemetry-worker.ts); false: on the main thread. */
  worker: boolean
  sources: TelemetrySourceConfig[]
  /** Stream Analytics' event-ordering policies, per device. */
  eventTime: {
    outOfOrderToleranceSeconds: number
    lateArrivalToleranceSeconds: number
    earlyArrivalLimitSeconds: number
    lateArrivalAction: 'drop' | 'adjust'
    earlyArrivalAction: 'drop' | 'adjust'
    outOfOrderAction: 'drop' | 'adjust'
  }
  /** How often closed windows are appended to their output topics. */
  checkpointIntervalMs: number
  /** How often window state and rollups are written; a restart re-reads the source topic from the last one. */
  snapshotIntervalSeconds: number
  /** Per-second rollups older than this are removed; 0 keeps them. */
  rollupRetentionSeconds: number
  /** Rollup buckets one query may read (a day of one-second buckets is 86,400). */
  maxQueryBuckets: number
  /** Windows one query may answer with. */
  maxQueryWindows: number
  /** Continuous windows created at start: the body of PUT /windows/{name} plus `name`. */
  windows: Array<{ name: string, [field: string]: unknown }>
}

const port = { type: 'integer', minimum: 0, maximum: 65535 } as const
const path = { type: 'string', minLength: 1 } as const
const permissionSet = (def: { publish: string[], subscribe: string[] }) => ({
  type: 'object',
  additionalProperties: false,
  default: def,
  properties: {
    publish: { type: 'array', items: { type: 'string', minLength: 1 }, default: def.publish },
    subscribe: { type: 'array', items: { type: 'string', minLength: 1 }, default: def.subscribe }
  }
}) as const
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
        maxReplayLimit: count(1000, 100_000),
        requestTimeoutSeconds: count(30, 3600),
        maxConcurrentReceives: count(1000, 100_000)
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
        allowAnonymous: { type: 'boolean', default: false },
        tls: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: { cert: path, key: path, ca: path }
        },
        maxPayloadBytes: count(262_144, 268_435_455),
        persistence: { type: 'boolean', default: true },
        // Topic templates, not JS template strings: ${...} is filled per client at connect.
        /* eslint-disable no-template-curly-in-string */
        permissions: permissionSet({
          publish: ['devices/${client.id}/telemetry', 'devices/${client.id}/telemetry/#', 'devices/${client.id}/events/#', 'devices/${client.id}/responses/#'],
          subscribe: ['devices/${client.id}/commands/#', 'devices/${client.id}/twin/desired']
        }),
        /* eslint-enable no-template-curly-in-string */
        anonymousPermissions: permissionSet({ publish: [], subscribe: [] }),
        // Names and queries are checked in validate.ts (client-groups.ts, client-query.ts).
        clientGroups: { type: 'object', default: {}, maxProperties: 100, additionalProperties: { type: 'string', minLength: 1 } },
        permissionBindings: {
          type: 'array',
          default: [],
          maxItems: 1000,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['clientGroup', 'permission', 'topicTemplates'],
            properties: {
              clientGroup: { type: 'string', minLength: 1 },
              permission: { enum: ['publish', 'subscribe'] },
              topicTemplates: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', minLength: 1 } },
              effect: { enum: ['allow', 'deny'], default: 'allow' }
            }
          }
        },
        sharedSubscriptions: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            inflightWindow: count(32, 65_535),
            maxQueued: count(10_000, 1_000_000)
          }
        },
        replay: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            inflightWindow: count(32, 65_535),
            maxPerConnection: count(8, 1000)
          }
        },
        authFailures: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            // Per client address: after this many failures in the window, each attempt waits.
            freeAttempts: { type: 'integer', minimum: 0, maximum: 1000, default: 3 },
            baseDelayMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 250 },
            maxDelayMs: { type: 'integer', minimum: 0, maximum: 600_000, default: 10_000 },
            windowSeconds: { type: 'integer', minimum: 1, maximum: 86_400, default: 300 }
          }
        },
        connectTimeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 600, default: 10 },
        maxConnections: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 100_000 },
        maxConnectionsPerAddress: { type: 'integer', minimum: 0, maximum: 10_000_000, default: 0 },
        maxInflightQos2: { type: 'integer', minimum: 1, maximum: 65_535, default: 32 },
        maxRetainedPerDevice: { type: 'integer', minimum: 0, maximum: 1_000_000, default: 1000 },
        drainTimeoutSeconds: { type: 'number', exclusiveMinimum: 0, maximum: 600, default: 10 },
        sysIntervalSeconds: { type: 'integer', minimum: 0, maximum: 86_400, default: 0 }
      }
    },
    routes: {
      type: 'array',
      default: [
        { filter: 'devices/+/telemetry/#', topic: 'telemetry', type: 'device.telemetry' },
        { filter: 'devices/+/events/#', topic: 'events', type: 'device.event' }
      ],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['filter', 'topic', 'type'],
        properties: {
          filter: { type: 'string', minLength: 1, maxLength: 1024 },
          topic: { type: 'string', pattern: NAME_PATTERN },
          type: { type: 'string', minLength: 1, maxLength: 256 },
          schema: path,
          schemaSubject: { type: 'string', pattern: NAME_PATTERN },
          schemaVersion: { type: 'integer', minimum: 1 },
          idField: { type: 'string', minLength: 1, maxLength: 256 }
        }
      }
    },
    webhooks: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        allowLoopback: { type: 'boolean', default: false },
        timeoutSeconds: { type: 'integer', minimum: 1, maximum: 300, default: 30 },
        concurrency: { type: 'integer', minimum: 1, maximum: 64, default: 4 },
        retryDelaysSeconds: { type: 'array', minItems: 1, maxItems: 20, items: { type: 'number', minimum: 0, maximum: 86_400 }, default: [0, 10, 30, 60, 300] },
        jitterRatio: { type: 'number', minimum: 0, maximum: 0.5, default: 0.1 },
        origin: { type: 'string', minLength: 1, maxLength: 253, default: 'gridgate' }
      }
    },
    delivery: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxPendingPerSubscription: count(10_000, 1_000_000)
      }
    },
    commands: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        maxOpenPerDevice: count(100, 100_000),
        defaultTimeoutSeconds: count(30, 86_400),
        defaultTtlSeconds: count(3600, 2_592_000),
        maxWaitSeconds: count(120, 3600)
      }
    },
    storage: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        engine: { type: 'string', enum: ['leveldb', 'memory', 'redis'], default: 'leveldb' },
        sync: { type: 'boolean', default: true },
        maxBatchEvents: count(10_000),
        maxBatchBytes: count(8 * 1_048_576),
        segmentCacheBytes: { type: 'integer', minimum: 0, maximum: 16 * 1024 * 1_048_576, default: 64 * 1_048_576 },
        // LevelDB's default of 4 MiB fills every ~0.1 s under fan-in with twins on, and a write
        // waits whenever the previous memtable is still being flushed (README, Device twins).
        writeBufferBytes: { type: 'integer', minimum: 1_048_576, maximum: 1024 * 1_048_576, default: 64 * 1_048_576 },
        // Fewer fsyncs when a busy writer would otherwise write a few events at a time (group-commit.ts).
        commitDelayMs: { type: 'number', minimum: 0, maximum: 100, default: 2 }
      }
    },
    redis: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' },
        keyPrefix: { type: 'string', maxLength: 100, default: 'gridgate:' }
      }
    },
    cluster: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        nodeId: { type: 'string', pattern: NAME_PATTERN },
        // Scheme, host and port only: a forwarded call's path is the caller's own.
        advertiseHttpUrl: { type: 'string', maxLength: 2048, pattern: '^https?://[^/?#@\\s]+/?$' },
        heartbeatIntervalMs: { type: 'integer', minimum: 10, maximum: 60_000, default: 1000 },
        heartbeatExpiryMs: { type: 'integer', minimum: 20, maximum: 600_000, default: 5000 }
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
    telemetry: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: true },
        // Run telemetry in a worker thread (the second core), so it never holds the ingest
        // event loop; false runs it on the main thread. A gateway started with an injected
        // clock (tests) runs it on the main thread either way: a worker cannot share a clock.
        worker: { type: 'boolean', default: true },
        sources: {
          type: 'array',
          maxItems: 16,
          default: [{ topic: 'telemetry', types: ['device.telemetry'] }],
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['topic'],
            properties: {
              topic: { type: 'string', pattern: NAME_PATTERN },
              types: { type: 'array', maxItems: 32, items: { type: 'string', minLength: 1, maxLength: 256 }, default: [] },
              fields: { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 256 } },
              timeField: { type: 'string', minLength: 1, maxLength: 256 }
            }
          }
        },
        eventTime: {
          type: 'object',
          additionalProperties: false,
          default: {},
          properties: {
            // Stream Analytics' defaults: no reordering, 5 s late arrival, 5 min early arrival.
            outOfOrderToleranceSeconds: { type: 'number', minimum: 0, maximum: 3600, default: 0 },
            lateArrivalToleranceSeconds: { type: 'number', minimum: 0, maximum: 1_814_400, default: 5 },
            earlyArrivalLimitSeconds: { type: 'number', minimum: 0, maximum: 86_400, default: 300 },
            lateArrivalAction: { enum: ['drop', 'adjust'], default: 'adjust' },
            earlyArrivalAction: { enum: ['drop', 'adjust'], default: 'drop' },
            outOfOrderAction: { enum: ['drop', 'adjust'], default: 'adjust' }
          }
        },
        checkpointIntervalMs: { type: 'integer', minimum: 10, maximum: 60_000, default: 1000 },
        snapshotIntervalSeconds: { type: 'number', minimum: 0.01, maximum: 3600, default: 10 },
        rollupRetentionSeconds: { type: 'integer', minimum: 0, maximum: 315_360_000, default: 604_800 },
        maxQueryBuckets: count(2_678_400, 100_000_000),
        maxQueryWindows: count(10_000, 1_000_000),
        windows: {
          type: 'array',
          default: [],
          maxItems: 1000,
          // The fields are checked like a PUT /windows/{name} body, when the gateway starts.
          items: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: NAME_PATTERN } } }
        }
      }
    },
    twins: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        enabled: { type: 'boolean', default: false },
        sources: { type: 'array', maxItems: 16, items: { type: 'string', pattern: NAME_PATTERN } },
        events: { type: 'boolean', default: true },
        cacheDevices: { type: 'integer', minimum: 1, maximum: 10_000_000, default: 10_000 },
        snapshotEvery: { type: 'integer', minimum: 1, maximum: 100_000, default: 64 },
        maxDesiredBytes: { type: 'integer', minimum: 2, maximum: 1_048_576, default: 65_536 },
        stepIntervalMs: { type: 'integer', minimum: 0, maximum: 60_000, default: 1000 },
        // Project in a worker thread (parse, fold and encode off the ingest loop). A gateway on
        // an injected clock (tests) projects on the main thread either way.
        worker: { type: 'boolean', default: true }
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
          name: { type: 'string', pattern: NAME_PATTERN },
          retention: { type: 'object', additionalProperties: false, properties: retentionFields },
          // The index holds every key of one window in memory: at most a week (as PUT /topics).
          deduplication: { type: 'object', additionalProperties: false, required: ['windowSeconds'], properties: { windowSeconds: { type: 'integer', minimum: 0, maximum: 604_800 } } }
        }
      }
    }
  }
} as const
