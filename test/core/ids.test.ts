import { describe, expect, it } from 'vitest'
import { createUuidGenerator, randomSecret, sequentialIds } from '../../src/core/ids.js'
import { newPassword } from '../../src/registry/credentials.js'

// Event ids: random (version 4) UUIDs as RFC 9562 writes them, never repeated.

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe('uuid generator', () => {
  it('writes version 4, variant 10 UUIDs in lower-case hex with dashes, across pool refills', () => {
    const g = createUuidGenerator()
    // 1,000 ids cross the pool's refill (256 per fill) several times.
    for (let i = 0; i < 1000; i++) expect(g.next()).toMatch(UUID_V4)
  })

  it('never repeats an id, within one generator or across two', () => {
    const a = createUuidGenerator()
    const b = createUuidGenerator()
    const seen = new Set<string>()
    for (let i = 0; i < 20_000; i++) { seen.add(a.next()); seen.add(b.next()) }
    expect(seen.size).toBe(40_000)
  })

  it('uses every hex digit in the random positions (no byte is dropped or fixed)', () => {
    const g = createUuidGenerator()
    const digits = Array.from({ length: 36 }, () => new Set<string>())
    for (let i = 0; i < 2000; i++) [...g.next()].forEach((c, at) => digits[at]?.add(c))
    const fixed = [8, 13, 14, 18, 23] // the dashes and the version digit
    digits.forEach((set, at) => {
      if (fixed.includes(at)) expect(set.size).toBe(1)
      else if (at === 19) expect([...set].sort()).toEqual(['8', '9', 'a', 'b'])
      else expect(set.size).toBe(16)
    })
  })

  it('returns a string that later ids do not change', () => {
    const g = createUuidGenerator()
    const first = g.next()
    const copy = `${first}`
    for (let i = 0; i < 300; i++) g.next()
    expect(first).toBe(copy)
  })
})

describe('sequential ids', () => {
  it('counts from 1 after the prefix', () => {
    const g = sequentialIds('e-')
    expect([g.next(), g.next(), g.next()]).toEqual(['e-1', 'e-2', 'e-3'])
  })
})

describe('random secrets', () => {
  // base64url starts 1 in 64 strings with '-': 20,000 draws would hold about 300 of them.
  it.each([
    ['an access key', () => randomSecret(32)],
    ['a device password', newPassword]
  ])('%s never starts with a dash, which command lines would read as an option', (_, make) => {
    const secrets = Array.from({ length: 20_000 }, make)
    expect(secrets.filter((s) => s.startsWith('-'))).toEqual([])
    for (const s of secrets.slice(0, 100)) expect(s).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{42}$/)
    expect(new Set(secrets).size).toBe(secrets.length)
  })
})
