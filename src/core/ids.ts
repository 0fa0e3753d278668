import { randomBytes, randomUUID } from 'node:crypto'

// Ids are a port too, so tests can make them predictable.
export interface IdGenerator {
  /** A unique id for an event, a command or a lock token. */
  next: () => string
}

export const uuidGenerator: IdGenerator = { next: () => randomUUID() }

/** Sequential ids with a prefix; for tests. */
export function sequentialIds (prefix = 'id-'): IdGenerator {
  let n = 0
  return { next: () => `${prefix}${++n}` }
}

/** A random secret of `bytes` bytes, URL-safe base64 (for access keys and passwords). */
export function randomSecret (bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}
