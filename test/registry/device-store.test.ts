import { describe, expect, it } from 'vitest'
import type { DeviceStore, StoredDevice } from '../../src/registry/store.js'
import { levelDeviceStore } from '../../src/storage/level/device-store.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { DEVICE_STORE_SCRIPTS, redisDeviceStore } from '../../src/storage/redis/redis-device-store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useRedisServer } from '../helpers/redis.js'
import { runDeviceStoreContract } from './device-store.contract.js'

for (const engine of EMBEDDED_ENGINES) {
  runDeviceStoreContract(engine.name, {
    durable: engine.durable,
    open: async () => {
      const handle = await engine.open()
      return {
        devices: levelDeviceStore(handle.store),
        another: () => levelDeviceStore(handle.store),
        reopen: engine.durable ? async () => levelDeviceStore(await handle.reopen()) : undefined,
        cleanup: handle.cleanup
      }
    }
  })
}

// Data directories from before the port hold devices in the `devices` JSON sublevel, keyed
// by id, valued by the record; the adapter must read them and keep writing them so.
describe.each(EMBEDDED_ENGINES)('level device store layout: $name', (engine) => {
  const record: StoredDevice = { id: 'meter-7', hash: 'scrypt$2048$8$1$c2FsdA==$aGFzaA==', attributes: { site: 'north' }, createdAt: '2025-06-01T00:00:00.000Z', lastSeen: '2025-06-02T00:00:00.000Z' }

  it('reads a device stored in the devices sublevel under its id', async () => {
    const { store, cleanup } = await engine.open()
    try {
      await store.json('devices').put(record.id, record)
      const devices = levelDeviceStore(store)
      expect(await devices.get('meter-7')).toEqual(record)
      expect(await devices.list()).toEqual([record])
    } finally { await cleanup() }
  })

  it('writes a device to the devices sublevel under its id, and nothing else', async () => {
    const { store, cleanup } = await engine.open()
    try {
      const devices = levelDeviceStore(store)
      await devices.put(record)
      await devices.touch(record.id, '2025-07-01T00:00:00.000Z')
      expect(await store.json('devices').iterator().all()).toEqual([[record.id, { ...record, lastSeen: '2025-07-01T00:00:00.000Z' }]])
      expect(await store.db.keys().all()).toEqual([`!devices!${record.id}`])
    } finally { await cleanup() }
  })
})

// The redis engine: a redis-server of this file, a fresh key prefix per case; `another` is a
// second client on the same prefix (another gateway process), `reopen` a new client.
const redis = useRedisServer()
runDeviceStoreContract('redis', {
  durable: true,
  open: async () => {
    const prefix = redis.freshPrefix()
    const conns: RedisConnection[] = []
    const open = async (): Promise<DeviceStore> => {
      const conn = await redis.connect(prefix)
      conns.push(conn)
      await conn.loadScripts(DEVICE_STORE_SCRIPTS)
      return redisDeviceStore(conn)
    }
    const devices = await open()
    const other = await open()
    return {
      devices,
      another: () => other,
      reopen: open,
      cleanup: async () => { for (const c of conns) await c.close() }
    }
  }
})
