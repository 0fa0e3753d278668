import type { EngineOptions, StorageEngine } from '../engine.js'
import type { TelemetryStore } from '../../telemetry/store.js'
import { openRedis, type RedisConfig } from './connection.js'
import { redisCommandStore } from './redis-command-store.js'
import { DEVICE_STORE_SCRIPTS, redisDeviceStore } from './redis-device-store.js'
import { redisSubscriptionStore } from './redis-subscription-store.js'
import { redisTelemetryStore } from './redis-telemetry-store.js'
import { openRedisTopicLogs } from './redis-topic-log.js'

// The `redis` storage engine: every port on one Redis server (standalone, 7.x), under the
// configured key prefix. Each adapter documents its keys at the top of its file. Several
// gateways pointed at one Redis and prefix share topics, offsets, subscriptions' state,
// devices, commands and telemetry state; this engine is a storage engine only so far: the
// cluster features (MQTT fan-out and sessions across nodes, presence, heartbeats, leases)
// are later work, and MQTT sessions and retained messages stay in aedes' in-memory
// persistence of each process.
//
// Durability is Redis' (connection.ts): an acknowledgement waits for Redis' answer, which with
// `appendonly yes` and `appendfsync always` comes after the fsync. `storage.sync` does not
// change what Redis does.

/** Where the telemetry worker finds telemetry's state on this engine (plain data, posted to it). */
export interface RedisTelemetryLocation extends RedisConfig {
  engine: 'redis'
}

/** Opens telemetry's store on its own connection, on the calling thread. */
export async function openRedisTelemetryStore (location: RedisTelemetryLocation): Promise<{ store: TelemetryStore, close: () => Promise<void> }> {
  const conn = await openRedis(location, 'gridgate-telemetry')
  try {
    return { store: await redisTelemetryStore(conn), close: conn.close }
  } catch (err) {
    await conn.close()
    throw err
  }
}

export async function openRedisEngine (opts: EngineOptions, config: RedisConfig): Promise<StorageEngine> {
  const conn = await openRedis(config)
  try {
    await conn.loadScripts(DEVICE_STORE_SCRIPTS)
    const logs = await openRedisTopicLogs({ redis: conn, clock: opts.clock, ...opts.log })
    const topics = logs.view()
    return {
      kind: 'redis',
      durable: true,
      topics,
      openTopicLog: logs.view,
      subscriptions: redisSubscriptionStore(conn),
      devices: redisDeviceStore(conn),
      commands: redisCommandStore(conn, logs),
      telemetryLocation: { engine: 'redis', url: config.url, keyPrefix: config.keyPrefix },
      // aedes-persistence-redis comes with the cluster work; until then, aedes' in-memory one.
      mqttPersistence: undefined,
      close: async () => {
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
