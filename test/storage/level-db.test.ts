import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openLevelDb } from '../../src/storage/level/db.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// storage.writeBufferBytes reaches LevelDB: what is written stays in the memtable (and its
// write-ahead log) until the buffer is full, then goes to a table file.

const teardown = useTeardown()

async function tableFilesAfterWriting (writeBufferBytes: number, bytes: number): Promise<number> {
  const dir = await tempDir()
  teardown(dir.remove)
  const store = await openLevelDb(dir.path, { writeBufferBytes })
  try {
    const value = Buffer.alloc(64 * 1024, 7)
    for (let i = 0; i * value.length < bytes; i++) await store.binary('seg').put(`k${String(i).padStart(6, '0')}`, value)
    // LevelDB writes the full memtable out in the background: give it a moment, bounded.
    const deadline = Date.now() + 5000
    let tables = 0
    do {
      tables = (await readdir(join(dir.path, 'db'))).filter((f) => f.endsWith('.ldb')).length
      if (tables > 0 || writeBufferBytes >= bytes) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    } while (Date.now() < deadline)
    return tables
  } finally {
    await store.close()
  }
}

describe('LevelDB write buffer (storage.writeBufferBytes)', () => {
  it('keeps 4 MiB of writes in memory with a 64 MiB buffer and writes table files with a 1 MiB one', async () => {
    expect(await tableFilesAfterWriting(64 * 1024 * 1024, 4 * 1024 * 1024)).toBe(0)
    expect(await tableFilesAfterWriting(1024 * 1024, 4 * 1024 * 1024)).toBeGreaterThan(0)
  })
})
