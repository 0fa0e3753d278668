import { LuaScript } from './connection.js'

// The Lua scripts of the namespace-topic log on Redis (redis-topic-log.ts explains the key
// layout and why each step must be one script). Each runs atomically in Redis.

// KEYS: per topic (head, seg, time, dedup) then the ops' keys. ARGV: channel, instance, now,
// number of topics, per topic (name, count, segment, number of keys, keys...: none, or one per
// event with '' for an event not indexed), number of ops, per op (command, index of its key in
// KEYS, number of arguments, arguments...).
//
// Every check comes before the first write, so a refused script writes nothing: missing topics
// ('missing', topic indexes), a deduplicating topic sent without keys ('keys', topic indexes:
// the caller did not know it deduplicates), duplicates ('dups', {topic index, event index}
// pairs: of the index, or of an earlier event of this batch). The caller drops what was named
// and runs the script again. A topic may come with no events (all were duplicates): nothing is
// written for it, the answer says where it stands. Per topic the answer is {gen, first offset,
// append time, deduplication window ms}.
export const APPEND = new LuaScript(`#!lua
local channel, instance, now, nt = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local missing = {}
for i = 1, nt do
  if redis.call('EXISTS', KEYS[4 * i - 3]) == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then return { 'missing', unpack(missing) } end
local topics, needKeys, dups = {}, {}, {}
local p = 5
for i = 1, nt do
  local tp = { name = ARGV[p], count = tonumber(ARGV[p + 1]), data = ARGV[p + 2], nk = tonumber(ARGV[p + 3]), k = p + 4 }
  p = p + 4 + tp.nk
  local h = redis.call('HMGET', KEYS[4 * i - 3], 'next', 'last', 'gen', 'dedup')
  tp.first, tp.gen, tp.t = tonumber(h[1]), h[3], now
  if tonumber(h[2]) > now then tp.t = tonumber(h[2]) end
  tp.window = (tonumber(h[4]) or 0) * 1000
  if tp.window > 0 and tp.count > 0 then
    if tp.nk == 0 then
      needKeys[#needKeys + 1] = i
    else
      -- A duplicate: appended less than the window before this append's time.
      local seen, dkey = {}, KEYS[4 * i]
      for j = 1, tp.nk do
        local key = ARGV[tp.k + j - 1]
        if key ~= '' then
          local s = seen[key] or redis.call('ZSCORE', dkey, key)
          if s == true or (s and tp.t - tonumber(s) < tp.window) then
            dups[#dups + 1] = { i, j }
          else
            seen[key] = true
          end
        end
      end
    end
  end
  topics[i] = tp
end
if #needKeys > 0 then return { 'keys', unpack(needKeys) } end
if #dups > 0 then return { 'dups', dups } end
local out = {}
for i = 1, nt do
  local tp = topics[i]
  local head, seg, tix, dkey = KEYS[4 * i - 3], KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  local ts = string.format('%.17g', tp.t)
  if tp.count > 0 then
    local data = tp.data
    if tp.t ~= now then data = string.sub(data, 1, 5) .. struct.pack('<d', tp.t) .. string.sub(data, 14) end
    local size = string.len(data)
    local nxt = string.format('%.0f', tp.first + tp.count)
    redis.call('XADD', seg, string.format('%.0f-1', tp.first), 's', data)
    redis.call('ZADD', tix, ts, string.format('%016.0f:%d:%d', tp.first, tp.count, size))
    redis.call('HSET', head, 'next', nxt, 'last', ts)
    redis.call('HINCRBY', head, 'bytes', size)
    redis.call('PUBLISH', channel, instance .. ' ' .. nxt .. ' ' .. tp.name)
    if tp.window > 0 then
      redis.call('ZREMRANGEBYSCORE', dkey, '-inf', string.format('%.17g', tp.t - tp.window))
      for j = 1, tp.nk do
        local key = ARGV[tp.k + j - 1]
        if key ~= '' then redis.call('ZADD', dkey, ts, key) end
      end
    end
  end
  out[i] = { tp.gen, string.format('%.0f', tp.first), ts, string.format('%.0f', tp.window) }
end
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

// KEYS: topics, gen, head, seg, time, dedup. ARGV: name, now, retention JSON, deduplication
// window seconds ('' keeps what is stored). Turning deduplication off forgets the index, so
// turning it on again starts empty.
export const CREATE = new LuaScript(`#!lua
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[3], 'ret', ARGV[3]) end
  if ARGV[4] ~= '' then
    redis.call('HSET', KEYS[3], 'dedup', ARGV[4])
    if tonumber(ARGV[4]) == 0 then redis.call('DEL', KEYS[6]) end
  end
  return { 0, redis.call('HGETALL', KEYS[3]) }
end
local gen = redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('HSET', KEYS[1], ARGV[1], gen)
local ret = ARGV[3]
if ret == '' then ret = '{}' end
local dedup = ARGV[4]
if dedup == '' then dedup = '0' end
redis.call('HSET', KEYS[3], 'gen', gen, 'created', ARGV[2], 'ret', ret, 'next', 0, 'first', 0, 'bytes', 0, 'last', 0, 'dedup', dedup)
return { 1, redis.call('HGETALL', KEYS[3]) }
`)

// KEYS: topics, head, seg, time, dedup. ARGV: name, notice channel, instance. The notice
// `{instance} - {topic}` tells readers on other instances to drop what they read ahead.
export const DELETE = new LuaScript(`#!lua
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' - ' .. ARGV[1])
return 1
`)

// KEYS: head, seg, time. ARGV: gen, first as read, segments to remove, new first offset, bytes
// removed, notice channel, instance, topic (the notice as DELETE's).
export const TRIM = new LuaScript(`#!lua
local h = redis.call('HMGET', KEYS[1], 'gen', 'first')
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[4] .. '-0')
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, tonumber(ARGV[3]) - 1)
redis.call('HSET', KEYS[1], 'first', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'bytes', 0 - tonumber(ARGV[5]))
redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' - ' .. ARGV[8])
return 1
`)

export const TOPIC_LOG_SCRIPTS = [APPEND, CREATE, DELETE, TRIM]
