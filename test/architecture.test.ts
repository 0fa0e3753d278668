import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// Data flows one way through src/: a folder imports only from the folders upstream of it
// (architecture.md, "Folders of src/"). Modules declare the storage ports they use;
// src/storage/ holds the engines that implement them, so it sits downstream of the port
// owners and only the wiring (main.ts) imports it. Storage libraries are reached only there.
const SRC = fileURLToPath(new URL('../src', import.meta.url))

const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  config: ['core'],
  observability: ['core'],
  registry: ['core'],
  log: ['core'],
  broker: ['core', 'registry'],
  ingest: ['core', 'log'],
  delivery: ['core', 'log'],
  commands: ['core', 'broker', 'log'],
  telemetry: ['core', 'log'],
  // The schema registry: subjects, versions, compatibility; it reads topics for history checks.
  schemas: ['core', 'log'],
  // Device twins: a projection of the namespace topics, plus desired state sent through a narrow broker port.
  twins: ['core', 'log'],
  storage: ['core', 'registry', 'log', 'delivery', 'commands', 'telemetry', 'schemas', 'twins'],
  http: ['core', 'config', 'observability', 'registry', 'log', 'broker', 'ingest', 'delivery', 'commands', 'telemetry', 'schemas', 'twins', 'console'],
  // The web console: its browser app is a client of the HTTP API; its assets module reads files.
  console: [],
  // The admin CLI is a client of the HTTP API: it knows the gateway only by its wire.
  admin: []
}

/** Packages that are a storage engine or reach into one: imported only under src/storage/. */
const STORAGE_PACKAGES = ['level', 'classic-level', 'abstract-level', 'memory-level', 'aedes-persistence-level', 'aedes-persistence-redis', 'mqemitter-redis', 'ioredis', 'redis']

function files (dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

function folderOf (path: string): string {
  const rel = relative(SRC, path).split(sep)
  return rel.length === 1 ? '(root)' : rel[0] as string
}

/** The boundary violations of one source file. Pure, so it is tested on made-up files too. */
export function violationsOf (file: string, text: string): string[] {
  const out: string[] = []
  const from = folderOf(file)
  for (const m of text.matchAll(/^(?:import|export) (type )?[^'"]*? from '([^']+)'/gm)) {
    const spec = m[2] as string
    if (!spec.startsWith('.')) {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0] as string
      if (STORAGE_PACKAGES.includes(pkg) && from !== 'storage') out.push(`${relative(SRC, file)} imports ${spec} (storage engines only under src/storage/)`)
      continue
    }
    if (from === '(root)') continue // main.ts and cli.ts wire everything
    const path = join(file, '..', spec)
    // The frozen Config is passed down to every module: its type may be imported anywhere.
    if (m[1] !== undefined && relative(SRC, path) === join('config', 'schema.js')) continue
    const target = folderOf(path)
    if (target === from) continue
    if (target === '(root)' || !(MAY_IMPORT[from] ?? []).includes(target)) {
      out.push(`${relative(SRC, file)} imports ${spec} (${from} may not import ${target})`)
    }
  }
  return out
}

describe('module boundaries', () => {
  const sources = files(SRC)

  it('finds the source folders it checks', () => {
    const folders = new Set(sources.map(folderOf))
    for (const f of ['core', 'config', 'storage', 'log', 'http', 'observability']) expect(folders).toContain(f)
    for (const f of folders) if (f !== '(root)') expect(Object.keys(MAY_IMPORT)).toContain(f)
  })

  it('imports only from upstream folders, and storage engines only under src/storage/', () => {
    expect(sources.flatMap((file) => violationsOf(file, readFileSync(file, 'utf8')))).toEqual([])
  })

  it.each([
    { file: 'delivery/queue.ts', text: "import { Level } from 'level'", bad: true },
    { file: 'telemetry/stream.ts', text: "import type { AbstractSublevel } from 'abstract-level'", bad: true },
    { file: 'broker/broker.ts', text: "import persistence from 'aedes-persistence-level'", bad: true },
    { file: 'broker/broker.ts', text: "import MQEmitterRedis from 'mqemitter-redis'", bad: true },
    { file: 'http/server.ts', text: "import { openLevelDb } from '../storage/level/db.js'", bad: true },
    { file: 'delivery/queue.ts', text: "import type { LevelStore } from '../storage/level/db.js'", bad: true },
    { file: 'log/types.ts', text: "export type { Op } from '../storage/level/db.js'", bad: true },
    { file: 'storage/level/db.ts', text: "import { Level } from 'level'", bad: false },
    { file: 'storage/level/subscription-store.ts', text: "import type { QueueStore } from '../../delivery/store.js'", bad: false },
    { file: 'main.ts', text: "import { openStorageEngine } from './storage/engine.js'", bad: false },
    { file: 'delivery/queue.ts', text: "import type { QueueStore } from './store.js'", bad: false }
  ])('judges `$text` in src/$file: refused $bad', ({ file, text, bad }) => {
    expect(violationsOf(join(SRC, file), text).length > 0).toBe(bad)
  })
})
