import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openLevelDb, openMemoryDb, type LevelStore } from '../../src/storage/level/db.js'
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

// LevelStore.batch writes LevelDB through classic-level's encoded-op call, not abstract-level's
// batch(): what it writes must read back through the sublevels exactly as their own put() would.
const engines: Array<[string, () => Promise<LevelStore>]> = [
  ['leveldb', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    return await openLevelDb(dir.path)
  }],
  ['memory', openMemoryDb]
]

describe.each(engines)('LevelStore.batch on %s', (_engine, open) => {
  it('writes JSON and binary values under their sublevels, and deletes, in one batch', async () => {
    const store = await open()
    try {
      const json = store.json('meta')
      const bin = store.binary('seg')
      await json.put('gone', { x: 1 })
      await store.batch([
        { type: 'put', sublevel: json, key: 'a!1', value: { n: 5, s: 'ü€', list: [1.5, null] } },
        { type: 'put', sublevel: bin, key: 'a!1', value: Buffer.from([0, 255, 7]) },
        { type: 'del', sublevel: json, key: 'gone' }
      ], { sync: true })
      expect(await json.get('a!1')).toEqual({ n: 5, s: 'ü€', list: [1.5, null] })
      expect(await bin.get('a!1')).toEqual(Buffer.from([0, 255, 7]))
      expect(await json.get('gone')).toBeUndefined()
      // Each sublevel sees only its own key: the prefixes kept them apart.
      expect(await json.keys().all()).toEqual(['a!1'])
      expect(await bin.keys().all()).toEqual(['a!1'])
    } finally {
      await store.close()
    }
  })

  it('stores a binary sublevel\'s string or Uint8Array value as the bytes its own put() would', async () => {
    const store = await open()
    try {
      const bin = store.binary('seg')
      await store.batch([
        { type: 'put', sublevel: bin, key: 's', value: 'tëxt' },
        { type: 'put', sublevel: bin, key: 'u', value: new Uint8Array([1, 2, 3]).subarray(1) }
      ])
      await bin.put('s2', 'tëxt' as unknown as Buffer)
      expect(await bin.get('s')).toEqual(await bin.get('s2'))
      expect(await bin.get('s')).toEqual(Buffer.from('tëxt'))
      expect(await bin.get('u')).toEqual(Buffer.from([2, 3]))
    } finally {
      await store.close()
    }
  })

  it('fails with LEVEL_DATABASE_NOT_OPEN once the store is closed', async () => {
    const store = await open()
    const json = store.json('meta')
    await store.close()
    await expect(store.batch([{ type: 'put', sublevel: json, key: 'k', value: 1 }])).rejects.toMatchObject({ code: 'LEVEL_DATABASE_NOT_OPEN' })
  })
})
