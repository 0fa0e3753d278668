import { ManualClock } from '../../src/core/clock.js'
import { createLocalNodeStore } from '../../src/registry/nodes.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { NODE_STORE_SCRIPTS, redisNodeStore } from '../../src/storage/redis/redis-node-store.js'
import { useRedisServer } from '../helpers/redis.js'
import { pause } from '../helpers/wait.js'
import { runNodeStoreContract } from './node-store.contract.js'

// In this process (the embedded engines' cluster of one), on a manual clock.
runNodeStoreContract('in-process', {
  open: async () => {
    const clock = new ManualClock()
    const nodes = createLocalNodeStore(clock)
    return { nodes, another: () => nodes, elapse: async (ms) => { clock.advance(ms) }, cleanup: async () => {} }
  }
})

// On Redis: a redis-server of this file, a fresh key prefix per case, `another` a second
// client on the same prefix. Expiry is Redis' (PX), so `elapse` is real time: the time that
// passes is what these cases test.
const redis = useRedisServer()
runNodeStoreContract('redis', {
  open: async () => {
    const prefix = redis.freshPrefix()
    const conns: RedisConnection[] = []
    const open = async (): Promise<RedisConnection> => {
      const conn = await redis.connect(prefix)
      await conn.loadScripts(NODE_STORE_SCRIPTS)
      conns.push(conn)
      return conn
    }
    const first = redisNodeStore(await open())
    const second = redisNodeStore(await open())
    return {
      nodes: first,
      another: () => second,
      elapse: pause,
      cleanup: async () => { for (const c of conns) await c.close() }
    }
  }
})
