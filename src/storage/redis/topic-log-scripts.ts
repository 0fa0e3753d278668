import { LuaScript } from './connection.js'

// The Lua scripts of the namespace-topic log on Redis (redis-topic-log.ts explains the key
// layout and why each step must be one script). Each runs atomically in Redis.

// KEYS: per topic (head, seg, time) then the ops' keys. ARGV: channel, instance, now, number of
// topics, per topic (name, count, segment), number of ops, per op (command, index of its key in
// KEYS, number of arguments, arguments...).
export const APPEND = new LuaScript(`#!lua
local channel, instance, now, nt = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local missing = {}
for i = 1, nt do
  if redis.call('EXISTS', KEYS[3 * i - 2]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return { 'missing', unpack(missing) } end
local out = {}
for i = 1, nt do
  local head, seg, tix = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local a = 4 + 3 * (i - 1)
  local name, count, data = ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]
  local h = redis.call('HMGET', head, 'next', 'last', 'gen')
  local first, last = tonumber(h[1]), tonumber(h[2])
  local t = now
  if last > t then
    t = last
    data = string.sub(data, 1, 5) .. struct.pack('<d', t) .. string.sub(data, 14)
  end
  local size = string.len(data)
  local nxt = string.format('%.0f', first + count)
  local ts = string.format('%.17g', t)
  redis.call('XADD', seg, string.format('%.0f-1', first), 's', data)
  redis.call('ZADD', tix, ts, string.format('%016.0f:%d:%d', first, count, size))
  redis.call('HSET', head, 'next', nxt, 'last', ts)
  redis.call('HINCRBY', head, 'bytes', size)
  redis.call('PUBLISH', channel, instance .. ' ' .. nxt .. ' ' .. name)
  out[i] = { h[3], string.format('%.0f', first), ts }
end
local p = 5 + 3 * nt
local nops = tonumber(ARGV[p])
p = p + 1
for j = 1, nops do
  local n = tonumber(ARGV[p + 2])
  local args = {}
  for k = 1, n do args[k] = ARGV[p + 2 + k] end
  redis.call(ARGV[p], KEYS[tonumber(ARGV[p + 1])], unpack(args))
  p = p + 3 + n
end
return out
`)

// KEYS: topics, gen, head, seg, time. ARGV: name, now, retention JSON ('' keeps what is stored).
export const CREATE = new LuaScript(`#!lua
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], 'ret', ARGV[3]) end
  return { 0, redis.call('HGETALL', KEYS[3]) }
end
local gen = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], ARGV[1], gen)
local ret = ARGV[3]
if ret == '' then ret = '{}' end
redis.call('HSET', KEYS[3], 'gen', gen, 'created', ARGV[2], 'ret', ret, 'next', 0, 'first', 0, 'bytes', 0, 'last', 0)
return { 1, redis.call('HGETALL', KEYS[3]) }
`)

// KEYS: topics, head, seg, time. ARGV: name.
export const DELETE = new LuaScript(`#!lua
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4])
return 1
`)

// KEYS: head, seg, time. ARGV: gen, first as read, segments to remove, new first offset, bytes removed.
export const TRIM = new LuaScript(`#!lua
local h = redis.call('HMGET', KEYS[1], 'gen', 'first')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4] .. '-0')
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, tonumber(ARGV[3]) - 1)
redis.call('HSET', KEYS[1], 'first', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'bytes', 0 - tonumber(ARGV[5]))
return 1
`)

export const TOPIC_LOG_SCRIPTS = [APPEND, CREATE, DELETE, TRIM]
