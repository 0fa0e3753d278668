import { ManualClock } from '../../src/core/clock.js'
import { createLocalNodeStore } from '../../src/registry/nodes.js'
import { createLocalPresenceStore } from '../../src/registry/presence.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { NODE_STORE_SCRIPTS, redisNodeStore } from '../../src/storage/redis/redis-node-store.js'
import { PRESENCE_STORE_SCRIPTS, redisPresenceStore } from '../../src/storage/redis/redis-presence-store.js'
import { useRedisServer } from '../helpers/redis.js'
import { runPresenceStoreContract } from './presence-store.contract.js'

// In this process (the embedded engines'): `another` is the same store, as one process is.
runPresenceStoreContract('in-process', {
  open: async () => {
    const clock = new ManualClock()
    const nodes = createLocalNodeStore(clock)
    const presence = createLocalPresenceStore(clock, nodes)
    return { presence, another: () => presence, nodes, cleanup: async () => {} }
  }
})

// On Redis: a fresh key prefix per case, `another` a store on a connection of its own.
const redis = useRedisServer()
runPresenceStoreContract('redis', {
  open: async () => {
    const prefix = redis.freshPrefix()
    const conns: RedisConnection[] = []
    const open = async (): Promise<RedisConnection> => {
      const conn = await redis.connect(prefix)
      await conn.loadScripts([...NODE_STORE_SCRIPTS, ...PRESENCE_STORE_SCRIPTS])
      conns.push(conn)
      return conn
    }
    const first = await open()
    const second = redisPresenceStore(await open())
    return {
      presence: redisPresenceStore(first),
      another: () => second,
      nodes: redisNodeStore(first),
      cleanup: async () => { for (const c of conns) await c.close() }
    }
  }
})
