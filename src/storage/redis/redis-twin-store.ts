import { randomUUID } from 'node:crypto'
import type { DesiredState, ReportedState, TwinChange } from '../../twins/model.js'
import { decodeHistoryGroup, type TwinEvents, type TwinStore } from '../../twins/store.js'
import { LuaScript, num, type RedisConnection } from './connection.js'
import type { RedisOp, RedisTopicLogs } from './redis-topic-log.js'

// Device twins on Redis. Keys under the engine's prefix P:
//   P twin:c             HASH    source topic → the projection's next offset there
//   P twin:r:{deviceId}  STRING  the reported state (JSON)
//   P twin:h:{deviceId}  ZSET    score = first version, member = the history entries of one step (twins/store.ts encodeHistoryGroup)
//   P twin:s:{deviceId}  HASH    version → a snapshot of the reported state (JSON)
//   P twin:d:{deviceId}  STRING  the desired state (JSON)
//   P twin:e:{deviceId}  ZSET    score = time (ms), member = every desired state (JSON), for asOf
//   P twin:lock:{deviceId}  STRING  a random token with a PX lease: who writes the desired state now
// A projection step is one call of the log's append script (redis-topic-log.ts appendWith): the
// states, history, snapshots, cursors and the `device.twin.changed` events land together or not
// at all. A desired write runs under the device's lock (compare, then one append script).

const LOCK_MS = 10_000

const UNLOCK = new LuaScript(`#!lua
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

export const TWIN_STORE_SCRIPTS = [UNLOCK]

export function redisTwinStore (redis: RedisConnection, logs: Pick<RedisTopicLogs, 'appendWith'>): TwinStore {
  const { client, prefix: P } = redis
  const cursorsKey = `${P}twin:c`
  const k = (kind: string, deviceId: string): string => `${P}twin:${kind}:${deviceId}`
  const write = async (ops: RedisOp[], events: TwinEvents | undefined): Promise<void> => {
    const withEvents = events !== undefined && events.events.length > 0
    if (!withEvents && ops.length === 0) return
    await logs.appendWith(withEvents ? events.topic : undefined, withEvents ? events.events : [], ops)
  }
  const parse = <T>(json: string | null | undefined): T | undefined => json === null || json === undefined ? undefined : JSON.parse(json) as T

  const lock = async (deviceId: string): Promise<{ key: string, token: string }> => {
    const key = k('lock', deviceId)
    const token = randomUUID()
    const give = Date.now() + 3 * LOCK_MS
    for (let wait = 1; ; wait = Math.min(wait * 2, 40)) {
      if (await client.set(key, token, 'PX', LOCK_MS, 'NX') === 'OK') return { key, token }
      if (Date.now() > give) throw new Error(`the lock ${key} was not released within ${3 * LOCK_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }

  return {
    async cursors () {
      const all = await client.hgetall(cursorsKey)
      const out: Record<string, number> = {}
      for (const [topic, offset] of Object.entries(all)) out[topic] = Number(offset)
      return out
    },
    reported: async (deviceId) => parse<ReportedState>(await client.get(k('r', deviceId))),
    async commit (step) {
      const ops: RedisOp[] = []
      for (const [id, json] of step.states) ops.push({ cmd: 'SET', key: k('r', id), args: [json] })
      for (const [id, version, json] of step.history) ops.push({ cmd: 'ZADD', key: k('h', id), args: [num(version), json] })
      for (const [id, version, json] of step.snapshots) ops.push({ cmd: 'HSET', key: k('s', id), args: [num(version), json] })
      const cursors = Object.entries(step.cursors)
      if (cursors.length > 0) ops.push({ cmd: 'HSET', key: cursorsKey, args: cursors.flatMap(([t, o]) => [t, num(o)]) })
      await write(ops, step.events)
    },
    snapshot: async (deviceId, version) => parse<ReportedState>(await client.hget(k('s', deviceId), num(version))),
    async changes (deviceId, afterVersion, limit) {
      // The group holding afterVersion + 1 starts at or before it.
      const key = k('h', deviceId)
      const first = await client.zrevrangebyscore(key, num(afterVersion + 1), '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
      let from = first.length === 2 ? Number(first[1]) : 0
      const out: TwinChange[] = []
      for (;;) {
        const groups = await client.zrangebyscore(key, num(from), '+inf', 'WITHSCORES', 'LIMIT', 0, 64)
        for (let i = 0; i + 1 < groups.length; i += 2) {
          for (const c of decodeHistoryGroup(deviceId, JSON.parse(groups[i] as string))) {
            if (c.version <= afterVersion) continue
            out.push(c)
            if (out.length >= limit) return out
          }
          from = Number(groups[i + 1]) + 1
        }
        if (groups.length < 128) return out
      }
    },
    desired: async (deviceId) => parse<DesiredState>(await client.get(k('d', deviceId))),
    async putDesired (d, expected, event) {
      const held = await lock(d.deviceId)
      try {
        const current = parse<DesiredState>(await client.get(k('d', d.deviceId)))
        if ((current?.version ?? 0) !== expected) return false
        const json = JSON.stringify(d)
        await write([
          { cmd: 'SET', key: k('d', d.deviceId), args: [json] },
          { cmd: 'ZADD', key: k('e', d.deviceId), args: [num(d.time), json] }
        ], event)
        return true
      } finally {
        await UNLOCK.run(client, [held.key], [held.token]).catch(() => undefined)
      }
    },
    async desiredAt (deviceId, time) {
      // Equal times: the highest version of them (members sort by text, not version).
      const found = (await client.zrevrangebyscore(k('e', deviceId), num(time), '-inf', 'LIMIT', 0, 16)).map((m) => JSON.parse(m) as DesiredState)
      let best: DesiredState | undefined
      for (const d of found) if (best === undefined || d.time > best.time || (d.time === best.time && d.version > best.version)) best = d
      return best
    }
  }
}
