import type { NodeRecord, NodeStore } from '../../registry/nodes.js'
import { LuaScript, num, type RedisConnection } from './connection.js'

// The nodes of a cluster on Redis (registry/nodes.ts). Keys under the engine's prefix P:
//   P node:n:{id}  STRING  the node's record as JSON plus the `instance` that wrote it, with a
//                          PX expiry of cluster.heartbeatExpiryMs refreshed by every heartbeat:
//                          the key exists exactly while the node is live, timed by Redis' clock
//   P node:ids     ZSET    every node id announced and not yet seen gone, all with score 0
//                          (listed in id order), so the live nodes are found without a SCAN of
//                          the keyspace; an id whose key has expired leaves it at the next list
// Each is one script: announce and withdraw check the instance and write in one step, so two
// processes with one id cannot interleave; list reads every record at one moment.

// KEYS: the node's key, ids. ARGV: record JSON (with instance), instance, expiry ms, id.
const ANNOUNCE = new LuaScript(`#!lua
local current = redis.call('GET', KEYS[1])
if current then
  local ok, held = pcall(cjson.decode, current)
  if ok and type(held) == 'table' and held.instance ~= ARGV[2] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[4])
return 1
`)

// KEYS: the node's key, ids. ARGV: instance, id.
const WITHDRAW = new LuaScript(`#!lua
local current = redis.call('GET', KEYS[1])
if current then
  local ok, held = pcall(cjson.decode, current)
  if ok and type(held) == 'table' and held.instance ~= ARGV[1] then return 0 end
  redis.call('DEL', KEYS[1])
end
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
`)

// KEYS: ids. ARGV: the prefix of node keys. The records of live nodes, by id; gone ones leave the index.
const LIST = new LuaScript(`#!lua
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local record = redis.call('GET', ARGV[1] .. id)
  if record then out[#out + 1] = record else redis.call('ZREM', KEYS[1], id) end
end
return out
`)

export const NODE_STORE_SCRIPTS = [ANNOUNCE, WITHDRAW, LIST]

export function redisNodeStore (redis: RedisConnection): NodeStore {
  const { client, prefix: P } = redis
  const keyPrefix = `${P}node:n:`
  const idsKey = `${P}node:ids`
  return {
    async announce (record, instance, expiryMs) {
      const json = JSON.stringify({ ...record, instance })
      return await ANNOUNCE.run(client, [keyPrefix + record.id, idsKey], [json, instance, num(expiryMs), record.id]) === 1 ? 'ok' : 'taken'
    },
    async withdraw (id, instance) {
      await WITHDRAW.run(client, [keyPrefix + id, idsKey], [instance, id])
    },
    async list () {
      const records = await LIST.run(client, [idsKey], [keyPrefix]) as string[]
      return records.map((json) => {
        const { instance: _, ...record } = JSON.parse(json) as NodeRecord & { instance: string }
        return record
      })
    }
  }
}
