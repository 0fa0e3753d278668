import { openLevelDb, openMemoryDb, type LevelStore } from '../../src/storage/level/db.js'
import { tempDir } from './tmp.js'

// The embedded engines every contract suite runs against. A suite opens a store, builds the
// port it tests on it, and (for a durable engine) reopens the same store to check what
// survives a restart. A shared engine (Redis) brings its own fixture with the same shape.

export interface StoreHandle {
  store: LevelStore
  /** Closes the store and opens the same location again: a restart. Durable engines only. */
  reopen: () => Promise<LevelStore>
  cleanup: () => Promise<void>
}

export interface EmbeddedEngine {
  name: 'leveldb' | 'memory'
  /** Whether what is written survives a reopen. */
  durable: boolean
  open: () => Promise<StoreHandle>
}

export const EMBEDDED_ENGINES: readonly EmbeddedEngine[] = [
  {
    name: 'leveldb',
    durable: true,
    open: async () => {
      const dir = await tempDir()
      let store = await openLevelDb(dir.path)
      return {
        get store () { return store },
        reopen: async () => {
          await store.close()
          store = await openLevelDb(dir.path)
          return store
        },
        cleanup: async () => { await store.close(); await dir.remove() }
      }
    }
  },
  {
    name: 'memory',
    durable: false,
    open: async () => {
      const store = await openMemoryDb()
      return {
        store,
        reopen: async () => { throw new Error('the memory engine keeps nothing across a reopen') },
        cleanup: async () => { await store.close() }
      }
    }
  }
]
