import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'

// The one LevelDB handle under dataDir. Each owner gets its own sublevel, so key spaces
// never collide and one `batch` can still write to several of them atomically.

export type Db = Level<string, Buffer>
export type BinarySublevel = ReturnType<typeof binarySublevel>
export type JsonSublevel = ReturnType<typeof jsonSublevel>

export interface Storage {
  db: Db
  /** Buffer-valued sublevel (event segments). */
  binary: (name: string) => BinarySublevel
  /** JSON-valued sublevel (metadata, cursors, indexes). */
  json: (name: string) => JsonSublevel
  /** One atomic write of ops that may span sublevels (`{ type, sublevel, key, value }`). */
  batch: (ops: readonly unknown[], options?: { sync?: boolean }) => Promise<void>
  close: () => Promise<void>
}

function binarySublevel (db: Db, name: string) {
  return db.sublevel<string, Buffer>(name, { keyEncoding: 'utf8', valueEncoding: 'buffer' })
}

function jsonSublevel (db: Db, name: string) {
  return db.sublevel<string, unknown>(name, { keyEncoding: 'utf8', valueEncoding: 'json' })
}

type WriteFn = (...args: unknown[]) => Promise<unknown>

/**
 * A failed LevelDB write (disk full, EFBIG) can leave a torn record in the middle of its
 * write-ahead log while LevelDB keeps appending after it; on the next recovery the log
 * reader loses its block alignment and drops the records written after the tear, so events
 * acknowledged once space returned vanished after a crash (reliability case "disk full /
 * write errors"). So after any failed write, the next write first rolls the log: LevelDB's
 * compactRange flushes the memtable (everything written so far) to a table file and starts
 * a new log. Until a roll succeeds every write fails, as the failed one did.
 */
function rollLogAfterWriteErrors (db: Db): void {
  let mustRoll = false
  let rolling: Promise<void> | undefined
  const ready = async (): Promise<void> => {
    if (!mustRoll) return
    // classic-level has compactRange; level's Level type does not declare it.
    const compact = (db as unknown as { compactRange: (start: string, end: string) => Promise<void> }).compactRange.bind(db)
    rolling ??= compact('\u0000', '\u0000').then(() => { mustRoll = false }).finally(() => { rolling = undefined })
    await rolling
  }
  const guard = (target: object, name: string): void => {
    const t = target as Record<string, WriteFn>
    const write = (t[name] as WriteFn).bind(target)
    t[name] = async (...args) => {
      await ready()
      try {
        return await write(...args)
      } catch (err) {
        mustRoll = true
        throw err
      }
    }
  }
  for (const name of ['_put', '_del', '_batch', '_clear']) guard(db, name)
  // Chained batches (aedes-persistence-level uses them) write through their own `_write`.
  const d = db as unknown as { _chainedBatch: () => object }
  const chained = d._chainedBatch.bind(db)
  d._chainedBatch = () => {
    const batch = chained()
    guard(batch, '_write')
    return batch
  }
}

export async function openStorage (dataDir: string): Promise<Storage> {
  await mkdir(dataDir, { recursive: true })
  const db: Db = new Level<string, Buffer>(join(dataDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  await db.open()
  rollLogAfterWriteErrors(db)
  return {
    db,
    binary: (name) => binarySublevel(db, name),
    json: (name) => jsonSublevel(db, name),
    // The op objects are built by their owners against their own sublevels; level checks them.
    batch: (ops, options) => db.batch(ops as never, options ?? {}),
    close: async () => { await db.close() }
  }
}
