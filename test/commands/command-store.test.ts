import { levelCommandStore, type LevelCommandStore } from '../../src/storage/level/command-store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { runCommandStoreContract } from './command-store.contract.js'

// The CommandStore contract on every embedded engine, through the level adapter. The adapter
// is closed before its store, as the storage engine does.
for (const engine of EMBEDDED_ENGINES) {
  runCommandStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      let store: LevelCommandStore = await levelCommandStore(handle.store, { sync: engine.durable })
      return {
        store,
        reopen: engine.durable
          ? async () => {
            await store.close()
            store = await levelCommandStore(await handle.reopen(), { sync: true })
            return store
          }
          : undefined,
        cleanup: async () => { await store.close(); await handle.cleanup() }
      }
    }
  })
}
