import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { randomSecret } from '../core/ids.js'

// Device passwords are generated (32 random bytes), shown once, and stored only as an
// scrypt hash `scrypt$N$r$p$salt$hash`. With 256 bits of entropy a guess is hopeless at any
// cost factor, so N is modest (about 5 ms here): the hash exists so the database holds no
// reusable secret, and connection storms of thousands of devices stay cheap.

const N = 2048
const R = 8
const P = 1
const KEYLEN = 32

function scryptAsync (password: Buffer, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEYLEN, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) => {
      if (err !== null) reject(err)
      else resolve(key)
    })
  })
}

export async function hashPassword (password: string): Promise<string> {
  const salt = randomBytes(16)
  const hash = await scryptAsync(Buffer.from(password, 'utf8'), salt, N, R, P)
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`
}

export async function verifyPassword (stored: string, password: Buffer): Promise<boolean> {
  const parts = stored.split('$')
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false
  const [n, r, p] = parts.slice(1, 4).map(Number) as [number, number, number]
  const expected = Buffer.from(parts[5] as string, 'base64')
  const actual = await scryptAsync(password, Buffer.from(parts[4] as string, 'base64'), n, r, p)
  return actual.length === expected.length && timingSafeEqual(actual, expected)
}

/** A hash to verify against when the device does not exist, so both paths take as long. */
export const DUMMY_HASH = `scrypt$${N}$${R}$${P}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(KEYLEN).toString('base64')}`

export function newPassword (): string {
  return randomSecret(32)
}

/** Fingerprint kept in memory after a successful check, so reconnects skip scrypt. */
export function fingerprint (password: Buffer): string {
  return createHash('sha256').update(password).digest('base64')
}
