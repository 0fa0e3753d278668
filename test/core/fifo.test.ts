import { describe, expect, it } from 'vitest'
import { Fifo } from '../../src/core/fifo.js'

describe('fifo', () => {
  it.each([
    // pushed, taken, then pushed again
    [0, 0, 0],
    [3, 1, 0],
    [3, 3, 2],
    [3000, 2000, 5], // compacted after most of it was taken
    [5000, 5000, 1]
  ])('%i pushed, %i taken, %i more pushed: the rest comes out in order', (first, taken, more) => {
    const q = new Fifo<number>()
    for (let i = 0; i < first; i++) q.push(i)
    const out: number[] = []
    for (let i = 0; i < taken; i++) out.push(q.take() as number)
    for (let i = 0; i < more; i++) q.push(first + i)
    expect(q.size).toBe(first - taken + more)
    while (q.size > 0) out.push(q.take() as number)
    expect(out).toEqual(Array.from({ length: first + more }, (_, i) => i))
    expect(q.take()).toBeUndefined()
  })
})
