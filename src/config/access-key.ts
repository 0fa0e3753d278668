import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { randomSecret } from '../core/ids.js'

// No secret is ever committed: when the config names no HTTP key, the first start makes
// one, keeps it in the data directory (owner-only file) and shows it once.

export const ACCESS_KEY_FILE = 'http-access-key'

export interface ResolvedKeys {
  keys: string[]
  /** Set only on the start that generated the key, so it can be shown once. */
  generated?: { key: string, file: string }
}

export async function resolveAccessKeys (configured: readonly string[], dataDir: string): Promise<ResolvedKeys> {
  if (configured.length > 0) return { keys: [...configured] }
  const file = join(dataDir, ACCESS_KEY_FILE)
  try {
    const key = (await readFile(file, 'utf8')).trim()
    if (key.length > 0) return { keys: [key] }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dataDir, { recursive: true })
  const key = randomSecret(32)
  await writeFile(file, key + '\n', { mode: 0o600 })
  return { keys: [key], generated: { key, file } }
}
