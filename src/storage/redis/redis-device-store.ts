import type { DeviceStore, StoredDevice } from '../../registry/store.js'
import { LuaScript, type RedisConnection } from './connection.js'

// Devices on Redis. Keys under the engine's prefix P:
//   P dev:rec     HASH  device id → the record as JSON, without lastSeen
//   P dev:seen    HASH  device id → lastSeen (absent: null)
//   P dev:ids     ZSET  every device id, all with score 0: ZRANGEBYLEX lists them in byte order
//                       (ids are ASCII, so that is code-unit order) and pages with `after`
//
// lastSeen is a field of its own so that `touch` is one conditional write (a script that sets
// it only while the record exists) and can never bring back a removed device nor write back the
// other fields of a record a concurrent `put` replaced. `put` and `remove` are one MULTI each,
// reads of a record one MULTI (record and lastSeen from the same moment). One instance sends its
// writes on one connection, so writes to one id apply in call order.

// KEYS: rec, seen. ARGV: id, lastSeen.
const TOUCH = new LuaScript(`#!lua
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 0
`)

export const DEVICE_STORE_SCRIPTS = [TOUCH]

type Body = Omit<StoredDevice, 'lastSeen'>

export function redisDeviceStore (redis: RedisConnection): DeviceStore {
  const { client, prefix: P } = redis
  const recKey = `${P}dev:rec`
  const seenKey = `${P}dev:seen`
  const idsKey = `${P}dev:ids`

  const record = (json: string | null | undefined, lastSeen: string | null | undefined): StoredDevice | undefined => {
    if (json === null || json === undefined) return undefined
    const body = JSON.parse(json) as Body
    return { id: body.id, hash: body.hash, attributes: body.attributes, createdAt: body.createdAt, lastSeen: lastSeen ?? null }
  }

  return {
    async get (id) {
      const replies = await client.multi().hget(recKey, id).hget(seenKey, id).exec()
      return record(replies?.[0]?.[1] as string | null, replies?.[1]?.[1] as string | null)
    },
    async list (page) {
      const from = page?.after === undefined ? '-' : `(${page.after}`
      const ids = page?.limit === undefined
        ? await client.zrangebylex(idsKey, from, '+')
        : await client.zrangebylex(idsKey, from, '+', 'LIMIT', 0, page.limit)
      if (ids.length === 0) return []
      const replies = await client.multi().hmget(recKey, ...ids).hmget(seenKey, ...ids).exec()
      const bodies = replies?.[0]?.[1] as Array<string | null>
      const seen = replies?.[1]?.[1] as Array<string | null>
      const out: StoredDevice[] = []
      ids.forEach((_, i) => {
        const d = record(bodies[i], seen[i])
        if (d !== undefined) out.push(d)
      })
      return out
    },
    async put (device) {
      const body: Body = { id: device.id, hash: device.hash, attributes: device.attributes, createdAt: device.createdAt }
      const tx = client.multi().hset(recKey, device.id, JSON.stringify(body)).zadd(idsKey, 0, device.id)
      if (device.lastSeen === null) tx.hdel(seenKey, device.id)
      else tx.hset(seenKey, device.id, device.lastSeen)
      const replies = await tx.exec()
      for (const [err] of replies ?? []) if (err !== null) throw err
    },
    async remove (id) {
      const replies = await client.multi().hdel(recKey, id).zrem(idsKey, id).hdel(seenKey, id).exec()
      for (const [err] of replies ?? []) if (err !== null) throw err
      return replies?.[0]?.[1] === 1
    },
    async touch (id, lastSeen) {
      await TOUCH.run(client, [recKey, seenKey], [id, lastSeen])
    }
  }
}
