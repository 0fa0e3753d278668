import { GridgateError } from '../../core/errors.js'
import { leaseValue, parseLease, type Lease, type SubscriptionLeases } from '../../delivery/leases.js'
import type { PendingEntry } from '../../delivery/pending.js'
import type { DeadLetter, DeliveryCounts, QueueChange, QueueStore, StoredSubscription, SubscriptionStore } from '../../delivery/store.js'
import { execMulti, LuaScript, num, type RedisArg, type RedisConnection } from './connection.js'

// Subscriptions on Redis. Keys under the engine's prefix P, with S = `{topic}!{subscription}`
// (names hold no '!', core/names.ts, so S names one subscription):
//   P sub:defs        HASH    S → the definition (StoredSubscription) as JSON
//   P sub:q:S:c       STRING  the cursor
//   P sub:q:S:p       HASH    offset → an event taken and not settled (PendingEntry JSON)
//   P sub:q:S:d       ZSET    score = offset, member = offset: the dead letters in offset order
//   P sub:q:S:l       HASH    offset → the dead letter (DeadLetter JSON)
//   P sub:q:S:n       HASH    the delivery counts since S was created, added to by every owner:
//                             d delivered, f failed, e the last error
//   P sub:lease:S     STRING  `{node}|{fence}` with a PX lease: the node that owns (delivers) S now
//   P sub:fence:S     STRING  the fencing counter (INCR at every acquisition; kept after a delete,
//                             so a token is never issued twice for S)
// Each of a subscription's keys is its base `P sub:q:S` plus one suffix letter, so no two
// subscriptions' keys meet, whatever their names.
//
// A write is one MULTI/EXEC holding its changes in order (atomic, the last change to an
// offset wins); a load is one MULTI too, so it sees one write or the next, never half of one.
// A fenced write (a queue opened with a lease, on a cluster) is one script instead, which
// applies the same changes only while the lease key holds that lease and the definition
// exists: a stale owner, or one of a deleted subscription, writes nothing. The counts are added
// (HINCRBY) by a script with the same guard.

export function redisSubscriptionStore (redis: RedisConnection): SubscriptionStore {
  const { client, prefix: P } = redis
  const defsKey = `${P}sub:defs`

  function queue (topic: string, name: string, lease?: Lease): QueueStore {
    const base = `${P}sub:q:${topic}!${name}:`
    const cursorKey = base + 'c'
    const pendingKey = base + 'p'
    const deadKey = base + 'd'
    const lettersKey = base + 'l'
    const countsKey = base + 'n'

    const exec = execMulti

    return {
      async load () {
        const [cursor, pending, dead] = await exec(client.multi().get(cursorKey).hvals(pendingKey).zrange(deadKey, 0, -1)) as [string | null, string[], string[]]
        return {
          cursor: cursor === null ? undefined : Number(cursor),
          pending: pending.map((json) => JSON.parse(json) as PendingEntry).sort((a, b) => a.offset - b.offset),
          deadOffsets: dead.map(Number)
        }
      },
      async write (changes: readonly QueueChange[]) {
        if (changes.length === 0) return
        if (lease !== undefined) {
          const args: RedisArg[] = [leaseValue(lease), `${topic}!${name}`]
          for (const c of changes) {
            const offset = num(c.offset)
            switch (c.kind) {
              case 'cursor': args.push('c', offset, ''); break
              case 'pending': args.push(c.entry === null ? 'P' : 'p', offset, c.entry === null ? '' : JSON.stringify(c.entry)); break
              case 'dead': args.push(c.letter === null ? 'D' : 'd', offset, c.letter === null ? '' : JSON.stringify(c.letter)); break
            }
          }
          const ok = await FENCED_WRITE.run(client, [`${P}sub:lease:${topic}!${name}`, defsKey, cursorKey, pendingKey, deadKey, lettersKey], args)
          if (ok !== 1) {
            throw new GridgateError('SUBSCRIPTION_NOT_OWNED', `event subscription '${name}' of topic '${topic}' is no longer delivered by node '${lease.node}' (lease ${lease.fence} lost)`, { details: { topic, subscription: name } })
          }
          return
        }
        const tx = client.multi()
        // Serialised before anything is sent: a change that cannot be written fails the whole write.
        for (const c of changes) {
          const offset = num(c.offset)
          switch (c.kind) {
            case 'cursor': tx.set(cursorKey, offset); break
            case 'pending':
              if (c.entry === null) tx.hdel(pendingKey, offset)
              else tx.hset(pendingKey, offset, JSON.stringify(c.entry))
              break
            case 'dead':
              if (c.letter === null) tx.zrem(deadKey, offset).hdel(lettersKey, offset)
              else tx.zadd(deadKey, offset, offset).hset(lettersKey, offset, JSON.stringify(c.letter))
              break
          }
        }
        await exec(tx)
      },
      async deadLetters (limit) {
        const offsets = await client.zrange(deadKey, 0, limit === undefined ? -1 : limit - 1)
        if (offsets.length === 0) return []
        const letters = await client.hmget(lettersKey, ...offsets)
        return letters.flatMap((json) => json === null ? [] : [JSON.parse(json) as DeadLetter])
      },
      async destroy () {
        await client.del(cursorKey, pendingKey, deadKey, lettersKey, countsKey)
      },
      counts: {
        async load () {
          const [d, f, e] = await client.hmget(countsKey, 'd', 'f', 'e')
          const counts: DeliveryCounts = { delivered: Number(d ?? 0), failed: Number(f ?? 0) }
          if (e !== null && e !== undefined) counts.lastError = e
          return counts
        },
        async add (delta) {
          const ok = await ADD_COUNTS.run(client, [`${P}sub:lease:${topic}!${name}`, defsKey, countsKey],
            [lease === undefined ? '' : leaseValue(lease), `${topic}!${name}`, num(delta.delivered), num(delta.failed), delta.lastError === undefined ? '0' : '1', delta.lastError ?? ''])
          if (ok !== 1) {
            throw new GridgateError('SUBSCRIPTION_NOT_OWNED', `event subscription '${name}' of topic '${topic}' is no longer delivered by this node`, { details: { topic, subscription: name } })
          }
        }
      }
    }
  }

  return {
    async list () {
      const defs = await client.hgetall(defsKey)
      return Object.entries(defs)
        .map(([key, json]) => {
          const at = key.indexOf('!')
          return { topic: key.slice(0, at), name: key.slice(at + 1), stored: JSON.parse(json) as StoredSubscription }
        })
        .sort((a, b) => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    },
    get: async (topic, name) => {
      const json = await client.hget(defsKey, `${topic}!${name}`)
      return json === null ? undefined : JSON.parse(json) as StoredSubscription
    },
    put: async (topic, name, stored) => { await client.hset(defsKey, `${topic}!${name}`, JSON.stringify(stored)) },
    remove: async (topic, name) => { await client.hdel(defsKey, `${topic}!${name}`) },
    queue
  }
}

// KEYS: lease, definitions, cursor, pending, dead, letters. ARGV: the lease value, the
// definition's field, then (kind, offset, value) triples: c cursor, p/P pending put/delete,
// d/D dead letter put/delete. Nothing is written unless the lease and the definition stand.
const FENCED_WRITE = new LuaScript(`#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
for i = 3, #ARGV, 3 do
  local kind, offset, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if kind == 'c' then redis.call('SET', KEYS[3], offset)
  elseif kind == 'p' then redis.call('HSET', KEYS[4], offset, value)
  elseif kind == 'P' then redis.call('HDEL', KEYS[4], offset)
  elseif kind == 'd' then redis.call('ZADD', KEYS[5], offset, offset); redis.call('HSET', KEYS[6], offset, value)
  elseif kind == 'D' then redis.call('ZREM', KEYS[5], offset); redis.call('HDEL', KEYS[6], offset)
  end
end
return 1
`)

// KEYS: lease, definitions, counts. ARGV: the lease value ('': unfenced), the definition's
// field, delivered, failed, whether there is a last error ('1'), the last error. Nothing is
// added unless the lease (when given) and the definition stand.
const ADD_COUNTS = new LuaScript(`#!lua
if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then return 0 end
if ARGV[3] ~= '0' then redis.call('HINCRBY', KEYS[3], 'd', ARGV[3]) end
if ARGV[4] ~= '0' then redis.call('HINCRBY', KEYS[3], 'f', ARGV[4]) end
if ARGV[5] == '1' then redis.call('HSET', KEYS[3], 'e', ARGV[6]) end
return 1
`)

// KEYS: lease, fence counter. ARGV: node, ms. The new fence, or nil while the lease is held.
const ACQUIRE = new LuaScript(`#!lua
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
local fence = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. fence, 'PX', ARGV[2])
return fence
`)

// KEYS: lease. ARGV: the lease value, ms (0: delete). 1 when the lease was still that one.
const RENEW = new LuaScript(`#!lua
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
`)

export const SUBSCRIPTION_STORE_SCRIPTS = [FENCED_WRITE, ADD_COUNTS, ACQUIRE, RENEW]

/** Subscriptions' ownership leases on Redis (delivery/leases.ts), in the keys above. */
export function redisSubscriptionLeases (redis: RedisConnection): SubscriptionLeases {
  const { client, prefix: P } = redis
  const leaseKey = (key: string): string => `${P}sub:lease:${key}`
  return {
    async acquire (key, node, ms) {
      const fence = await ACQUIRE.run(client, [leaseKey(key), `${P}sub:fence:${key}`], [node, num(ms)])
      return fence === null || fence === undefined ? undefined : { node, fence: Number(fence) }
    },
    renew: async (key, lease, ms) => await RENEW.run(client, [leaseKey(key)], [leaseValue(lease), num(ms)]) === 1,
    async release (key, lease) { await RENEW.run(client, [leaseKey(key)], [leaseValue(lease), 0]) },
    async clear (key) { await client.del(leaseKey(key)) },
    async owners (keys) {
      if (keys.length === 0) return []
      return (await client.mget(...keys.map(leaseKey))).map(parseLease)
    }
  }
}
