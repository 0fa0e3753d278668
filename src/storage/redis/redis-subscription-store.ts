import type { PendingEntry } from '../../delivery/pending.js'
import type { DeadLetter, QueueChange, QueueStore, StoredSubscription, SubscriptionStore } from '../../delivery/store.js'
import { execMulti, num, type RedisConnection } from './connection.js'

// Subscriptions on Redis. Keys under the engine's prefix P, with S = `{topic}!{subscription}`
// (names hold no '!', core/names.ts, so S names one subscription):
//   P sub:defs        HASH    S → the definition (StoredSubscription) as JSON
//   P sub:q:S:c       STRING  the cursor
//   P sub:q:S:p       HASH    offset → an event taken and not settled (PendingEntry JSON)
//   P sub:q:S:d       ZSET    score = offset, member = offset: the dead letters in offset order
//   P sub:q:S:l       HASH    offset → the dead letter (DeadLetter JSON)
// Each of a subscription's keys is its base `P sub:q:S` plus one suffix letter, so no two
// subscriptions' keys meet, whatever their names.
//
// A write is one MULTI/EXEC holding its changes in order (atomic, the last change to an
// offset wins); a load is one MULTI too, so it sees one write or the next, never half of one.

export function redisSubscriptionStore (redis: RedisConnection): SubscriptionStore {
  const { client, prefix: P } = redis
  const defsKey = `${P}sub:defs`

  function queue (topic: string, name: string): QueueStore {
    const base = `${P}sub:q:${topic}!${name}:`
    const cursorKey = base + 'c'
    const pendingKey = base + 'p'
    const deadKey = base + 'd'
    const lettersKey = base + 'l'

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
        await client.del(cursorKey, pendingKey, deadKey, lettersKey)
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
    put: async (topic, name, stored) => { await client.hset(defsKey, `${topic}!${name}`, JSON.stringify(stored)) },
    remove: async (topic, name) => { await client.hdel(defsKey, `${topic}!${name}`) },
    queue
  }
}
