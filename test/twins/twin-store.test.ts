import { systemClock } from '../../src/core/clock.js'
import type { TopicLog } from '../../src/log/types.js'
import type { LevelStore } from '../../src/storage/level/db.js'
import { openLevelTopicLogs, type LevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { levelTwinStore } from '../../src/storage/level/twin-store.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { openRedisTopicLogs, type RedisTopicLogs } from '../../src/storage/redis/redis-topic-log.js'
import { redisTwinStore, TWIN_STORE_SCRIPTS } from '../../src/storage/redis/redis-twin-store.js'
import type { TwinStore } from '../../src/twins/store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runTwinStoreContract } from './twin-store.contract.js'

// The TwinStore contract on every engine: the level adapter on leveldb and memory, the Redis
// adapter on a redis-server of this file (a fresh key prefix per case). Each with its store's
// log, where the `twins` topic is created as the twins module does.

const LOG = { clock: systemClock, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } }

async function openLevel (store: LevelStore, sync: boolean): Promise<{ twins: TwinStore, logs: LevelTopicLogs, log: TopicLog }> {
  const logs = await openLevelTopicLogs({ storage: store, sync, ...LOG })
  const log = logs.view()
  await log.createTopic('twins')
  return { twins: levelTwinStore(store, { sync, logs }), logs, log }
}

for (const engine of EMBEDDED_ENGINES) {
  runTwinStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      let opened = await openLevel(handle.store, engine.durable)
      return {
        store: opened.twins,
        log: opened.log,
        reopen: engine.durable
          ? async () => {
            await opened.logs.close()
            opened = await openLevel(await handle.reopen(), true)
            return { store: opened.twins, log: opened.log }
          }
          : undefined,
        cleanup: async () => { await opened.logs.close(); await handle.cleanup() }
      }
    }
  })
}

const redis = useRedisServer()
runTwinStoreContract('redis', {
  durable: true,
  open: async () => {
    const prefix = redis.freshPrefix()
    let opened: Array<{ conn: RedisConnection, logs: RedisTopicLogs }> = []
    const open = async (): Promise<{ store: TwinStore, log: TopicLog }> => {
      const conn = await redis.connect(prefix)
      await conn.loadScripts(TWIN_STORE_SCRIPTS)
      const logs = await openRedisTopicLogs({ redis: conn, ...LOG })
      opened.push({ conn, logs })
      const log = logs.view()
      await log.createTopic('twins')
      return { store: redisTwinStore(conn, logs), log }
    }
    const close = async (): Promise<void> => {
      const all = opened
      opened = []
      for (const { conn, logs } of all) { await logs.close(); await conn.close() }
    }
    const first = await open()
    return { ...first, reopen: async () => { await close(); return await open() }, cleanup: close }
  }
})
