import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { startStepLoop } from '../../src/core/step-loop.js'

// The ownership loops' driver: a step every interval and on demand, never two at once.
describe('step loop', () => {
  it('runs a step at once and every interval after, one at a time; a tick during a step asks for exactly one more', async () => {
    const clock = new ManualClock(0)
    let runs = 0
    let active = 0
    let most = 0
    let release: (() => void) | undefined
    const loop = startStepLoop(async () => {
      runs++
      active++
      most = Math.max(most, active)
      await new Promise<void>((resolve) => { release = resolve })
      active--
    }, { clock, intervalMs: 100 })
    expect(runs).toBe(1)
    // Three ticks while the first step runs: one more step, not three.
    const ticks = [loop.tick(), loop.tick(), loop.tick()]
    release?.()
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toBe(2)
    release?.()
    await Promise.all(ticks)
    expect(most).toBe(1)
    // The interval: one step per elapsed interval once the previous one is done.
    clock.advance(100)
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toBe(3)
    release?.()
    const stopping = loop.stop()
    await stopping
    expect(loop.stopped).toBe(true)
    clock.advance(1000)
    await loop.tick()
    expect(runs).toBe(3)
  })

  it('reports a failed step and goes on at the next interval', async () => {
    const clock = new ManualClock(0)
    const errors: unknown[] = []
    let runs = 0
    const loop = startStepLoop(async () => { runs++; throw new Error(`step ${runs}`) }, { clock, intervalMs: 50, onError: (err) => errors.push(err) })
    await loop.tick()
    clock.advance(50)
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(runs).toBeGreaterThanOrEqual(3)
    expect(errors.map((e) => (e as Error).message).slice(0, 2)).toEqual(['step 1', 'step 2'])
    await loop.stop()
  })
})
