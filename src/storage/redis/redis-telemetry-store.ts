import { randomUUID } from 'node:crypto'
import { GridgateError } from '../../core/errors.js'
import { leaseValue } from '../../core/leases.js'
import { aggregateFromRecord, aggregateRecord } from '../../telemetry/aggregate.js'
import type { AggregateJSON, LastValue, OperatorSnapshot, StoredWindow, StreamCheckpoint, StreamState, TelemetryChange, TelemetryStore } from '../../telemetry/store.js'
import { execMulti, LuaScript, num, type RedisArg, type RedisConnection } from './connection.js'

// Telemetry on Redis. Keys under the engine's prefix P:
//   P tm:windows              HASH  window name → { definition, createdAt } as JSON
//   P tm:s:{source}           HASH  `c` → the source stream's checkpoint (JSON);
//                                   `p!{deviceId}` → the device's event-time policy snapshot (bytes)
//   P tm:s:{source}:w         SET   the windows that have operator snapshots in this stream
//   P tm:s:{source}:o:{window} HASH `{deviceId}!{metric}` → a window operator snapshot (bytes)
//   P tm:r:{deviceId}!{metric} ZSET score = bucket end (ms), member = `{end}|{AggregateRecord}`: the
//                                   rollups of one series, read by end range, trimmed by end
//   P tm:l:{deviceId}         HASH  metric → { value, time } of the newest reading (JSON)
//   P tm:ldev                 SET   the devices that have last values (what rollup retention walks)
// Names, device ids and metrics hold no '!' (core/names.ts, window-spec.ts, source.ts), so
// `{deviceId}!{metric}` splits at its first '!'.
//
// A commit is one MULTI/EXEC of its changes in order (everything visible or nothing; a later
// change of the same thing wins), serialised before anything is sent, so a change that cannot be
// stored fails the commit with nothing written. A bucket is replaced by removing its end's member
// and adding the new one in the same transaction. `loadStream` is one read-only script, so it
// sees one commit or the next, never part of one. A commit is as durable as Redis makes every
// write (connection.ts): `sync` changes nothing here.
//
// On a cluster a stream's commit is fenced by its lease (`P sub:lease:$telemetry!{source}`,
// the lease keys of redis-subscription-store.ts): the same changes go through one script that
// applies them only while that key holds the stream's lease, so a node that lost the stream
// (paused past its lease, cut off) cannot overwrite the new owner's state.

// KEYS: the stream's hash, its window set. ARGV: the operator key prefix (`P tm:s:{source}:o:`).
// Returns [hash as flat pairs, [window, flat pairs of its operators]...].
// KEYS: the lease, the staged ops (a LIST of chunks). ARGV: the lease value. Each chunk holds
// ops back to back, each op: its number of parts (u8), then per part a u32 LE length and the
// bytes (the command, its key, its arguments). Applied in order only while the lease stands;
// the staged list goes either way. 1 when applied, 0 when fenced out.
const FENCED_APPLY = new LuaScript(`#!lua
local ok = redis.call('GET', KEYS[1]) == ARGV[1]
if ok then
  for _, chunk in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local pos, len = 1, string.len(chunk)
    while pos <= len do
      local n = string.byte(chunk, pos)
      pos = pos + 1
      local parts = {}
      for k = 1, n do
        local size = struct.unpack('<I4', chunk, pos)
        parts[k] = string.sub(chunk, pos + 4, pos + 3 + size)
        pos = pos + 4 + size
      end
      redis.call(unpack(parts))
    end
  end
end
redis.call('DEL', KEYS[2])
if ok then return 1 end
return 0
`)

const LOAD_STREAM = new LuaScript(`#!lua flags=no-writes
local out = { redis.call('HGETALL', KEYS[1]) }
for _, w in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  out[#out + 1] = { w, redis.call('HGETALL', ARGV[1] .. w) }
end
return out
`)

// KEYS: the device's last values, the device set, then one rollup key per metric. ARGV: the cutoff,
// the device id, then the metrics (in the order of their rollup keys). Removes the buckets
// through the cutoff and the last values read by then; forgets the device when none is left.
const TRIM_DEVICE = new LuaScript(`#!lua
local cutoff = tonumber(ARGV[1])
for i = 3, #ARGV do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', ARGV[1])
  local json = redis.call('HGET', KEYS[1], ARGV[i])
  if json and cjson.decode(json).time <= cutoff then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[2]) end
return #ARGV - 2
`)

export const TELEMETRY_STORE_SCRIPTS = [LOAD_STREAM, TRIM_DEVICE, FENCED_APPLY]

/** Pairs [field, value, ...] (Buffers) as [string, Buffer] entries. */
function entries (flat: Buffer[]): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = []
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([(flat[i] as Buffer).toString('utf8'), flat[i + 1] as Buffer])
  return out
}

/** `{deviceId}!{metric}` and its state as an operator of `window`. */
function operatorOf (window: string, field: string, state: Buffer): OperatorSnapshot[] {
  const at = field.indexOf('!')
  if (at <= 0 || at === field.length - 1) return []
  return [{ window, deviceId: field.slice(0, at), metric: field.slice(at + 1), state }]
}

const memberOf = (end: number, agg: AggregateJSON): string => `${num(end)}|${JSON.stringify(aggregateRecord(agg))}`
function bucketOf (member: string): { end: number, agg: AggregateJSON } {
  const at = member.indexOf('|')
  return { end: Number(member.slice(0, at)), agg: aggregateFromRecord(JSON.parse(member.slice(at + 1))) }
}

/** Ops as FENCED_APPLY reads them, in chunks of about 256 KiB. */
function encodeOps (ops: ReadonlyArray<readonly RedisArg[]>): Buffer[] {
  const chunks: Buffer[] = []
  let parts: Buffer[] = []
  let size = 0
  for (const op of ops) {
    parts.push(Buffer.from([op.length]))
    for (const arg of op) {
      const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg))
      const len = Buffer.allocUnsafe(4)
      len.writeUInt32LE(bytes.length)
      parts.push(len, bytes)
      size += 4 + bytes.length
    }
    if (size >= 262_144) { chunks.push(Buffer.concat(parts)); parts = []; size = 0 }
  }
  if (parts.length > 0) chunks.push(Buffer.concat(parts))
  return chunks
}

export async function redisTelemetryStore (redis: RedisConnection): Promise<TelemetryStore> {
  const { client, prefix: P } = redis
  await redis.loadScripts(TELEMETRY_STORE_SCRIPTS)
  const windowsKey = `${P}tm:windows`
  const streamKey = (source: string): string => `${P}tm:s:${source}`
  const windowSetKey = (source: string): string => `${P}tm:s:${source}:w`
  const operatorPrefix = (source: string): string => `${P}tm:s:${source}:o:`
  const rollupKey = (deviceId: string, metric: string): string => `${P}tm:r:${deviceId}!${metric}`
  const lastKey = (deviceId: string): string => `${P}tm:l:${deviceId}`
  const devicesKey = `${P}tm:ldev`

  const exec = execMulti

  return {
    async listWindows () {
      return Object.entries(await client.hgetall(windowsKey))
        .map(([name, json]) => ({ name, stored: JSON.parse(json) as StoredWindow }))
        .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    },
    putWindow: async (name, stored) => { await client.hset(windowsKey, name, JSON.stringify(stored)) },
    removeWindow: async (name) => { await client.hdel(windowsKey, name) },

    async loadStream (source) {
      const [stream, ...windows] = await LOAD_STREAM.runBuffer(client, [streamKey(source), windowSetKey(source)], [operatorPrefix(source)]) as [Buffer[], ...Array<[Buffer, Buffer[]]>]
      const out: StreamState = { checkpoint: undefined, policies: [], operators: [] }
      for (const [field, value] of entries(stream)) {
        if (field === 'c') out.checkpoint = JSON.parse(value.toString('utf8')) as StreamCheckpoint
        else if (field.startsWith('p!')) out.policies.push({ deviceId: field.slice(2), state: value })
      }
      for (const [w, flat] of windows) {
        const window = w.toString('utf8')
        for (const [field, state] of entries(flat)) out.operators.push(...operatorOf(window, field, state))
      }
      return out
    },
    async loadWindowState (source, window) {
      const flat = await client.hgetallBuffer(operatorPrefix(source) + window)
      return Object.entries(flat).flatMap(([field, state]) => operatorOf(window, field, state))
    },
    async clearWindowState (source, window) {
      await exec(client.multi().del(operatorPrefix(source) + window).srem(windowSetKey(source), window))
    },

    async getBuckets (keys) {
      if (keys.length === 0) return []
      const tx = client.multi()
      for (const k of keys) tx.zrangebyscore(rollupKey(k.deviceId, k.metric), num(k.end), num(k.end))
      const replies = await exec(tx) as string[][]
      return replies.map((members) => members[0] === undefined ? undefined : bucketOf(members[0]).agg)
    },
    async readBuckets (deviceId, metric, fromEnd, toEnd) {
      return (await client.zrangebyscore(rollupKey(deviceId, metric), num(fromEnd), num(toEnd))).map(bucketOf)
    },
    async lastValues (deviceId) {
      return Object.entries(await client.hgetall(lastKey(deviceId)))
        .map(([metric, json]) => ({ metric, ...(JSON.parse(json) as LastValue) }))
        .sort((a, b) => a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0)
    },
    async lastValue (deviceId, metric) {
      const json = await client.hget(lastKey(deviceId), metric)
      return json === null ? undefined : JSON.parse(json) as LastValue
    },
    async removeRollupsThrough (cutoff) {
      let series = 0
      for (const deviceId of await client.smembers(devicesKey)) {
        const metrics = await client.hkeys(lastKey(deviceId))
        const keys = [lastKey(deviceId), devicesKey, ...metrics.map((m) => rollupKey(deviceId, m))]
        series += Number(await TRIM_DEVICE.run(client, keys, [num(cutoff), deviceId, ...metrics]))
      }
      return series
    },

    async commit (changes: readonly TelemetryChange[], options) {
      if (changes.length === 0) return
      // Each change as commands: [command, key, ...arguments].
      const ops: Array<[string, string, ...RedisArg[]]> = []
      for (const c of changes) {
        switch (c.kind) {
          case 'checkpoint': ops.push(['HSET', streamKey(c.source), 'c', JSON.stringify(c.checkpoint)]); break
          case 'policy': ops.push(['HSET', streamKey(c.source), `p!${c.deviceId}`, c.state]); break
          case 'operator':
            ops.push(['HSET', operatorPrefix(c.source) + c.window, `${c.deviceId}!${c.metric}`, c.state])
            ops.push(['SADD', windowSetKey(c.source), c.window])
            break
          case 'bucket': {
            const key = rollupKey(c.deviceId, c.metric)
            const end = num(c.end)
            ops.push(['ZREMRANGEBYSCORE', key, end, end], ['ZADD', key, end, memberOf(c.end, c.agg)])
            break
          }
          case 'last':
            ops.push(['HSET', lastKey(c.deviceId), c.metric, JSON.stringify({ value: c.value, time: c.time } satisfies LastValue)])
            ops.push(['SADD', devicesKey, c.deviceId])
            break
        }
      }
      const fence = options?.fence
      if (fence === undefined) {
        const tx = client.multi()
        for (const [cmd, key, ...args] of ops) tx.call(cmd, key, ...args)
        await exec(tx)
        return
      }
      // Staged in chunks first (a snapshot can hold hundreds of thousands of arguments, more than
      // one call takes), then checked and applied by one script: all of it or nothing.
      const stage = `${P}tm:stage:${randomUUID()}`
      const chunks = encodeOps(ops)
      for (let i = 0; i < chunks.length; i += 64) {
        await exec(client.multi().rpush(stage, ...chunks.slice(i, i + 64)).pexpire(stage, 60_000))
      }
      if (Number(await FENCED_APPLY.run(client, [`${P}sub:lease:${fence.key}`, stage], [leaseValue(fence.lease)])) !== 1) {
        throw new GridgateError('TELEMETRY_NOT_OWNED', `telemetry stream '${fence.key}' is no longer processed by node '${fence.lease.node}' (lease ${fence.lease.fence} lost)`)
      }
    }
  }
}
