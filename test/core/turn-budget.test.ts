import { describe, expect, it } from 'vitest'
import { createTurnBudget } from '../../src/core/turn-budget.js'
import { fakeLoop } from '../helpers/fake-loop.js'

describe('turn budget', () => {
  it.each([
    // jobs, cost per job (ms), budget (ms), jobs run per turn
    [1, 1, 4, [1]],
    [4, 1, 4, [4]],
    [10, 1, 4, [4, 4, 2]],
    [10, 3, 4, [2, 2, 2, 2, 2]],
    [3, 10, 4, [1, 1, 1]],
    [0, 1, 4, []]
  ])('%i jobs of %i ms with a budget of %i ms run %j per turn, in order', (jobs, cost, budgetMs, perTurn) => {
    const loop = fakeLoop()
    const budget = createTurnBudget({ budgetMs, now: loop.now, later: loop.later })
    const ran: number[] = []
    let turn = 0
    const runs: number[] = []
    for (let i = 0; i < jobs; i++) budget.run((done) => { loop.spend(cost); ran.push(i); runs[turn] = (runs[turn] ?? 0) + 1; done() })
    for (let k = 0; k < 20 && loop.scheduled > 0; k++) {
      turn++
      loop.turn()
    }
    expect(runs.filter((n) => n !== undefined)).toEqual(perTurn)
    expect(ran).toEqual(Array.from({ length: jobs }, (_, i) => i))
    expect(budget.waiting).toBe(0)
  })

  it('a job that comes while others wait runs after them, even when it is cheap', () => {
    const loop = fakeLoop()
    const budget = createTurnBudget({ budgetMs: 4, now: loop.now, later: loop.later })
    const ran: string[] = []
    for (const name of ['a', 'b', 'c']) budget.run((done) => { loop.spend(3); ran.push(name); done() })
    expect(ran).toEqual(['a', 'b'])
    expect(budget.waiting).toBe(1)
    budget.run((done) => { ran.push('d'); done() })
    expect(ran).toEqual(['a', 'b'])
    loop.turn()
    expect(ran).toEqual(['a', 'b', 'c', 'd'])
  })

  it('a new turn starts with a fresh budget', () => {
    const loop = fakeLoop()
    const budget = createTurnBudget({ budgetMs: 4, now: loop.now, later: loop.later })
    const ran: number[] = []
    budget.run((done) => { loop.spend(5); ran.push(1); done() })
    loop.turn()
    budget.run((done) => { loop.spend(1); ran.push(2); done() })
    expect(ran).toEqual([1, 2])
  })

  it('a job that throws is reported and the others still run', () => {
    const loop = fakeLoop()
    const errors: unknown[] = []
    const budget = createTurnBudget({ budgetMs: 4, now: loop.now, later: loop.later, onError: (e) => errors.push(e) })
    const ran: number[] = []
    budget.run(() => { loop.spend(5); throw new Error('boom') })
    budget.run((done) => { ran.push(2); done() })
    loop.turn()
    expect(errors).toHaveLength(1)
    expect(ran).toEqual([2])
    expect(budget.inFlight).toBe(0)
  })

  it('starts no more than maxInFlight jobs until earlier ones are done, then goes on in order', () => {
    const loop = fakeLoop()
    const budget = createTurnBudget({ budgetMs: 100, maxInFlight: 2, now: loop.now, later: loop.later })
    const started: number[] = []
    const dones: Array<() => void> = []
    for (let i = 0; i < 5; i++) budget.run((done) => { started.push(i); dones.push(done) })
    expect(started).toEqual([0, 1])
    expect(budget.inFlight).toBe(2)
    expect(budget.waiting).toBe(3)
    loop.turn()
    expect(started).toEqual([0, 1]) // a turn alone frees nothing
    dones[0]?.()
    dones[0]?.() // twice counts once
    loop.turn()
    expect(started).toEqual([0, 1, 2])
    dones[1]?.()
    dones[2]?.()
    loop.turn()
    expect(started).toEqual([0, 1, 2, 3, 4])
    expect(budget.waiting).toBe(0)
  })

  it('flush starts every waiting job at once', () => {
    const loop = fakeLoop()
    const budget = createTurnBudget({ budgetMs: 1, maxInFlight: 1, now: loop.now, later: loop.later })
    const started: number[] = []
    for (let i = 0; i < 4; i++) budget.run(() => { loop.spend(2); started.push(i) })
    expect(started).toEqual([0])
    budget.flush()
    expect(started).toEqual([0, 1, 2, 3])
    expect(budget.waiting).toBe(0)
  })
})
