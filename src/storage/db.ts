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

export async function openStorage (dataDir: string): Promise<Storage> {
  await mkdir(dataDir, { recursive: true })
  const db: Db = new Level<string, Buffer>(join(dataDir, 'db'), { keyEncoding: 'utf8', valueEncoding: 'buffer' })
  await db.open()
  return {
    db,
    binary: (name) => binarySublevel(db, name),
    json: (name) => jsonSublevel(db, name),
    // The op objects are built by their owners against their own sublevels; level checks them.
    batch: (ops, options) => db.batch(ops as never, options ?? {}),
    close: async () => { await db.close() }
  }
}
