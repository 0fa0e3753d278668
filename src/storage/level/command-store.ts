import { isEnd, type Command } from '../../commands/lifecycle.js'
import type { CommandStore, TransitionEvent } from '../../commands/store.js'
import { createGroupCommit } from '../group-commit.js'
import type { LevelStore, Op } from './db.js'
import type { LevelTopicLogs } from './topic-log.js'
import { encodeOffset, RANGE_END } from './keys.js'

// Commands on an abstract-level store, all in the `commands` sublevel (the layout of data
// directories written before the port, unchanged):
//   c!{deviceId}!{id}      the command
//   o!{deviceId}!{seq}     its id, in creation order (for listing newest first)
//   n!seq                  the highest seq of an added command
// Device and command ids hold no '!' (core/names.ts), so the keys cannot collide.
//
// One process holds the store (LevelDB locks its directory; memory is one heap) and the
// engine opens one adapter on it, so the counter lives here, in memory, as the log's offsets
// live in its core. Writes from concurrent commands share one batch (group commit).

export interface LevelCommandStore extends CommandStore {
  /** Refuses new writes and waits for queued ones; the engine calls it before closing the store. */
  close: () => Promise<void>
}

export interface LevelCommandStoreOptions {
  sync: boolean
  /** The store's log: a transition event goes into the same batch as the state through it. */
  logs: Pick<LevelTopicLogs, 'appendWith'>
}

export async function levelCommandStore (store: LevelStore, opts: LevelCommandStoreOptions): Promise<LevelCommandStore> {
  const db = store.json('commands')
  let seq = (await db.get('n!seq') as number | undefined) ?? 0
  // n!seq only ever grows, whatever order adds complete in, so a restart never reuses a seq.
  let highestAdded = seq
  const writer = createGroupCommit<Op[], void, Op>({
    plan: (items) => ({ ops: items.flat(), outcomes: items.map(() => ({ ok: true, value: undefined })) }),
    write: (ops) => store.batch(ops, { sync: opts.sync }),
    sizeOf: () => 512,
    maxItems: 1000,
    maxBytes: 4 * 1024 * 1024
  })
  const ckey = (deviceId: string, id: string): string => `c!${deviceId}!${id}`
  const put = (key: string, value: unknown): Op => ({ type: 'put', sublevel: db, key, value })
  // With an event the log's group commit writes both (one batch, one fsync); without, ours.
  const write = async (ops: Op[], event: TransitionEvent | undefined): Promise<void> => {
    if (event === undefined) await writer.submit(ops)
    else await opts.logs.appendWith(event.topic, [event.bytes], ops)
  }

  return {
    nextSeq: async () => ++seq,
    async add (c, event) {
      highestAdded = Math.max(highestAdded, c.seq)
      // One batch: the command, its listing entry and the counter appear together or not at all.
      await write([
        put(ckey(c.deviceId, c.id), c),
        put(`o!${c.deviceId}!${encodeOffset(c.seq)}`, c.id),
        put('n!seq', highestAdded)
      ], event)
    },
    update: async (c, event) => { await write([put(ckey(c.deviceId, c.id), c)], event) },
    get: async (deviceId, id) => await db.get(ckey(deviceId, id)) as Command | undefined,
    async list (deviceId, { status, limit, beforeSeq }) {
      const prefix = `o!${deviceId}!`
      const commands: Command[] = []
      let next: number | undefined
      const range = { gte: prefix, lt: beforeSeq === undefined ? prefix + RANGE_END : prefix + encodeOffset(beforeSeq), reverse: true }
      for await (const [key, id] of db.iterator(range)) {
        const c = await db.get(ckey(deviceId, id as string)) as Command | undefined
        if (c === undefined || (status !== undefined && c.status !== status)) continue
        // One more match than fits: the next page starts with it (beforeSeq is exclusive).
        if (commands.length === limit) {
          next = Number(key.slice(prefix.length)) + 1
          break
        }
        commands.push(c)
      }
      return { commands, next }
    },
    async loadOpen () {
      const out: Command[] = []
      for await (const [, v] of db.iterator({ gte: 'c!', lt: 'c!' + RANGE_END })) {
        const c = v as Command
        if (!isEnd(c.status)) out.push(c)
      }
      return out.sort((a, b) => a.seq - b.seq)
    },
    close: () => writer.close()
  }
}
