import type { CommandStore, SharedCommandStore } from '../commands/store.js'
import type { Clock } from '../core/clock.js'
import type { SubscriptionLeases } from '../delivery/leases.js'
import type { SubscriptionStore } from '../delivery/store.js'
import type { LogObserver, RetentionPolicy, TopicLog } from '../log/types.js'
import { createLocalNodeStore, type NodeStore } from '../registry/nodes.js'
import { createLocalPresenceStore, type PresenceStore } from '../registry/presence.js'
import type { DeviceStore } from '../registry/store.js'
import type { SchemaStore } from '../schemas/store.js'
import type { TwinStore } from '../twins/store.js'
import { createLocalSignals, type ClusterSignals } from '../core/signals.js'
import { ALWAYS_AVAILABLE, type StorageAvailability } from './availability.js'
import { levelCommandStore } from './level/command-store.js'
import { openLevelDb, openMemoryDb, type LevelStore } from './level/db.js'
import { levelDeviceStore } from './level/device-store.js'
import { levelMqttPersistence } from './level/mqtt-persistence.js'
import { levelSchemaStore } from './level/schema-store.js'
import { levelSubscriptionStore } from './level/subscription-store.js'
import { openLevelTopicLogs } from './level/topic-log.js'
import { levelTwinStore } from './level/twin-store.js'
import type { RedisConfig } from './redis/connection.js'
import { openRedisEngine } from './redis/engine.js'
import { migrateTelemetry, telemetryLocationOf, type TelemetryLocation } from './telemetry-db.js'

export { openTelemetryStore, type OpenTelemetryStore, type TelemetryLocation } from './telemetry-db.js'
export type { StorageAvailability } from './availability.js'

// A storage engine is one set of adapters for every port the modules declare. Selected by
// `storage.engine`; nothing above this folder knows which one runs.
//   leveldb  classic-level under {dataDir}/db; everything survives a restart (the default).
//   memory   memory-level in this process's heap; nothing survives, MQTT sessions and
//            retained messages use aedes' own in-memory persistence.
//   redis    a Redis server (`redis: { url, keyPrefix }`), adapters in src/storage/redis/;
//            every process on one server and prefix is a node of one cluster: MQTT
//            messages cross nodes through mqemitter-redis, sessions and retained messages
//            are in aedes-persistence-redis, nodes announce themselves in Redis.
// Telemetry's state is not in this store but in one of its own (telemetry-db.ts), which the
// telemetry worker opens on its thread with openTelemetryStore(engine.telemetryLocation).
// Both embedded engines are abstract-level stores behind the same adapters, so they share
// the key layouts of src/storage/level/; a shared engine (Redis) brings its own adapters.

export type EngineKind = 'leveldb' | 'memory' | 'redis'

export interface EngineOptions {
  engine: EngineKind
  dataDir: string
  /** The Redis server and key prefix of the `redis` engine. */
  redis?: RedisConfig
  clock: Clock
  /** fsync every write that decides an acknowledgement. */
  sync: boolean
  /** LevelDB's write buffer (the `leveldb` engine; LevelDB's own default of 4 MiB when absent). */
  writeBufferBytes?: number
  log: {
    maxBatchEvents: number
    maxBatchBytes: number
    /** Bytes of recent segments kept decoded for readers (0 turns it off). */
    cacheBytes: number
    /** The group commit's delay for short batches behind a busy writer (group-commit.ts); leveldb with sync only. */
    commitDelayMs?: number
    defaultRetention: RetentionPolicy
    observer?: LogObserver
  }
  /** Errors of connections the engine keeps in the background (redis: the MQTT emitter and persistence). */
  onError?: (err: unknown) => void
}

export interface StorageEngine {
  readonly kind: EngineKind
  /** Whether what is acknowledged survives a restart of the process. */
  readonly durable: boolean
  /** Whether the store answers now (availability.ts); the embedded engines always do. */
  readonly availability: StorageAvailability
  /** The namespace topics. */
  readonly topics: TopicLog
  /** Another TopicLog over the same store (it behaves as one log with `topics`). */
  openTopicLog: () => TopicLog
  readonly subscriptions: SubscriptionStore
  readonly devices: DeviceStore
  readonly commands: CommandStore
  /** The schema registry: subjects, their versions, the schemas of topics' event types. */
  readonly schemas: SchemaStore
  /** Device twins: reported states, their history and snapshots, desired states, the projection's cursors. */
  readonly twins: TwinStore
  /** Where telemetry's own store is (telemetry-db.ts); open it with openTelemetryStore on the thread that uses it. */
  readonly telemetryLocation: TelemetryLocation
  /** aedes persistence (sessions, subscriptions, queued and retained messages); undefined: aedes' in-memory one. */
  readonly mqttPersistence: unknown
  /** aedes' message emitter (its `mq` option); undefined: aedes' in-process one (a cluster of one). */
  readonly mqttEmitter: unknown
  /** Where the nodes of the cluster announce themselves; in this process on the embedded engines. */
  readonly nodes: NodeStore
  /** Which connection of each device is live, cluster-wide (registry/presence.ts); in this process on the embedded engines. */
  readonly presence: PresenceStore
  /** Signals between the nodes (core/signals.ts); in this process on the embedded engines, where no other node hears them. */
  readonly signals: ClusterSignals
  /** Event subscriptions' ownership leases in a store several nodes share; undefined on the embedded engines (one node owns all). */
  readonly subscriptionLeases?: SubscriptionLeases
  /** Commands' locks, open sets and deadlines in a store several nodes share; undefined on the embedded engines (one process decides). */
  readonly sharedCommands?: SharedCommandStore
  /** Stops the writers, then closes the store. */
  close: () => Promise<void>
}

export async function openStorageEngine (opts: EngineOptions): Promise<StorageEngine> {
  if (opts.engine === 'redis') {
    if (opts.redis === undefined) throw new Error('the redis storage engine needs redis: { url, keyPrefix }')
    return await openRedisEngine(opts, opts.redis)
  }
  const store: LevelStore = opts.engine === 'memory' ? await openMemoryDb() : await openLevelDb(opts.dataDir, opts.writeBufferBytes === undefined ? {} : { writeBufferBytes: opts.writeBufferBytes })
  try {
    // The delay saves fsyncs: with nothing to fsync (memory, or sync off) it would only add latency.
    const commitDelayMs = opts.engine === 'leveldb' && opts.sync ? opts.log.commitDelayMs ?? 0 : 0
    const logs = await openLevelTopicLogs({ storage: store, clock: opts.clock, sync: opts.sync, ...opts.log, commitDelayMs })
    const commands = await levelCommandStore(store, { sync: opts.sync, logs })
    const topics = logs.view()
    const telemetryLocation = telemetryLocationOf(opts.engine, opts.dataDir)
    // Data directories of 0.5 kept telemetry in this store: moved before telemetry starts.
    await migrateTelemetry(store, telemetryLocation)
    const nodes = createLocalNodeStore(opts.clock)
    return {
      kind: opts.engine,
      durable: opts.engine === 'leveldb',
      availability: ALWAYS_AVAILABLE,
      topics,
      openTopicLog: logs.view,
      subscriptions: levelSubscriptionStore(store),
      devices: levelDeviceStore(store),
      commands,
      schemas: levelSchemaStore(store),
      twins: levelTwinStore(store, { sync: opts.sync, logs }),
      telemetryLocation,
      mqttPersistence: opts.engine === 'memory' ? undefined : levelMqttPersistence(store.binary('mqtt')),
      mqttEmitter: undefined,
      nodes,
      presence: createLocalPresenceStore(opts.clock, nodes),
      signals: createLocalSignals(),
      close: async () => {
        await topics.close()
        await commands.close()
        await logs.close()
        await store.close()
      }
    }
  } catch (err) {
    await store.close()
    throw err
  }
}
