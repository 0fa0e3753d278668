import { describe, expect, it } from 'vitest'
import { isJsonText } from '../../src/ingest/json-text.js'
import { seeded } from '../helpers/seeded.js'

/** What JSON.parse says of the same bytes (valid UTF-8 only: the validator also refuses invalid UTF-8). */
function parses (text: string): boolean {
  try { JSON.parse(text); return true } catch { return false }
}

describe('isJsonText on single texts', () => {
  it.each([
    '{}', '[]', '""', '0', '-0', '1.5', '-1.5e-3', '1E+9', '2e10', 'true', 'false', 'null',
    '{"a":1}', '{"a":{"b":[1,2,{"c":null}]}}', '[1,"2",null,true,false,{},[]]', ' \n\t\r{"a" : [ 1 , 2 ] }\r\n',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u00e9\\uD83C\\udf21"', '{"ø":"€🌡️"}', '{"":""}', '[[[[[[[[[[]]]]]]]]]]'
  ])('accepts %j as JSON.parse does', (text) => {
    expect(parses(text)).toBe(true)
    expect(isJsonText(Buffer.from(text, 'utf8'))).toBe(true)
  })

  it.each([
    '', ' ', '{', '}', '[', ']', '{"a"}', '{"a":}', '{"a":1,}', '[1,]', '[,1]', '{,}', '{a:1}', "'a'", '01', '1.', '.5', '1e', '1e+',
    '+1', '-', '--1', 'tru', 'nul', 'falsey', 'NaN', 'Infinity', '"\\x"', '"\\u12"', '"\\u12G4"', '"a\u0001b"', '"unterminated',
    '{}{}', '{} x', '[1 2]', '{"a" 1}', '{"a":1 "b":2}', '\ufeff{}', '[1]]', '[[1]', '{"a":[}', '"\n"'
  ])('refuses %j as JSON.parse does', (text) => {
    expect(parses(text)).toBe(false)
    expect(isJsonText(Buffer.from(text, 'utf8'))).toBe(false)
  })

  it.each([
    { name: 'invalid UTF-8 inside a string', bytes: [0x22, 0xff, 0x22] },
    { name: 'a truncated UTF-8 sequence inside a string', bytes: [0x22, 0xc3, 0x22] },
    { name: 'an overlong encoding inside a string', bytes: [0x22, 0xc0, 0xaf, 0x22] },
    { name: 'an encoded surrogate inside a string', bytes: [0x22, 0xed, 0xa0, 0x80, 0x22] },
    { name: 'a non-ASCII byte outside a string', bytes: [0x5b, 0xc3, 0xa9, 0x5d] },
    { name: 'a NUL before the text', bytes: [0x00, 0x7b, 0x7d] }
  ])('refuses $name (the bytes are embedded raw)', ({ bytes }) => {
    expect(isJsonText(Buffer.from(bytes))).toBe(false)
  })

  it('accepts nesting far deeper than a recursive parser could go', () => {
    const depth = 100_000
    expect(isJsonText(Buffer.from('['.repeat(depth) + ']'.repeat(depth)))).toBe(true)
    expect(isJsonText(Buffer.from('['.repeat(depth) + ']'.repeat(depth - 1)))).toBe(false)
  })

  it('gives the same verdict on a payload after a refused one (no state left behind)', () => {
    expect(isJsonText(Buffer.from('[[[{"a":'))).toBe(false)
    expect(isJsonText(Buffer.from('1'))).toBe(true)
  })
})

describe('isJsonText against JSON.parse on generated texts', () => {
  const alphabet = ['{', '}', '[', ']', ',', ':', '"', '\\', 'u', '0', '1', '9', '-', '+', '.', 'e', 'E', 't', 'r', 'u', 'e', 'f', 'a', 'l', 's', 'n', ' ', '\n', 'x', 'é', '€', '\u0001']
  const samples = ['{"temp":21.5,"hum":40,"ok":true,"tags":["a","b"],"n":null}', '[1,-2.5e3,"x\\n",{"k":{}}]', '"\\u00e9"', '-0.0e+1']

  it('agrees on 20,000 random mutations of valid texts and on 20,000 random strings', () => {
    const random = seeded(13)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
    const cases: string[] = []
    for (let k = 0; k < 20_000; k++) {
      const chars = [...pick(samples)]
      const edits = 1 + Math.floor(random() * 3)
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(random() * (chars.length + 1))
        const op = random()
        if (op < 0.33) chars.splice(at, 1)
        else if (op < 0.66) chars.splice(at, 0, pick(alphabet))
        else chars.splice(at, 1, pick(alphabet))
      }
      cases.push(chars.join(''))
    }
    for (let k = 0; k < 20_000; k++) {
      let s = ''
      const len = Math.floor(random() * 12)
      for (let c = 0; c < len; c++) s += pick(alphabet)
      cases.push(s)
    }
    const disagreements = cases.filter((text) => isJsonText(Buffer.from(text, 'utf8')) !== parses(text))
    expect(disagreements).toEqual([])
    // The generator must produce both verdicts, or the comparison proves little.
    const accepted = cases.filter(parses).length
    expect(accepted).toBeGreaterThan(1_000)
    expect(cases.length - accepted).toBeGreaterThan(1_000)
  })
})
