import type { JsonSublevel, Storage } from '../storage/db.js'
import { createGroupCommit } from '../storage/group-commit.js'
import { encodeOffset, RANGE_END } from '../storage/keys.js'
import type { Command, CommandStatus } from './lifecycle.js'

// Commands in LevelDB (`commands` sublevel):
//   c!{deviceId}!{id}      the command
//   o!{deviceId}!{seq}     id, in creation order (for listing newest first)
//   n!seq                  the last sequence number given out
// Writes from concurrent commands share one LevelDB write (the same group commit as the log).

export interface CommandStore {
  /** Every command not in an end state (loaded at start to re-arm timers and resend). */
  loadOpen: (isOpen: (s: CommandStatus) => boolean) => Promise<Command[]>
  get: (deviceId: string, id: string) => Promise<Command | undefined>
  /** Newest first, from before `beforeSeq` (exclusive). */
  list: (deviceId: string, opts: { status?: CommandStatus, limit: number, beforeSeq?: number }) => Promise<{ commands: Command[], next?: number }>
  /** Durably writes a command (and its order index when it is new). */
  save: (c: Command, isNew: boolean) => Promise<void>
  nextSeq: () => number
  close: () => Promise<void>
}

export async function openCommandStore (storage: Storage, sync: boolean): Promise<CommandStore> {
  const db: JsonSublevel = storage.json('commands')
  let seq = (await db.get('n!seq') as number | undefined) ?? 0
  let highestSaved = seq // n!seq only ever grows, whatever order saves complete in
  const writer = createGroupCommit<unknown[], void>({
    plan: (items) => ({ ops: items.flat(), outcomes: items.map(() => ({ ok: true, value: undefined })) }),
    write: (ops) => storage.batch(ops.map((op) => ({ ...(op as object), sublevel: db })), { sync }),
    sizeOf: () => 512,
    maxItems: 1000,
    maxBytes: 4 * 1024 * 1024
  })
  const ckey = (deviceId: string, id: string): string => `c!${deviceId}!${id}`

  return {
    async loadOpen (isOpen) {
      const out: Command[] = []
      for await (const [, v] of db.iterator({ gte: 'c!', lt: 'c!' + RANGE_END })) {
        const c = v as Command
        if (isOpen(c.status)) out.push(c)
      }
      return out.sort((a, b) => a.seq - b.seq)
    },
    get: async (deviceId, id) => await db.get(ckey(deviceId, id)) as Command | undefined,
    async list (deviceId, { status, limit, beforeSeq }) {
      const prefix = `o!${deviceId}!`
      const commands: Command[] = []
      let next: number | undefined
      const range = { gte: prefix, lt: beforeSeq === undefined ? prefix + RANGE_END : prefix + encodeOffset(beforeSeq), reverse: true }
      for await (const [key, id] of db.iterator(range)) {
        const c = await db.get(ckey(deviceId, id as string)) as Command | undefined
        if (c === undefined || (status !== undefined && c.status !== status)) continue
        if (commands.length === limit) {
          next = Number(key.slice(prefix.length)) + 1
          break
        }
        commands.push(c)
      }
      return { commands, next }
    },
    save (c, isNew) {
      if (!isNew) return writer.submit([{ type: 'put', key: ckey(c.deviceId, c.id), value: c }])
      highestSaved = Math.max(highestSaved, c.seq)
      return writer.submit([
        { type: 'put', key: ckey(c.deviceId, c.id), value: c },
        { type: 'put', key: `o!${c.deviceId}!${encodeOffset(c.seq)}`, value: c.id },
        { type: 'put', key: 'n!seq', value: highestSaved }
      ])
    },
    nextSeq: () => ++seq,
    close: () => writer.close()
  }
}
