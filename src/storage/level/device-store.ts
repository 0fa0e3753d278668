import type { DeviceStore, StoredDevice } from '../../registry/store.js'
import type { Db, LevelStore } from './db.js'

// Devices on an abstract-level store: the `devices` JSON sublevel, key = device id, value =
// the StoredDevice record. This is the layout data directories had before the port, so they
// open unchanged.
//
// `touch` (and `remove`, to report whether the device existed) read and then write, so the
// writes to one id run one after another: otherwise a touch could write back a device that a
// concurrent remove deleted, or the attributes a concurrent put replaced. The queues belong to
// the database, so adapters over the same store share them.

const queuesByDb = new WeakMap<Db, Map<string, Promise<void>>>()

export function levelDeviceStore (store: LevelStore): DeviceStore {
  const db = store.json('devices')
  const tails = queuesByDb.get(store.db) ?? new Map<string, Promise<void>>()
  queuesByDb.set(store.db, tails)

  const serially = <T>(id: string, write: () => Promise<T>): Promise<T> => {
    const run = (tails.get(id) ?? Promise.resolve()).then(write)
    const tail = run.then(() => undefined, () => undefined)
    tails.set(id, tail)
    void tail.then(() => { if (tails.get(id) === tail) tails.delete(id) })
    return run
  }

  return {
    get: async (id) => await db.get(id) as StoredDevice | undefined,
    async list (page) {
      const range = page?.after === undefined ? {} : { gt: page.after }
      return await db.values({ ...range, limit: page?.limit ?? -1 }).all() as StoredDevice[]
    },
    put (device) {
      // Copied now: the caller may change its object before the queued write runs.
      const record: StoredDevice = { id: device.id, hash: device.hash, attributes: { ...device.attributes }, createdAt: device.createdAt, lastSeen: device.lastSeen }
      return serially(record.id, () => db.put(record.id, record))
    },
    remove: (id) => serially(id, async () => {
      if (await db.get(id) === undefined) return false
      await db.del(id)
      return true
    }),
    touch: (id, lastSeen) => serially(id, async () => {
      const record = await db.get(id) as StoredDevice | undefined
      if (record !== undefined) await db.put(id, { ...record, lastSeen })
    })
  }
}
