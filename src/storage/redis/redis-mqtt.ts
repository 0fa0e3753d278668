import { createRequire } from 'node:module'
import type { RedisConfig } from './connection.js'

// MQTT state of a cluster on Redis, with aedes' own adapters:
// - mqemitter-redis carries every message aedes publishes (devices', wills, the gateway's own,
//   and aedes' internal `$SYS/{brokerId}/…` messages that keep the nodes' subscription tables
//   in step and take over a client id connected to another node) through Redis pub/sub to
//   every node, which hands it to its own subscribers. Pub/sub is at most once: a node that is
//   not connected to Redis when a message passes misses it.
// - aedes-persistence-redis keeps sessions, subscriptions, offline QoS 1/2 queues, retained
//   messages and wills in Redis, so a persistent session moves with its client to any node.
//
// Both bring ioredis 5 of their own (gridgate's adapters use ioredis 6): they are loaded with
// require (CommonJS, without types for the parts used here) and the persistence is given a
// connection made with its own ioredis, so it gets an error listener and a name. Keys and
// channels are under the engine's prefix P:
//   P mqtt:…       keys of aedes-persistence-redis (client:{id}, clients, outgoing:{id},
//                  packet:{broker}:{n}, retained, will:…), by ioredis' `keyPrefix` option: the
//                  persistence sends only plain key commands on a standalone server (no
//                  scripts, no SCAN), which ioredis prefixes
//   P mqtt:{topic} pub/sub channels of mqemitter-redis (its MQEmitterRedisPrefix)
// mqemitter-redis subscribes a filter without wildcards to its channel and one with wildcards
// to a glob pattern ('+' and '#' become '*'); every node then matches what arrives against the
// MQTT filters itself, so a glob that matches too much costs traffic only. A filter holding
// Redis' own glob characters ('[', '\') can match less than MQTT would: such a subscriber on
// one node may miss messages published on another.

const require = createRequire(import.meta.url)

interface Emitter {
  state: NodeJS.EventEmitter
  close: (cb: () => void) => void
}
type EmitterClass = new (prefix: string, options: Record<string, unknown>) => Emitter

interface Persistence {
  destroy: () => Promise<void>
}

interface IoRedis5 extends NodeJS.EventEmitter {
  disconnect: () => void
}
type IoRedis5Class = new (url: string, options: Record<string, unknown>) => IoRedis5

export interface RedisMqtt {
  /** The mqemitter for aedes' `mq` option. */
  emitter: unknown
  /** The aedes persistence. */
  persistence: unknown
  /** Closes both (aedes closes the emitter itself when it closes; closing twice is harmless). */
  close: () => Promise<void>
}

export function openRedisMqtt (config: RedisConfig, onError: (err: unknown) => void): RedisMqtt {
  const prefix = `${config.keyPrefix}mqtt:`
  const { MQEmitterRedisPrefix } = require('mqemitter-redis') as { MQEmitterRedisPrefix: EmitterClass }
  const persistenceFactory = require('aedes-persistence-redis') as (opts: Record<string, unknown>) => Persistence
  const IoRedis = createRequire(require.resolve('aedes-persistence-redis'))('ioredis') as { Redis: IoRedis5Class }

  // concurrency and matchEmptyLevels as aedes sets them on its own in-process emitter
  // (matchEmptyLevels: 'a/#' matches 'a', [MQTT-4.7.1-3]).
  const emitter = new MQEmitterRedisPrefix(prefix, { connectionString: config.url, concurrency: 100, matchEmptyLevels: true })
  // mqemitter-redis reports its connections' errors on `state`; unheard, an 'error' event throws.
  emitter.state.on('error', onError)
  const conn = new IoRedis.Redis(config.url, { keyPrefix: prefix, connectionName: 'gridgate-mqtt' })
  conn.on('error', onError)
  const persistence = persistenceFactory({ conn })

  let closing: Promise<void> | undefined
  return {
    emitter,
    persistence,
    close: async () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => { emitter.close(resolve) })
        // destroy() unsubscribes from aedes (a closed emitter by now) and disconnects; it throws
        // when aedes never set the persistence up (a start that failed before the broker).
        try { await persistence.destroy() } catch { conn.disconnect() }
      })()
      await closing
    }
  }
}
