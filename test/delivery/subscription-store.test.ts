import type { SubscriptionStore } from '../../src/delivery/store.js'
import { levelSubscriptionStore } from '../../src/storage/level/subscription-store.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { redisSubscriptionStore } from '../../src/storage/redis/redis-subscription-store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runSubscriptionStoreContract } from './subscription-store.contract.js'

for (const engine of EMBEDDED_ENGINES) {
  runSubscriptionStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      return {
        store: levelSubscriptionStore(handle.store),
        reopen: engine.durable ? async () => levelSubscriptionStore(await handle.reopen()) : undefined,
        cleanup: handle.cleanup
      }
    }
  })
}

// The redis engine: a redis-server of this file, a fresh key prefix per case; `reopen` is a new
// client on the same server.
const redis = useRedisServer()
runSubscriptionStoreContract('redis', {
  durable: true,
  open: async () => {
    const prefix = redis.freshPrefix()
    const conns: RedisConnection[] = []
    const open = async (): Promise<SubscriptionStore> => {
      const conn = await redis.connect(prefix)
      conns.push(conn)
      return redisSubscriptionStore(conn)
    }
    return {
      store: await open(),
      reopen: open,
      cleanup: async () => { for (const c of conns) await c.close() }
    }
  }
})
