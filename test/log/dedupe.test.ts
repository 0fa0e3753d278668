import { describe, expect, it } from 'vitest'
import { dedupeKey, DedupeWindow, eventDedupeKey, keyAt, type PendingBatch } from '../../src/log/dedupe.js'

const ev = (source: string, id: unknown): Buffer => Buffer.from(JSON.stringify({ specversion: '1.0', id, source, type: 't' }))

/** What an engine's plan does with one append: the indexes of its duplicates. */
function check (w: DedupeWindow<unknown>, pending: PendingBatch, events: Buffer[], keys?: Array<string | undefined>): number[] {
  const duplicates: number[] = []
  events.forEach((_, i) => {
    const key = keyAt(events, keys, i)
    if (key !== undefined && !w.take(pending, key)) duplicates.push(i)
  })
  return duplicates
}

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
    const pending = w.begin(10)
    expect(check(w, pending, events.map(([s, id]) => ev(s as string, id)))).toEqual(duplicates)
    expect(w.taken(pending)).toHaveLength(events.length - duplicates.length)
  })

  it('counts keys an earlier append of the same batch took, and forgets them if the batch is not written', () => {
    const w = new DedupeWindow(60_000)
    const pending = w.begin(0)
    expect(check(w, pending, [ev('/a', '1')])).toEqual([])
    expect(check(w, pending, [ev('/a', '2'), ev('/a', '1')])).toEqual([1])
    expect(w.has(dedupeKey('/a', '1'), 0)).toBe(true)
    w.abort(pending)
    expect(w.has(dedupeKey('/a', '1'), 0)).toBe(false)
    expect(w.size).toBe(0)
    const again = w.begin(1)
    expect(check(w, again, [ev('/a', '1')])).toEqual([])
    w.commit(again, undefined)
    expect(w.has(dedupeKey('/a', '1'), 2)).toBe(true)
  })

  it('uses the caller\'s keys, and indexes nothing for an undefined one', () => {
    const w = new DedupeWindow(60_000)
    w.add(0, ['k'], undefined)
    const pending = w.begin(0)
    expect(check(w, pending, [ev('/a', 'k'), ev('/a', 'x'), ev('/a', 'x')], ['k', undefined, undefined])).toEqual([0])
    expect(w.taken(pending)).toEqual([])
  })

  it.each([
    { name: 'a key holding the separator', key: 'a\u0001b', other: 'a' },
    { name: 'a key inside another', key: 'ab', other: 'xaby' },
    { name: 'an empty id', key: dedupeKey('/s', ''), other: dedupeKey('/s', 'x') }
  ])('finds exactly the keys a batch holds: $name', ({ key, other }) => {
    const w = new DedupeWindow(60_000)
    w.add(0, [other], undefined)
    expect(w.has(key, 1)).toBe(false)
    w.add(0, [key], undefined)
    expect(w.has(key, 1)).toBe(true)
    expect(w.has(other, 1)).toBe(true)
  })

  it('keeps keys whose hashes collide apart', () => {
    // Many keys against a 30-bit hash: collisions happen, and none makes another key a duplicate.
    const w = new DedupeWindow(60_000)
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}`)
    w.add(0, keys, undefined)
    expect(Array.from({ length: 100_000 }, (_, i) => `x${i}`).filter((k) => w.has(k, 1))).toEqual([])
    expect(keys.filter((k) => !w.has(k, 1))).toEqual([])
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
    expect(w.size).toBe(4) // a counts once per batch that holds it
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
