import { describe, it, expect } from 'vitest'
import { createAuthenticator, isOpenPath } from '../../src/http/auth.js'

const KEY_A = 'key-a-0123456789abcdef'
const KEY_B = 'key-b-fedcba9876543210'

describe('createAuthenticator(keys).check', () => {
  const auth = createAuthenticator([KEY_A, KEY_B])

  it.each([
    { name: 'SharedAccessKey with the first key', header: `SharedAccessKey ${KEY_A}` },
    { name: 'SharedAccessKey with the second key', header: `SharedAccessKey ${KEY_B}` },
    { name: 'Bearer with the first key', header: `Bearer ${KEY_A}` },
    { name: 'Bearer with the second key', header: `Bearer ${KEY_B}` },
    { name: 'a lower-case scheme', header: `sharedaccesskey ${KEY_A}` },
    { name: 'an upper-case scheme', header: `BEARER ${KEY_B}` },
    { name: 'a mixed-case scheme', header: `sHaReDaCcEsSkEy ${KEY_B}` },
    { name: 'several spaces after the scheme', header: `Bearer    ${KEY_A}` },
    { name: 'a tab after the scheme', header: `Bearer\t${KEY_A}` },
    { name: 'trailing whitespace', header: `Bearer ${KEY_A}  ` }
  ])('accepts $name', ({ header }) => {
    expect(auth.check(header)).toBe(true)
  })

  it.each([
    { name: 'a missing header', header: undefined },
    { name: 'an empty header', header: '' },
    { name: 'the key without a scheme', header: KEY_A },
    { name: 'the scheme without a key', header: 'Bearer' },
    { name: 'the scheme and a space only', header: 'Bearer ' },
    { name: 'no space between scheme and key', header: `Bearer${KEY_A}` },
    { name: 'the Basic scheme', header: `Basic ${KEY_A}` },
    { name: 'the SharedAccessSignature scheme', header: `SharedAccessSignature ${KEY_A}` },
    { name: 'a wrong key', header: 'Bearer key-c-0000000000000000' },
    { name: 'a key with different letter case', header: `Bearer ${KEY_A.toUpperCase()}` },
    { name: 'a prefix of a key', header: `Bearer ${KEY_A.slice(0, -1)}` },
    { name: 'a key with an extra character', header: `Bearer ${KEY_A}x` },
    { name: 'two keys joined', header: `Bearer ${KEY_A}${KEY_B}` },
    { name: 'a key followed by a second word', header: `Bearer ${KEY_A} ${KEY_B}` },
    { name: 'leading whitespace before the scheme', header: ` Bearer ${KEY_A}` }
  ])('rejects $name', ({ header }) => {
    expect(auth.check(header)).toBe(false)
  })

  it.each([
    undefined,
    '',
    `Bearer ${KEY_A}`,
    `SharedAccessKey ${KEY_A}`
  ])('rejects %j when no keys are configured', (header) => {
    expect(createAuthenticator([]).check(header)).toBe(false)
  })

  it('accepts a key only while it is in the list it was created with', () => {
    const keys = [KEY_A]
    const one = createAuthenticator(keys)
    keys.push(KEY_B)
    expect(one.check(`Bearer ${KEY_A}`)).toBe(true)
    expect(one.check(`Bearer ${KEY_B}`)).toBe(false)
  })
})

describe('isOpenPath', () => {
  it.each(['/healthz', '/readyz', '/openapi.json', '/docs', '/docs/', '/docs/static/index.html', '/docs/json', '/', '/console/console.js', '/console/console.css'])('answers %s without a key', (path) => {
    expect(isOpenPath(path)).toBe(true)
  })

  it.each(['/topics', '/stream', '/console', '/consolex/a', '/metrics', '/openapi.json/x', '/docsx', '/doc', '/healthz/x', '/HEALTHZ', '/openapi.yaml'])('asks for a key at %s', (path) => {
    expect(isOpenPath(path)).toBe(false)
  })
})
