import { mkdir } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { TelemetryStore } from '../telemetry/store.js'
import { openLevelDbAt, openMemoryDb, type BinarySublevel, type LevelStore } from './level/db.js'
import { levelTelemetryStore } from './level/telemetry-store.js'
import { openRedisTelemetryStore, type RedisTelemetryLocation } from './redis/engine.js'

// Telemetry's own store. Its checkpoint commit writes every changed rollup bucket, policy and
// window operator in one atomic batch (tens of thousands of keys at 5,000 msg/s), and an
// abstract-level batch encodes and hands its ops to the engine synchronously, on the thread
// that calls it. So telemetry keeps its state in a store of its own that the telemetry
// worker opens on its thread (src/telemetry-worker.ts):
//   leveldb  a second LevelDB at {dataDir}/telemetry (one process may open several LevelDB
//            directories, never the same one twice), same key layout as before
//            (level/telemetry-store.ts);
//   memory   a memory-level in the heap of the thread that opens it.
// A location is plain data, so it can be posted to a worker.

export type TelemetryLocation =
  | { engine: 'leveldb', path: string }
  | { engine: 'memory' }
  | RedisTelemetryLocation

export interface OpenTelemetryStore {
  store: TelemetryStore
  close: () => Promise<void>
}

export const telemetryLocationOf = (engine: 'leveldb' | 'memory', dataDir: string): TelemetryLocation =>
  engine === 'memory' ? { engine } : { engine, path: join(dataDir, 'telemetry') }

/** Opens telemetry's store where `location` says, on the calling thread. */
export async function openTelemetryStore (location: TelemetryLocation): Promise<OpenTelemetryStore> {
  // redis: the engine's server and prefix, on a connection of the calling thread (redis/engine.ts).
  if (location.engine === 'redis') return await openRedisTelemetryStore(location)
  const db = await openTelemetryDb(location)
  return { store: levelTelemetryStore(db), close: () => db.close() }
}

async function openTelemetryDb (location: Exclude<TelemetryLocation, RedisTelemetryLocation>): Promise<LevelStore> {
  if (location.engine === 'memory') return await openMemoryDb()
  await mkdir(dirname(location.path), { recursive: true })
  return await openLevelDbAt(location.path)
}

/** The sublevels telemetry's layout uses (level/telemetry-store.ts). */
const SUBLEVELS = ['telemetry', 'telemetry-state'] as const
/** In the telemetry DB: set once a migration's copy is complete, removed when it is done. */
const MARKER = 'migrated-from-db'
const CHUNK = 1000

async function isEmpty (s: BinarySublevel): Promise<boolean> {
  return (await s.keys({ limit: 1 }).all()).length === 0
}

/**
 * Moves telemetry's keys from the main DB (where 0.5 and earlier kept them, in the sublevels
 * `telemetry` and `telemetry-state`) to the telemetry DB at `location`; returns how many.
 * Runs before telemetry starts. Restart-safe: until the copy is complete (a marker in the
 * telemetry DB says so, written with sync) the main DB is untouched and the copy starts over;
 * after it, only the main DB's keys are removed. Values are copied as bytes, so the layout
 * stays exactly as it was. The memory engine has nothing to move.
 */
export async function migrateTelemetry (main: LevelStore, location: TelemetryLocation): Promise<number> {
  if (location.engine !== 'leveldb') return 0
  const from = SUBLEVELS.map((name) => main.binary(name))
  if ((await Promise.all(from.map(isEmpty))).every(Boolean)) return 0
  const dst = await openTelemetryDb(location)
  let moved = 0
  try {
    const meta = dst.binary('meta')
    if ((await meta.get(MARKER))?.toString() !== 'copied') {
      for (const name of SUBLEVELS) await dst.binary(name).clear()
      for (const name of SUBLEVELS) {
        const to = dst.binary(name)
        const it = main.binary(name).iterator()
        try {
          for (let page = await it.nextv(CHUNK); page.length > 0; page = await it.nextv(CHUNK)) {
            await to.batch(page.map(([key, value]) => ({ type: 'put' as const, key, value })))
            moved += page.length
          }
        } finally {
          await it.close()
        }
      }
      // sync: the copy is on disk before anything of the main DB goes.
      await dst.batch([{ type: 'put', sublevel: meta, key: MARKER, value: Buffer.from('copied') }], { sync: true })
    }
    for (const s of from) await s.clear()
    await meta.del(MARKER)
  } finally {
    await dst.close()
  }
  return moved
}
