import { describe, expect, it } from 'vitest'
import { dedupeKey, DedupeWindow, eventDedupeKey } from '../../src/log/dedupe.js'

const ev = (source: string, id: unknown): Buffer => Buffer.from(JSON.stringify({ specversion: '1.0', id, source, type: 't' }))

describe('dedupe windows', () => {
  // A key appended at t=1000 in a 60 s window, asked about at `at`.
  it.each([
    { at: 1000, duplicate: true, why: 'the same instant' },
    { at: 60_999, duplicate: true, why: '1 ms before the window passes' },
    { at: 61_000, duplicate: false, why: 'exactly one window later' },
    { at: 500_000, duplicate: false, why: 'long after' }
  ])('a key asked about at $at is a duplicate: $duplicate ($why)', ({ at, duplicate }) => {
    const w = new DedupeWindow(60_000)
    w.add(1000, ['k'], undefined)
    expect(w.has('k', at)).toBe(duplicate)
    expect(w.has('other', at)).toBe(false)
  })

  it.each([
    { name: 'no repeats', events: [['/a', '1'], ['/a', '2']], indexed: [], duplicates: [] },
    { name: 'a repeat within the append', events: [['/a', '1'], ['/a', '2'], ['/a', '1']], indexed: [], duplicates: [2] },
    { name: 'a key the index holds', events: [['/a', '1'], ['/a', 'old']], indexed: ['old'], duplicates: [1] },
    { name: 'the same id from another source', events: [['/a', 'old'], ['/b', 'old']], indexed: [], duplicates: [] },
    { name: 'every event repeated', events: [['/a', 'old'], ['/a', 'old']], indexed: ['old'], duplicates: [0, 1] }
  ])('checks an append: $name', ({ events, indexed, duplicates }) => {
    const w = new DedupeWindow(60_000)
    w.add(0, indexed.map((id) => dedupeKey('/a', id)), undefined)
    const taken = new Set<string>()
    const bytes = events.map(([s, id]) => ev(s as string, id))
    const result = w.check(bytes, undefined, 10, taken)
    expect(result.duplicates).toEqual(duplicates)
    expect(result.added).toHaveLength(events.length - duplicates.length)
    expect([...taken]).toEqual(result.added)
  })

  it('counts keys an earlier append of the same batch took', () => {
    const w = new DedupeWindow(60_000)
    const taken = new Set<string>()
    expect(w.check([ev('/a', '1')], undefined, 0, taken).duplicates).toEqual([])
    expect(w.check([ev('/a', '2'), ev('/a', '1')], undefined, 0, taken).duplicates).toEqual([1])
  })

  it('uses the caller\'s keys, and indexes nothing for an undefined one', () => {
    const w = new DedupeWindow(60_000)
    w.add(0, ['k'], undefined)
    const r = w.check([ev('/a', 'k'), ev('/a', 'x'), ev('/a', 'x')], ['k', undefined, undefined], 0, new Set())
    expect(r).toEqual({ duplicates: [0], added: [] })
  })

  it.each([
    { name: 'a valid event', bytes: ev('/a', '1'), key: dedupeKey('/a', '1') },
    { name: 'a numeric id', bytes: ev('/a', 1), key: undefined },
    { name: 'no source', bytes: Buffer.from('{"id":"1"}'), key: undefined },
    { name: 'not JSON', bytes: Buffer.from('not json'), key: undefined },
    { name: 'a JSON array', bytes: Buffer.from('[1]'), key: undefined }
  ])('reads the key of $name', ({ bytes, key }) => {
    expect(eventDedupeKey(bytes)).toBe(key)
  })

  it('never confuses (source, id) pairs that concatenate alike', () => {
    expect(dedupeKey('/a', 'b/c')).not.toBe(dedupeKey('/a/b', 'c'))
  })

  it('expires batches oldest first, keeping a key appended again later', () => {
    const w = new DedupeWindow<string>(10_000)
    w.add(0, ['a', 'b'], 'r0')
    w.add(5000, ['c'], 'r5')
    w.add(12_000, ['a'], 'r12') // `a` again after its window
    expect(w.size).toBe(3)
    expect(w.expire(9999)).toEqual([])
    expect(w.expire(10_000)).toEqual(['r0'])
    expect(w.has('a', 10_000)).toBe(true)
    expect(w.has('b', 10_000)).toBe(false)
    expect(w.size).toBe(2)
    expect(w.expire(15_000)).toEqual(['r5'])
    expect(w.tags()).toEqual(['r12'])
    expect(w.expire(22_000)).toEqual(['r12'])
    expect(w.size).toBe(0)
  })

  it('stays bounded over many batches', () => {
    const w = new DedupeWindow<number>(100)
    for (let t = 0; t < 10_000; t++) {
      w.add(t, [`k${t}`], t)
      w.expire(t)
    }
    expect(w.size).toBe(100)
    expect(w.tags()).toHaveLength(100)
  })
})
