import { randomUUID } from 'node:crypto'
import { isEnd, nextDeadline, type Command } from '../../commands/lifecycle.js'
import type { CommandStore, SharedCommandStore, TransitionEvent } from '../../commands/store.js'
import { LuaScript, num, type RedisConnection } from './connection.js'
import type { RedisOp, RedisTopicLogs } from './redis-topic-log.js'

// Commands on Redis. Keys under the engine's prefix P:
//   P cmd:seq              STRING  the store-wide seq counter (INCR: unique across every node, never reused)
//   P cmd:c:{deviceId}     HASH    command id → the command as JSON
//   P cmd:d:{deviceId}     ZSET    score = seq, member = command id: the device's listing
//   P cmd:open             ZSET    score = seq, member = `{deviceId}!{id}`: commands not in an end state
//   P cmd:o:{deviceId}     ZSET    score = seq, member = command id: the device's commands not in an end state
//   P cmd:due              ZSET    score = the next deadline (ms), member = `{deviceId}!{id}`: when a
//                                  command not in an end state times out or expires (cluster-wide timers)
//   P cmd:lock:{deviceId}!{id}  STRING  a random token with a PX lease: who runs a step of the command now
// Device and command ids hold no '!' (core/names.ts), so the open members split unambiguously.
//
// Every write of a command (its hash field, its listing entry, its place in the open set) goes
// through the log's group commit as ops of the append script (redis-topic-log.ts): with a
// transition event they are in the SAME script as the event's append, so the state and its
// event are stored together or not at all, under one acknowledgement; without one the script
// carries only the ops. One queue for both keeps one instance's writes to a command in call
// order, and concurrent commands share a round trip.

export function redisCommandStore (redis: RedisConnection, logs: Pick<RedisTopicLogs, 'appendWith'>): CommandStore {
  const { client, prefix: P } = redis
  const seqKey = `${P}cmd:seq`
  const openKey = `${P}cmd:open`
  const commandsKey = (deviceId: string): string => `${P}cmd:c:${deviceId}`
  const listingKey = (deviceId: string): string => `${P}cmd:d:${deviceId}`
  const openOfKey = (deviceId: string): string => `${P}cmd:o:${deviceId}`
  const dueKey = `${P}cmd:due`

  const stateOps = (c: Command): RedisOp[] => {
    // Serialised here, before anything is queued: a command that cannot be written fails alone.
    const json = JSON.stringify(c)
    const member = `${c.deviceId}!${c.id}`
    const deadline = nextDeadline(c)
    return [
      { cmd: 'HSET', key: commandsKey(c.deviceId), args: [c.id, json] },
      isEnd(c.status)
        ? { cmd: 'ZREM', key: openKey, args: [member] }
        : { cmd: 'ZADD', key: openKey, args: [num(c.seq), member] },
      isEnd(c.status)
        ? { cmd: 'ZREM', key: openOfKey(c.deviceId), args: [c.id] }
        : { cmd: 'ZADD', key: openOfKey(c.deviceId), args: [num(c.seq), c.id] },
      deadline === undefined
        ? { cmd: 'ZREM', key: dueKey, args: [member] }
        : { cmd: 'ZADD', key: dueKey, args: [num(deadline.at), member] }
    ]
  }
  const write = async (ops: RedisOp[], event: TransitionEvent | undefined): Promise<void> => {
    await logs.appendWith(event?.topic, event === undefined ? [] : [event.bytes], ops)
  }
  const parse = (json: string | null): Command | undefined => json === null ? undefined : JSON.parse(json) as Command

  return {
    nextSeq: async () => await client.incr(seqKey),
    async add (c, event) {
      const ops = stateOps(c)
      ops.push({ cmd: 'ZADD', key: listingKey(c.deviceId), args: [num(c.seq), c.id] })
      await write(ops, event)
    },
    update: async (c, event) => { await write(stateOps(c), event) },
    get: async (deviceId, id) => parse(await client.hget(commandsKey(deviceId), id)),
    async list (deviceId, { status, limit, beforeSeq }) {
      const commands: Command[] = []
      let max = beforeSeq === undefined ? '+inf' : `(${num(beforeSeq)}`
      const chunk = Math.min(1000, Math.max(16, limit + 1))
      for (;;) {
        const flat = await client.zrevrangebyscore(listingKey(deviceId), max, '-inf', 'WITHSCORES', 'LIMIT', 0, chunk)
        if (flat.length === 0) return { commands, next: undefined }
        const ids: string[] = []
        const seqs: number[] = []
        for (let i = 0; i + 1 < flat.length; i += 2) {
          ids.push(flat[i] as string)
          seqs.push(Number(flat[i + 1]))
        }
        const values = await client.hmget(commandsKey(deviceId), ...ids)
        for (let i = 0; i < ids.length; i++) {
          const c = parse(values[i] ?? null)
          if (c === undefined || (status !== undefined && c.status !== status)) continue
          // One more match than fits: the next page starts with it (beforeSeq is exclusive).
          if (commands.length === limit) return { commands, next: (seqs[i] as number) + 1 }
          commands.push(c)
        }
        if (ids.length < chunk) return { commands, next: undefined }
        max = `(${num(seqs[seqs.length - 1] as number)}`
      }
    },
    async loadOpen () {
      const members = await client.zrange(openKey, 0, -1)
      const byDevice = new Map<string, string[]>()
      for (const m of members) {
        const at = m.indexOf('!')
        const deviceId = m.slice(0, at)
        let ids = byDevice.get(deviceId)
        if (ids === undefined) byDevice.set(deviceId, ids = [])
        ids.push(m.slice(at + 1))
      }
      const out: Command[] = []
      await Promise.all([...byDevice].map(async ([deviceId, ids]) => {
        for (const json of await client.hmget(commandsKey(deviceId), ...ids)) {
          const c = parse(json)
          if (c !== undefined && !isEnd(c.status)) out.push(c)
        }
      }))
      return out.sort((a, b) => a.seq - b.seq)
    }
  }
}

// KEYS: the lock. ARGV: the holder's token. Deletes the lock only while it is the holder's.
const UNLOCK = new LuaScript(`#!lua
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

export const COMMAND_STORE_SCRIPTS = [UNLOCK]

/**
 * The cluster side of commands on Redis (commands/store.ts SharedCommandStore): a lock per
 * command (SET NX PX with a random token, deleted by its holder only), and reads of the
 * per-device open set and the deadline index that redisCommandStore's writes keep.
 */
export function redisSharedCommands (redis: RedisConnection, opts: { leaseMs?: number, pollMs?: number } = {}): SharedCommandStore {
  const { client, prefix: P } = redis
  const leaseMs = opts.leaseMs ?? 10_000
  const pollMs = opts.pollMs ?? 5
  // Steps of one command in this process wait for each other here first, not on Redis.
  const local = new Map<string, Promise<unknown>>()
  const acquire = async (key: string, token: string): Promise<void> => {
    const give = Date.now() + 3 * leaseMs
    for (let wait = 1; ; wait = Math.min(wait * 2, pollMs * 8)) {
      if (await client.set(key, token, 'PX', leaseMs, 'NX') === 'OK') return
      if (Date.now() > give) throw new Error(`the lock ${key} was not released within ${3 * leaseMs} ms`)
      await new Promise((resolve) => setTimeout(resolve, wait))
    }
  }
  return {
    leaseMs,
    async locked (deviceId, id, step) {
      const key = `${P}cmd:lock:${deviceId}!${id}`
      const run = (local.get(key) ?? Promise.resolve()).catch(() => undefined).then(async () => {
        const token = randomUUID()
        await acquire(key, token)
        try {
          return await step()
        } finally {
          await UNLOCK.run(client, [key], [token]).catch(() => undefined)
        }
      })
      local.set(key, run)
      void run.catch(() => undefined).then(() => { if (local.get(key) === run) local.delete(key) })
      return await run
    },
    async openOf (deviceId) {
      const ids = await client.zrange(`${P}cmd:o:${deviceId}`, 0, -1)
      if (ids.length === 0) return []
      const out: Command[] = []
      for (const json of await client.hmget(`${P}cmd:c:${deviceId}`, ...ids)) {
        const c = json === null ? undefined : JSON.parse(json) as Command
        if (c !== undefined && !isEnd(c.status)) out.push(c)
      }
      return out.sort((a, b) => a.seq - b.seq)
    },
    async due (now, limit) {
      const members = await client.zrangebyscore(`${P}cmd:due`, '-inf', num(now), 'LIMIT', 0, limit)
      return members.map((m) => {
        const at = m.indexOf('!')
        return { deviceId: m.slice(0, at), id: m.slice(at + 1) }
      })
    }
  }
}
