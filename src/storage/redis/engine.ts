import type { EngineOptions, StorageEngine } from '../engine.js'
import type { TelemetryStore } from '../../telemetry/store.js'
import { mapRejections, storageError } from './availability.js'
import { openRedis, type RedisConfig } from './connection.js'
import { COMMAND_STORE_SCRIPTS, redisCommandStore, redisSharedCommands } from './redis-command-store.js'
import { DEVICE_STORE_SCRIPTS, redisDeviceStore } from './redis-device-store.js'
import { openRedisMqtt } from './redis-mqtt.js'
import { NODE_STORE_SCRIPTS, redisNodeStore } from './redis-node-store.js'
import { PRESENCE_STORE_SCRIPTS, redisPresenceStore } from './redis-presence-store.js'
import { openRedisSignals } from './redis-signals.js'
import { redisSchemaStore, SCHEMA_STORE_SCRIPTS } from './redis-schema-store.js'
import { redisSubscriptionLeases, redisSubscriptionStore, SUBSCRIPTION_STORE_SCRIPTS } from './redis-subscription-store.js'
import { redisTelemetryStore } from './redis-telemetry-store.js'
import { openRedisTopicLogs } from './redis-topic-log.js'
import { redisTwinStore, TWIN_STORE_SCRIPTS } from './redis-twin-store.js'

// The `redis` storage engine: every port on one Redis server (standalone, 7.x), under the
// configured key prefix. Each adapter documents its keys at the top of its file. Gateways
// pointed at one Redis and prefix are the nodes of one cluster: they share topics, offsets,
// subscriptions' state, devices, commands and telemetry state, announce themselves as nodes
// (redis-node-store.ts), and share MQTT fan-out, sessions and retained messages through
// aedes' own Redis adapters (redis-mqtt.ts). Presence records (redis-presence-store.ts) and
// signals between the nodes (redis-signals.ts, pub/sub on a connection of its own) carry
// presence, takeover and revocation across nodes.
//
// Durability is Redis' (connection.ts): an acknowledgement waits for Redis' answer, which with
// `appendonly yes` and `appendfsync always` comes after the fsync. `storage.sync` does not
// change what Redis does.
//
// While Redis is unreachable the engine is unavailable (availability.ts): every port's calls
// fail at once with STORAGE_UNAVAILABLE (mapped here, once for all adapters), so nothing
// is acknowledged, and everything works again when Redis is back.

/** Where the telemetry worker finds telemetry's state on this engine (plain data, posted to it). */
export interface RedisTelemetryLocation extends RedisConfig {
  engine: 'redis'
}

/** Opens telemetry's store on its own connection, on the calling thread. */
export async function openRedisTelemetryStore (location: RedisTelemetryLocation): Promise<{ store: TelemetryStore, close: () => Promise<void> }> {
  const conn = await openRedis(location, 'gridgate-telemetry')
  try {
    return { store: mapRejections(await redisTelemetryStore(conn), (err) => storageError(err, conn.availability)), close: conn.close }
  } catch (err) {
    await conn.close()
    throw err
  }
}

export async function openRedisEngine (opts: EngineOptions, config: RedisConfig): Promise<StorageEngine> {
  const conn = await openRedis(config)
  try {
    await conn.loadScripts(SCHEMA_STORE_SCRIPTS)
    await conn.loadScripts([...DEVICE_STORE_SCRIPTS, ...NODE_STORE_SCRIPTS, ...PRESENCE_STORE_SCRIPTS, ...COMMAND_STORE_SCRIPTS, ...TWIN_STORE_SCRIPTS, ...SUBSCRIPTION_STORE_SCRIPTS])
    const logs = await openRedisTopicLogs({ redis: conn, clock: opts.clock, ...opts.log })
    const topics = logs.view()
    // Their connection errors while Redis is unreachable are the outage itself, reported once (availability).
    const mqtt = openRedisMqtt(config, (err) => { if (conn.availability.available) opts.onError?.(err) })
    const signals = await openRedisSignals(conn, (err) => { if (conn.availability.available) opts.onError?.(err) })
    const guard = <T extends object>(port: T): T => mapRejections(port, (err) => storageError(err, conn.availability))
    return {
      kind: 'redis',
      durable: true,
      availability: conn.availability,
      topics: guard(topics),
      openTopicLog: () => guard(logs.view()),
      subscriptions: guard(redisSubscriptionStore(conn)),
      subscriptionLeases: guard(redisSubscriptionLeases(conn)),
      devices: guard(redisDeviceStore(conn)),
      commands: guard(redisCommandStore(conn, logs)),
      sharedCommands: guard(redisSharedCommands(conn)),
      schemas: guard(redisSchemaStore(conn)),
      twins: guard(redisTwinStore(conn, logs)),
      telemetryLocation: { engine: 'redis', url: config.url, keyPrefix: config.keyPrefix },
      mqttPersistence: mqtt.persistence,
      mqttEmitter: mqtt.emitter,
      presence: guard(redisPresenceStore(conn)),
      signals,
      nodes: guard(redisNodeStore(conn)),
      close: async () => {
        // Closing on purpose: no "unavailable" from the connections going away now.
        conn.availability.close()
        await signals.close()
        await mqtt.close()
        await topics.close()
        await logs.close()
        await conn.close()
      }
    }
  } catch (err) {
    await conn.close()
    throw err
  }
}
