import type { PresenceRecord, PresenceStore } from '../../registry/presence.js'
import { LuaScript, num, type RedisConnection } from './connection.js'

// Presence records of a cluster on Redis (registry/presence.ts). Keys under the engine's prefix P:
//   P pres:d          HASH  device id → its record as JSON (node, connection, transport, since)
//   P pres:n:{node}   HASH  device id → connection id: the connections a node holds (its index)
//   P pres:nodes      ZSET  the nodes with a non-empty index; score 0 once the node was seen
//                           live (its heartbeat key P node:n:{node}, redis-node-store.ts,
//                           existed), otherwise the Redis time (ms) of its first record, or
//                           minus the time it said it was stopping (`leaving`)
// A record and its index entry are written and removed together, each step one script, so no
// two callers can both remove one record (the compare-and-delete that makes every
// device.disconnected exactly once). Scripts build the index and heartbeat keys from the
// prefix (as redis-node-store.ts' LIST does): on a Redis Cluster the prefix's hash tag keeps
// them in one slot. The scripts read Redis' TIME, so every node's "since" is on one clock.

const DECODE = `
local function decode (json)
  if not json then return nil end
  local ok, r = pcall(cjson.decode, json)
  if ok and type(r) == 'table' then return r end
  return nil
end
local function now ()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function unindex (nodes, prefix, node, device, connection)
  local idx = prefix .. node
  if redis.call('HGET', idx, device) == connection then redis.call('HDEL', idx, device) end
  if redis.call('HLEN', idx) == 0 then redis.call('ZREM', nodes, node) end
end
`

// KEYS: pres:d, pres:nodes. ARGV: device id, record JSON, node, connection, index prefix, heartbeat key prefix.
const CLAIM = new LuaScript(`#!lua
${DECODE}
local prevJson = redis.call('HGET', KEYS[1], ARGV[1])
local prev = decode(prevJson)
if prev then unindex(KEYS[2], ARGV[5], prev.node, ARGV[1], prev.connection) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', ARGV[5] .. ARGV[3], ARGV[1], ARGV[4])
local score = redis.call('ZSCORE', KEYS[2], ARGV[3])
if not (score and tonumber(score) < 0) then
  if redis.call('EXISTS', ARGV[6] .. ARGV[3]) == 1 then
    redis.call('ZADD', KEYS[2], 0, ARGV[3])
  else
    redis.call('ZADD', KEYS[2], 'NX', now(), ARGV[3])
  end
end
return prevJson
`)

// KEYS: pres:d, pres:nodes. ARGV: device id, connection, index prefix, node.
// The index entry goes even when the record names another connection: it was stale.
const RELEASE = new LuaScript(`#!lua
${DECODE}
local json = redis.call('HGET', KEYS[1], ARGV[1])
local r = decode(json)
local mine = r ~= nil and r.connection == ARGV[2]
if mine then redis.call('HDEL', KEYS[1], ARGV[1]) end
unindex(KEYS[2], ARGV[3], ARGV[4], ARGV[1], ARGV[2])
if mine then return json end
return false
`)

// KEYS: pres:d, pres:nodes. ARGV: device id, index prefix.
const REMOVE = new LuaScript(`#!lua
${DECODE}
local json = redis.call('HGET', KEYS[1], ARGV[1])
if not json then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
local r = decode(json)
if r then unindex(KEYS[2], ARGV[2], r.node, ARGV[1], r.connection) end
return json
`)

// KEYS: pres:nodes. ARGV: heartbeat key prefix, grace ms. Nodes seen live get score 0.
const ORPHANS = new LuaScript(`#!lua
${DECODE}
local out = {}
local t = now()
local flat = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #flat, 2 do
  local node, since = flat[i], tonumber(flat[i + 1])
  if since < 0 then
    if t + since > tonumber(ARGV[2]) then out[#out + 1] = node end
  elseif redis.call('EXISTS', ARGV[1] .. node) == 1 then
    if since ~= 0 then redis.call('ZADD', KEYS[1], 0, node) end
  elseif since == 0 or t - since > tonumber(ARGV[2]) then
    out[#out + 1] = node
  end
end
return out
`)

// KEYS: pres:nodes. ARGV: node. A stopping node: judged like one never seen live, from now.
const LEAVING = new LuaScript(`#!lua
${DECODE}
redis.call('ZADD', KEYS[1], 'XX', 0 - now(), ARGV[1])
return 0
`)

export const PRESENCE_STORE_SCRIPTS = [CLAIM, RELEASE, REMOVE, ORPHANS, LEAVING]

export function redisPresenceStore (redis: RedisConnection): PresenceStore {
  const { client, prefix: P } = redis
  const recordsKey = `${P}pres:d`
  const nodesKey = `${P}pres:nodes`
  const indexPrefix = `${P}pres:n:`
  const heartbeatPrefix = `${P}node:n:`
  const parse = (json: unknown): PresenceRecord | undefined => typeof json === 'string' ? JSON.parse(json) as PresenceRecord : undefined

  return {
    async claim (record) {
      const json = JSON.stringify({ deviceId: record.deviceId, node: record.node, connection: record.connection, transport: record.transport, since: record.since })
      return parse(await CLAIM.run(client, [recordsKey, nodesKey], [record.deviceId, json, record.node, record.connection, indexPrefix, heartbeatPrefix]))
    },
    release: async (deviceId, node, connection) => parse(await RELEASE.run(client, [recordsKey, nodesKey], [deviceId, connection, indexPrefix, node])),
    remove: async (deviceId) => parse(await REMOVE.run(client, [recordsKey, nodesKey], [deviceId, indexPrefix])),
    async get (deviceIds) {
      if (deviceIds.length === 0) return []
      return (await client.hmget(recordsKey, ...deviceIds)).map(parse)
    },
    ofNode: async (node) => new Map(Object.entries(await client.hgetall(indexPrefix + node))),
    async count (nodes) {
      if (nodes.length === 0) return []
      const tx = client.multi()
      for (const n of nodes) tx.hlen(indexPrefix + n)
      const replies = await tx.exec()
      return (replies ?? []).map(([err, n]) => err === null ? Number(n) : 0)
    },
    orphans: async (graceMs) => (await ORPHANS.run(client, [nodesKey], [heartbeatPrefix, num(graceMs)]) as string[]).sort(),
    leaving: async (node) => { await LEAVING.run(client, [nodesKey], [node]) }
  }
}
