import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ERRORS, GridgateError } from '../../src/core/errors.js'

// The catalogue and the README's error table must list the same codes with the same statuses.
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const section = README.slice(README.indexOf('## Errors'), README.indexOf('\n## ', README.indexOf('## Errors') + 1))
const documented = new Map([...section.matchAll(/^\| `([A-Z_]+)` \| (\d{3}|–) \|/gm)].map((m) => [m[1] as string, m[2] as string]))

describe('the error catalogue', () => {
  it('documents every code in the README with its status, and nothing else', () => {
    expect([...documented.keys()].sort()).toEqual(Object.keys(ERRORS).sort())
    for (const [code, { status }] of Object.entries(ERRORS)) {
      if (code === 'CONFIG_INVALID') continue // not an HTTP answer: documented as '–'
      expect(`${code} ${documented.get(code) ?? ''}`).toBe(`${code} ${status}`)
    }
  })

  it('builds errors that carry their code, status, details and cause', () => {
    const cause = new Error('disk')
    const e = new GridgateError('STORAGE_WRITE_FAILED', undefined, { cause, details: { topic: 't' } })
    expect(e).toMatchObject({ code: 'STORAGE_WRITE_FAILED', status: 503, details: { topic: 't' }, cause })
    expect(e.message).toBe(ERRORS.STORAGE_WRITE_FAILED.message)
  })

  it.each(Object.entries(ERRORS))('%s has an HTTP status and a message', (_code, { status, message }) => {
    expect(status).toBeGreaterThanOrEqual(400)
    expect(status).toBeLessThan(600)
    expect(message.length).toBeGreaterThan(0)
  })
})
