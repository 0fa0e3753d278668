import { openLevelTopicLogs, type LevelTopicLogs } from '../../src/storage/level/topic-log.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { openRedisTopicLogs, type RedisTopicLogs } from '../../src/storage/redis/redis-topic-log.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runTopicLogContract } from './topic-log.contract.js'

// The TopicLog contract on every embedded engine, with and without the segment cache.
for (const engine of EMBEDDED_ENGINES) {
  for (const [variant, cacheBytes] of [['read through the segment cache', 64 * 1024 * 1024], ['no cache', 0]] as const) {
    runTopicLogContract(`${engine.name}, ${variant}`, {
      open: async (clock, defaults) => {
        const handle = await engine.open()
        let logs: LevelTopicLogs | undefined
        const open = async (): Promise<LevelTopicLogs> => await openLevelTopicLogs({
          storage: handle.store,
          clock,
          sync: false,
          maxBatchEvents: 10_000,
          maxBatchBytes: 8 * 1024 * 1024,
          defaultRetention: { maxAgeSeconds: 0, maxBytes: 0, ...defaults },
          cacheBytes
        })
        logs = await open()
        return {
          log: logs.view(),
          another: async () => (logs as LevelTopicLogs).view(),
          reopen: engine.durable
            ? async () => {
              await logs?.close()
              await handle.reopen()
              logs = await open()
              return logs.view()
            }
            : undefined,
          cleanup: async () => { await logs?.close(); await handle.cleanup() }
        }
      }
    }, engine.durable)
  }
}

// The same contract on the redis engine: a redis-server of this file, a fresh key prefix per
// case. `another` is a second core on its own connections, as another node would open it, and
// `reopen` a new client on the same server (what Redis acknowledged is still there).
const redis = useRedisServer()
for (const [variant, cacheBytes] of [['read through the segment cache', 64 * 1024 * 1024], ['no cache', 0]] as const) {
  runTopicLogContract(`redis, ${variant}`, {
    open: async (clock, defaults) => {
      const prefix = redis.freshPrefix()
      let open: Array<{ conn: RedisConnection, logs: RedisTopicLogs }> = []
      const core = async (): Promise<RedisTopicLogs> => {
        const conn = await redis.connect(prefix)
        const logs = await openRedisTopicLogs({
          redis: conn,
          clock,
          maxBatchEvents: 10_000,
          maxBatchBytes: 8 * 1024 * 1024,
          defaultRetention: { maxAgeSeconds: 0, maxBytes: 0, ...defaults },
          cacheBytes
        })
        open.push({ conn, logs })
        return logs
      }
      const closeAll = async (): Promise<void> => {
        const all = open
        open = []
        for (const { conn, logs } of all) { await logs.close(); await conn.close() }
      }
      return {
        log: (await core()).view(),
        another: async () => (await core()).view(),
        reopen: async () => { await closeAll(); return (await core()).view() },
        cleanup: closeAll
      }
    }
  }, true)
}
