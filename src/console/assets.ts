import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

// The web console's built assets (src/console/build.ts writes them), served by the HTTP
// server from memory. Only these names are served: nothing else in the folder is reachable.

/** dist/console/ of this checkout, from src/console/ (tests) and dist/console/ (npm start) alike. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../dist/console/', import.meta.url))

const TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8'
}

/** The file names the console consists of. */
export const CONSOLE_FILES = Object.keys(TYPES)

export interface Asset {
  body: Buffer
  type: string
  /** A strong validator of the content, for If-None-Match. */
  etag: string
}

export interface ConsoleAssets {
  /** The asset, or undefined when the name is not one of the console's or it is not built. */
  get: (name: string) => Promise<Asset | undefined>
}

/** Reads the assets from `dir` when first asked for and keeps them (they change only with a build). */
export function consoleAssets (dir: string = CONSOLE_DIR): ConsoleAssets {
  const cache = new Map<string, Promise<Asset | undefined>>()
  const load = async (name: string): Promise<Asset | undefined> => {
    try {
      const body = await readFile(`${dir}/${name}`)
      return { body, type: TYPES[name] as string, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }
    } catch {
      cache.delete(name) // not built yet: look again next time
      return undefined
    }
  }
  return {
    get: async (name) => {
      if (!(name in TYPES)) return undefined
      let asset = cache.get(name)
      if (asset === undefined) {
        asset = load(name)
        cache.set(name, asset)
      }
      return await asset
    }
  }
}
