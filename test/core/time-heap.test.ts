import { describe, expect, it } from 'vitest'
import { TimeHeap } from '../../src/core/time-heap.js'

// A seeded generator, so a failure shows the same heap again.
function rng (seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

const drain = <T>(h: TimeHeap<T>): Array<[number, T]> => {
  const out: Array<[number, T]> = []
  while (h.size > 0) {
    const { time, value } = h.pop()
    out.push([time, value])
  }
  return out
}

describe('TimeHeap', () => {
  it.each([1, 2, 7, 100, 1000])('pops %i entries by time, ties in insertion order', (n) => {
    const next = rng(n)
    const h = new TimeHeap<number>()
    const pushed: Array<[number, number]> = []
    for (let i = 0; i < n; i++) {
      const t = Math.floor(next() * 10) // many ties
      h.push(t, i)
      pushed.push([t, i])
    }
    const expected = [...pushed].sort((a, b) => a[0] - b[0] || a[1] - b[1])
    expect(h.minTime()).toBe(expected[0]?.[0])
    expect(drain(h)).toEqual(expected)
    expect(h.minTime()).toBe(Infinity)
    expect(h.peek()).toBeUndefined()
  })

  it('keeps its order when pushes and pops interleave', () => {
    const next = rng(42)
    const h = new TimeHeap<number>()
    const model: Array<[number, number]> = []
    let id = 0
    for (let step = 0; step < 2000; step++) {
      if (model.length > 0 && next() < 0.4) {
        model.sort((a, b) => a[0] - b[0] || a[1] - b[1])
        const want = model.shift() as [number, number]
        const got = h.pop()
        expect([got.time, got.value]).toEqual(want)
      } else {
        const t = Math.floor(next() * 50)
        h.push(t, id)
        model.push([t, id++])
      }
    }
  })

  it('retain keeps the accepted entries and their order', () => {
    const h = new TimeHeap<number>()
    for (let i = 0; i < 200; i++) h.push((i * 37) % 23, i)
    h.retain((v) => v % 3 !== 0)
    const out = drain(h)
    expect(out.every(([, v]) => v % 3 !== 0)).toBe(true)
    expect(out).toHaveLength(200 - 67)
    expect(out).toEqual([...out].sort((a, b) => a[0] - b[0] || a[1] - b[1]))
  })

  it('load rebuilds the heap arrays() gave, and continues its insertion order', () => {
    const h = new TimeHeap<string>()
    for (const [t, v] of [[5, 'a'], [1, 'b'], [5, 'c'], [3, 'd']] as const) h.push(t, v)
    const copy = new TimeHeap<string>()
    expect(copy.load(h.arrays())).toBe(true)
    copy.push(5, 'e')
    expect(drain(copy).map(([, v]) => v)).toEqual(['b', 'd', 'a', 'c', 'e'])
  })

  it.each([
    ['lengths differ', { seq: 2, times: [1, 2], seqs: [0], values: ['a', 'b'] }],
    ['a child before its parent', { seq: 2, times: [2, 1], seqs: [0, 1], values: ['a', 'b'] }],
    ['a tie out of insertion order', { seq: 2, times: [1, 1], seqs: [1, 0], values: ['a', 'b'] }],
    ['a seq at or past the counter', { seq: 1, times: [1, 2], seqs: [0, 1], values: ['a', 'b'] }],
    ['a negative counter', { seq: -1, times: [], seqs: [], values: [] }]
  ])('load refuses arrays that are not a heap: %s', (_why, arrays) => {
    const h = new TimeHeap<string>()
    h.push(9, 'kept')
    expect(h.load(arrays)).toBe(false)
    expect(drain(h)).toEqual([[9, 'kept']])
  })
})
