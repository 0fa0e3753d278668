import { openLevelTopicLogs, type LevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
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
