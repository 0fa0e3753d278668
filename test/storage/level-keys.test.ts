import { describe, it, expect } from 'vitest'
import { decodeNumber, encodeOffset, encodeTime, RANGE_END } from '../../src/storage/level/keys.js'

// Deliberately not in order, with neighbours across every digit-count boundary.
const NUMBERS = [
  1000, 0, 9, 10_000_000_000, 1, 99, 100, 10, 999, 2 ** 32, 2 ** 32 - 1,
  123_456_789, 1_767_225_600_000, 98_765, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1, 2, 11
]
const TIMES = [1_767_225_600_000, 0, 1, 999, 1000, 946_684_800_000, 999_999_999_999, 1_000_000_000_000, 86_400_000, 999_999_999_999_999]

const numeric = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b)
const byString = (xs: readonly string[]): string[] => [...xs].sort()

describe('encodeOffset', () => {
  it('sorts as strings in the same order as the numbers it encodes', () => {
    const sorted = byString(NUMBERS.map(encodeOffset)).map(decodeNumber)
    expect(sorted).toEqual(numeric(NUMBERS))
  })

  it.each(NUMBERS)('encodes %d in exactly 16 digits', (n) => {
    expect(encodeOffset(n)).toMatch(/^\d{16}$/)
  })

  it.each([
    { n: 0, key: '0000000000000000' },
    { n: 42, key: '0000000000000042' },
    { n: Number.MAX_SAFE_INTEGER, key: '9007199254740991' }
  ])('encodes $n as $key', ({ n, key }) => {
    expect(encodeOffset(n)).toBe(key)
  })

  it.each(NUMBERS)('round-trips %d through decodeNumber', (n) => {
    expect(decodeNumber(encodeOffset(n))).toBe(n)
  })

  it.each([
    { name: 'a negative number', n: -1 },
    { name: 'a negative fraction', n: -0.5 },
    { name: 'a fraction', n: 1.5 },
    { name: 'NaN', n: Number.NaN },
    { name: 'Infinity', n: Number.POSITIVE_INFINITY },
    { name: 'an integer beyond the safe range', n: Number.MAX_SAFE_INTEGER + 1 }
  ])('refuses $name', ({ n }) => {
    expect(() => encodeOffset(n)).toThrow(RangeError)
    expect(() => encodeOffset(n)).toThrow(`cannot encode ${n} as a key`)
  })

  it('places RANGE_END after every offset key', () => {
    for (const n of NUMBERS) expect(encodeOffset(n) < RANGE_END).toBe(true)
  })
})

describe('encodeTime', () => {
  it('sorts as strings in the same order as the times it encodes', () => {
    const sorted = byString(TIMES.map(encodeTime)).map(decodeNumber)
    expect(sorted).toEqual(numeric(TIMES))
  })

  it.each(TIMES)('encodes %d in exactly 15 digits', (ms) => {
    expect(encodeTime(ms)).toMatch(/^\d{15}$/)
  })

  it.each([
    { ms: 0, key: '000000000000000' },
    { ms: 1_767_225_600_000, key: '001767225600000' },
    { ms: 1.9, key: '000000000000001' },
    { ms: 1_767_225_600_000.999, key: '001767225600000' },
    { ms: -1, key: '000000000000000' },
    { ms: -1_000_000, key: '000000000000000' }
  ])('encodes $ms as $key (floored, clamped at the epoch)', ({ ms, key }) => {
    expect(encodeTime(ms)).toBe(key)
  })

  it.each([Number.NaN, Number.POSITIVE_INFINITY])('refuses %d', (ms) => {
    expect(() => encodeTime(ms)).toThrow(RangeError)
  })
})

describe('decodeNumber', () => {
  it.each([
    { text: '0000000000000000', n: 0 },
    { text: '0000000000000042', n: 42 },
    { text: '001767225600000', n: 1_767_225_600_000 },
    { text: '9007199254740991', n: Number.MAX_SAFE_INTEGER }
  ])('reads $text as $n', ({ text, n }) => {
    expect(decodeNumber(text)).toBe(n)
  })

  it.each(['abc', '1.5', '12a', '9007199254740993', 'NaN', 'Infinity'])('refuses %j', (text) => {
    expect(() => decodeNumber(text)).toThrow(RangeError)
    expect(() => decodeNumber(text)).toThrow(`not a key number: '${text}'`)
  })
})

describe('RANGE_END', () => {
  it('sorts after every character of topic names, numbers and the key separator', () => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-!'
    for (const c of chars) expect(c < RANGE_END).toBe(true)
  })

  it('closes a prefix range: every key with the prefix sorts before prefix + RANGE_END', () => {
    const prefix = 'events!telemetry!'
    const keys = [0, 1, Number.MAX_SAFE_INTEGER].map((n) => prefix + encodeOffset(n))
    for (const k of keys) {
      expect(k > prefix).toBe(true)
      expect(k < prefix + RANGE_END).toBe(true)
    }
    expect('events!telemetry2!' + encodeOffset(0) < prefix + RANGE_END).toBe(false)
  })
})
