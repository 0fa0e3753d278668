import { openTopicLog } from '../../src/log/topic-log.js'
import { openStorage, type Storage } from '../../src/storage/db.js'
import { tempDir } from '../helpers/tmp.js'
import { runTopicLogContract } from './topic-log.contract.js'

for (const [name, cacheBytes] of [['LevelDB segments, read through the segment cache', 64 * 1024 * 1024], ['LevelDB segments, no cache', 0]] as const) {
  runTopicLogContract(name, {
    open: async (clock, defaults) => {
      const dir = await tempDir()
      let storage: Storage | undefined
      const open = async () => {
        await storage?.close()
        storage = await openStorage(dir.path)
        return await openTopicLog({
          storage,
          clock,
          sync: false,
          maxBatchEvents: 10_000,
          maxBatchBytes: 8 * 1024 * 1024,
          defaultRetention: { maxAgeSeconds: 0, maxBytes: 0, ...defaults },
          cacheBytes
        })
      }
      const log = await open()
      return {
        log,
        reopen: open,
        cleanup: async () => { await storage?.close(); await dir.remove() }
      }
    }
  })
}
