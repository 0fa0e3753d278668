import type { CommandStore } from '../../src/commands/store.js'
import { systemClock } from '../../src/core/clock.js'
import type { TopicLog } from '../../src/log/types.js'
import type { LevelStore } from '../../src/storage/level/db.js'
import { levelCommandStore, type LevelCommandStore } from '../../src/storage/level/command-store.js'
import { openLevelTopicLogs, type LevelTopicLogs } from '../../src/storage/level/topic-log.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { redisCommandStore } from '../../src/storage/redis/redis-command-store.js'
import { openRedisTopicLogs, type RedisTopicLogs } from '../../src/storage/redis/redis-topic-log.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runCommandStoreContract } from './command-store.contract.js'

// The CommandStore contract on every embedded engine, through the level adapter, with the
// store's log for transition events. Adapters are closed before their store, as the storage
// engine does.
async function openOn (store: LevelStore, sync: boolean): Promise<{ commands: LevelCommandStore, logs: LevelTopicLogs }> {
  const logs = await openLevelTopicLogs({ storage: store, clock: systemClock, sync, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
  return { commands: await levelCommandStore(store, { sync, logs }), logs }
}

for (const engine of EMBEDDED_ENGINES) {
  runCommandStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      let opened = await openOn(handle.store, engine.durable)
      const close = async (): Promise<void> => { await opened.commands.close(); await opened.logs.close() }
      return {
        store: opened.commands,
        log: opened.logs.view(),
        reopen: engine.durable
          ? async () => {
            await close()
            opened = await openOn(await handle.reopen(), true)
            return { store: opened.commands, log: opened.logs.view() }
          }
          : undefined,
        cleanup: async () => { await close(); await handle.cleanup() }
      }
    }
  })
}

// The redis engine: a redis-server of this file, a fresh key prefix per case; the store writes
// through the log's script, as the engine wires it; `reopen` is a new client on the same server.
const redis = useRedisServer()
runCommandStoreContract('redis', {
  durable: true,
  open: async () => {
    const prefix = redis.freshPrefix()
    let opened: Array<{ conn: RedisConnection, logs: RedisTopicLogs }> = []
    const open = async (): Promise<{ store: CommandStore, log: TopicLog }> => {
      const conn = await redis.connect(prefix)
      const logs = await openRedisTopicLogs({ redis: conn, clock: systemClock, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
      opened.push({ conn, logs })
      return { store: redisCommandStore(conn, logs), log: logs.view() }
    }
    const close = async (): Promise<void> => {
      const all = opened
      opened = []
      for (const { conn, logs } of all) { await logs.close(); await conn.close() }
    }
    const first = await open()
    return {
      ...first,
      reopen: async () => { await close(); return await open() },
      cleanup: close
    }
  }
})
