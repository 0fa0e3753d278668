import { describe, expect, it } from 'vitest'
import { bytes, cell, keyValues, seconds, table } from '../../src/admin/format.js'

describe('output for people', () => {
  it('aligns a table on its widest cells, without trailing spaces', () => {
    expect(table(['ID', 'CONNECTED', 'NOTE'], [['sensor-1', 'yes', 'a'], ['s2', null, undefined]])).toBe(
      'ID        CONNECTED  NOTE\n' +
      'sensor-1  yes        a\n' +
      's2        -          -\n')
  })

  it('prints nested values as compact JSON', () => {
    expect(cell({ a: [1, 2] })).toBe('{"a":[1,2]}')
    expect(keyValues({ id: 'p-1', status: 'succeeded', result: { ok: true } })).toBe('id      p-1\nstatus  succeeded\nresult  {"ok":true}\n')
  })

  it.each([
    { n: 0, text: '0 B' }, { n: 1023, text: '1023 B' }, { n: 1536, text: '1.5 KiB' }, { n: 8 * 1024 * 1024, text: '8.0 MiB' }
  ])('prints $n bytes as $text', ({ n, text }) => {
    expect(bytes(n)).toBe(text)
  })

  it.each([
    { n: 0, text: 'none' }, { n: 45, text: '45s' }, { n: 5400, text: '90m' }, { n: 86400, text: '1d' }, { n: 604800, text: '7d' }
  ])('prints $n seconds as $text', ({ n, text }) => {
    expect(seconds(n)).toBe(text)
  })
})
