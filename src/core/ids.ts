import { randomBytes, randomFillSync } from 'node:crypto'

// Ids are a port too, so tests can make them predictable.
export interface IdGenerator {
  /** A unique id for an event, a command or a lock token. */
  next: () => string
}

/** UUIDs a pool of random bytes yields before it is refilled (16 bytes each). */
const POOL_UUIDS = 256
/** Two ASCII hex digits per byte value, as char codes. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0')).join('')
const HEX_CODES = Buffer.from(HEX, 'latin1')
/** Where each of the 16 bytes goes in the 36 characters (after the dashes at 8, 13, 18 and 23). */
const AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]

/**
 * Random (version 4) UUIDs, RFC 9562 §5.4, from the system's CSPRNG like crypto.randomUUID,
 * but written as one string: Node's builds each from some twenty concatenations, about 700
 * bytes of garbage per id, and ingest makes one per message (issue 13).
 */
export function createUuidGenerator (): IdGenerator {
  const pool = Buffer.alloc(16 * POOL_UUIDS)
  let next = POOL_UUIDS
  const out = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1')
  return {
    next: () => {
      if (next === POOL_UUIDS) {
        randomFillSync(pool)
        next = 0
      }
      const base = 16 * next++
      for (let i = 0; i < 16; i++) {
        let b = pool[base + i] as number
        if (i === 6) b = (b & 0x0f) | 0x40 // version 4
        else if (i === 8) b = (b & 0x3f) | 0x80 // variant 10
        const at = AT[i] as number
        out[at] = HEX_CODES[2 * b] as number
        out[at + 1] = HEX_CODES[2 * b + 1] as number
      }
      return out.toString('latin1', 0, 36)
    }
  }
}

export const uuidGenerator: IdGenerator = createUuidGenerator()

/** Sequential ids with a prefix; for tests. */
export function sequentialIds (prefix = 'id-'): IdGenerator {
  let n = 0
  return { next: () => `${prefix}${++n}` }
}

/**
 * A random secret of `bytes` bytes, URL-safe base64 (for access keys and passwords), never
 * with a leading '-' (base64url starts 1 in 64 secrets with one): command lines read it as an
 * option, so `mqtt pub -P -x…` sends an empty password and `gridgate --key -x…` stops.
 */
export function randomSecret (bytes = 32): string {
  for (;;) {
    const secret = randomBytes(bytes).toString('base64url')
    if (secret[0] !== '-') return secret
  }
}
