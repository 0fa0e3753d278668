import { describe, expect, it } from 'vitest'
import { createTurnPacer, type TurnPacerOptions } from '../../src/core/turn-pacer.js'
import { fakeLoop } from '../helpers/fake-loop.js'

const OPTS = { targetTurnMs: 10, initial: 4, min: 2, max: 8, step: 2 }

function pacer (loop: ReturnType<typeof fakeLoop>, opts: Partial<TurnPacerOptions> = {}) {
  return createTurnPacer({ ...OPTS, ...opts, now: loop.now, later: loop.later })
}

/** Adds `n` items, then runs turns that each last the next of `turnMs` (ms); returns the releases per turn. */
function releasesPerTurn (n: number, turnMs: number[], opts: Partial<TurnPacerOptions> = {}): { perTurn: number[], order: number[] } {
  const loop = fakeLoop()
  const p = pacer(loop, opts)
  const order: number[] = []
  for (let i = 0; i < n; i++) p.add(() => { order.push(i) })
  const perTurn: number[] = []
  for (let k = 0; k < 50 && loop.scheduled > 0; k++) {
    const before = order.length
    loop.turn()
    perTurn.push(order.length - before)
    loop.spend(turnMs[Math.min(k, turnMs.length - 1)] ?? 0)
  }
  return { perTurn, order }
}

describe('turn pacer', () => {
  it.each([
    // items, length of each turn (ms), releases per turn
    [3, [1], [3]],
    [30, [1], [4, 6, 8, 8, 4]], // short turns: +2 a turn up to 8
    [20, [20], [4, 2, 2, 2, 2, 2, 2, 2, 2]], // long turns: halved down to 2
    [22, [20, 20, 1, 1, 1], [4, 2, 2, 4, 6, 4]], // long, then short again
    [0, [1], []]
  ])('%i items with turns of %j ms go %j per turn, in order', (n, turnMs, expected) => {
    const { perTurn, order } = releasesPerTurn(n, turnMs)
    expect(perTurn).toEqual(expected)
    expect(order).toEqual(Array.from({ length: n }, (_, i) => i))
  })

  it('releases nothing in the turn an item arrives, and an item alone in the next turn', () => {
    const loop = fakeLoop()
    const p = pacer(loop)
    let released = false
    p.add(() => { released = true })
    expect(released).toBe(false)
    expect(p.waiting).toBe(1)
    loop.turn()
    expect(released).toBe(true)
    expect(p.waiting).toBe(0)
    expect(loop.scheduled).toBe(0)
  })

  it('judges no turn across a quiet spell: a burst after it starts from what the last one reached', () => {
    const loop = fakeLoop()
    const p = pacer(loop)
    for (let i = 0; i < 10; i++) p.add(() => undefined)
    loop.turn() // 4 (nothing to judge yet)
    loop.spend(1)
    loop.turn() // short: 6
    expect(p.perTurn).toBe(6)
    expect(p.waiting).toBe(0)
    loop.spend(1000) // quiet, then a new burst
    for (let i = 0; i < 10; i++) p.add(() => undefined)
    loop.turn()
    expect(p.perTurn).toBe(6)
    expect(p.waiting).toBe(4)
  })

  it('an item that arrives while others wait goes after them', () => {
    const loop = fakeLoop()
    const p = pacer(loop, { initial: 2 })
    const order: string[] = []
    for (const name of ['a', 'b', 'c']) p.add(() => { order.push(name) })
    loop.turn()
    p.add(() => { order.push('d') })
    expect(order).toEqual(['a', 'b'])
    loop.turn()
    expect(order).toEqual(['a', 'b', 'c', 'd'])
  })

  it('flush releases everything waiting at once, in order', () => {
    const loop = fakeLoop()
    const p = pacer(loop)
    const order: number[] = []
    for (let i = 0; i < 20; i++) p.add(() => { order.push(i) })
    loop.turn()
    p.flush()
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i))
    expect(p.waiting).toBe(0)
    loop.turn() // the turn already scheduled finds nothing
    expect(order).toHaveLength(20)
  })

  it('a release that throws is reported and the others still go', () => {
    const loop = fakeLoop()
    const errors: unknown[] = []
    const p = pacer(loop, { onError: (err) => errors.push(err) })
    const order: number[] = []
    p.add(() => { order.push(0) })
    p.add(() => { throw new Error('boom') })
    p.add(() => { order.push(2) })
    loop.turn()
    expect(order).toEqual([0, 2])
    expect(errors).toHaveLength(1)
  })
})
