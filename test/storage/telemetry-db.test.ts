import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { openLevelDb, openLevelDbAt } from '../../src/storage/level/db.js'
import { migrateTelemetry, openTelemetryStore, telemetryLocationOf } from '../../src/storage/telemetry-db.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// Telemetry's own store, and the move of its keys out of the main LevelDB (0.5's layout).

const teardown = useTeardown()

async function dataDir (): Promise<string> {
  const dir = await tempDir()
  teardown(dir.remove)
  return dir.path
}

async function oldLayout (dir: string, windows: string[]): Promise<void> {
  const main = await openLevelDb(dir)
  for (const w of windows) await main.json('telemetry').put(`w!${w}`, { definition: { name: w }, createdAt: 't' })
  await main.binary('telemetry-state').put('s!telemetry!c', Buffer.from('{"cursor":3,"outputFrom":{},"unsent":[]}'))
  await main.json('devices').put('d1', { keep: true })
  await main.close()
}

async function keysOf (path: string, sublevel: string): Promise<string[]> {
  const db = await openLevelDbAt(path)
  try { return await db.binary(sublevel).keys().all() } finally { await db.close() }
}

describe('telemetry store location', () => {
  it('is {dataDir}/telemetry on leveldb and the heap on memory', () => {
    expect(telemetryLocationOf('leveldb', '/data')).toEqual({ engine: 'leveldb', path: join('/data', 'telemetry') })
    expect(telemetryLocationOf('memory', '/data')).toEqual({ engine: 'memory' })
  })

  it('moves telemetry keys out of the main DB, byte for byte, and leaves the rest there', async () => {
    const dir = await dataDir()
    await oldLayout(dir, ['a', 'b'])
    const location = telemetryLocationOf('leveldb', dir)
    const main = await openLevelDb(dir)
    try {
      expect(await migrateTelemetry(main, location)).toBe(3)
      expect(await main.binary('telemetry').keys().all()).toEqual([])
      expect(await main.binary('telemetry-state').keys().all()).toEqual([])
      expect(await main.json('devices').get('d1')).toEqual({ keep: true })
      // A second start has nothing to move.
      expect(await migrateTelemetry(main, location)).toBe(0)
    } finally { await main.close() }
    const { store, close } = await openTelemetryStore(location)
    try {
      expect((await store.listWindows()).map((w) => w.name)).toEqual(['a', 'b'])
      expect((await store.loadStream('telemetry')).checkpoint).toEqual({ cursor: 3, outputFrom: {}, unsent: [] })
    } finally { await close() }
  })

  it('starts a copy that a crash cut short over from the main DB, dropping what the cut copy left', async () => {
    const dir = await dataDir()
    await oldLayout(dir, ['a'])
    const location = telemetryLocationOf('leveldb', dir)
    // A cut copy: a key the main DB does not hold (any more), and no mark of a finished copy.
    const partial = await openLevelDbAt(join(dir, 'telemetry'))
    await partial.json('telemetry').put('w!stale', { definition: { name: 'stale' }, createdAt: 't' })
    await partial.close()
    const main = await openLevelDb(dir)
    try { await migrateTelemetry(main, location) } finally { await main.close() }
    expect(await keysOf(join(dir, 'telemetry'), 'telemetry')).toEqual(['w!a'])
  })
})
