import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

// Data flows one way through src/: a folder imports only from the folders upstream of it
// (architecture.md, "Folders of src/"). This test fails on an import against the flow.
const SRC = fileURLToPath(new URL('../src', import.meta.url))

const MAY_IMPORT: Record<string, string[]> = {
  core: [],
  config: ['core'],
  observability: ['core'],
  storage: ['core'],
  registry: ['core', 'storage'],
  log: ['core', 'storage'],
  broker: ['core', 'storage', 'registry'],
  ingest: ['core', 'log'],
  delivery: ['core', 'storage', 'log'],
  commands: ['core', 'storage', 'broker', 'log'],
  telemetry: ['core', 'storage', 'log'],
  http: ['core', 'config', 'observability', 'storage', 'registry', 'log', 'broker', 'ingest', 'delivery', 'commands', 'telemetry']
}

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

describe('module boundaries', () => {
  const sources = files(SRC)

  it('finds the source folders it checks', () => {
    const folders = new Set(sources.map(folderOf))
    for (const f of ['core', 'config', 'storage', 'log', 'http', 'observability']) expect(folders).toContain(f)
    for (const f of folders) if (f !== '(root)') expect(Object.keys(MAY_IMPORT)).toContain(f)
  })

  it('imports only from upstream folders', () => {
    const violations: string[] = []
    for (const file of sources) {
      const from = folderOf(file)
      if (from === '(root)') continue // main.ts and cli.ts wire everything
      const text = readFileSync(file, 'utf8')
      for (const m of text.matchAll(/^import (type )?[^'"]*? from '(\.[^']+)'/gm)) {
        const path = join(file, '..', m[2] as string)
        // The frozen Config is passed down to every module: its type may be imported anywhere.
        if (m[1] !== undefined && relative(SRC, path) === join('config', 'schema.js')) continue
        const target = folderOf(path)
        if (target === from) continue
        if (target === '(root)' || !(MAY_IMPORT[from] ?? []).includes(target)) {
          violations.push(`${relative(SRC, file)} imports ${m[2] as string} (${from} may not import ${target})`)
        }
      }
    }
    expect(violations).toEqual([])
  })
})
