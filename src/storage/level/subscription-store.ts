import type { PendingEntry } from '../../delivery/pending.js'
import type { DeadLetter, QueueChange, QueueStore, StoredSubscription, SubscriptionStore } from '../../delivery/store.js'
import type { LevelStore, Op } from './db.js'
import { encodeOffset, RANGE_END } from './keys.js'

// Subscriptions on an abstract-level store, all in the `subs` sublevel:
//   s!{topic}!{sub}             the definition
//   c!{topic}!{sub}             cursor
//   p!{topic}!{sub}!{offset}    an event taken and not settled
//   d!{topic}!{sub}!{offset}    a dead letter
// Topic and subscription names hold no '!' (core/names.ts), so the keys cannot collide.

export function levelSubscriptionStore (store: LevelStore): SubscriptionStore {
  const db = store.json('subs')

  function queue (topic: string, name: string): QueueStore {
    const id = `${topic}!${name}`
    const cursorKey = `c!${id}`
    const pendingPrefix = `p!${id}!`
    const deadPrefix = `d!${id}!`
    const opOf = (c: QueueChange): Op => {
      switch (c.kind) {
        case 'cursor': return { type: 'put', sublevel: db, key: cursorKey, value: c.offset }
        case 'pending': {
          const key = pendingPrefix + encodeOffset(c.offset)
          return c.entry === null ? { type: 'del', sublevel: db, key } : { type: 'put', sublevel: db, key, value: c.entry }
        }
        case 'dead': {
          const key = deadPrefix + encodeOffset(c.offset)
          return c.letter === null ? { type: 'del', sublevel: db, key } : { type: 'put', sublevel: db, key, value: c.letter }
        }
      }
    }
    return {
      async load () {
        const cursor = await db.get(cursorKey) as number | undefined
        const pending: PendingEntry[] = []
        for await (const [, v] of db.iterator({ gte: pendingPrefix, lt: pendingPrefix + RANGE_END })) pending.push(v as PendingEntry)
        const deadOffsets = (await db.keys({ gte: deadPrefix, lt: deadPrefix + RANGE_END }).all()).map((k) => Number(k.slice(deadPrefix.length)))
        return { cursor, pending, deadOffsets }
      },
      async write (changes) {
        if (changes.length > 0) await store.batch(changes.map(opOf))
      },
      async deadLetters (limit) {
        const out: DeadLetter[] = []
        for await (const [, v] of db.iterator({ gte: deadPrefix, lt: deadPrefix + RANGE_END, limit: limit ?? -1 })) out.push(v as DeadLetter)
        return out
      },
      async destroy () {
        await db.clear({ gte: pendingPrefix, lt: pendingPrefix + RANGE_END })
        await db.clear({ gte: deadPrefix, lt: deadPrefix + RANGE_END })
        await db.del(cursorKey)
      }
    }
  }

  return {
    async list () {
      const out: Array<{ topic: string, name: string, stored: StoredSubscription }> = []
      for await (const [key, value] of db.iterator({ gte: 's!', lt: 's!' + RANGE_END })) {
        const [, topic, name] = key.split('!') as [string, string, string]
        out.push({ topic, name, stored: value as StoredSubscription })
      }
      return out
    },
    put: async (topic, name, stored) => { await db.put(`s!${topic}!${name}`, stored) },
    remove: async (topic, name) => { await db.del(`s!${topic}!${name}`) },
    queue
  }
}
