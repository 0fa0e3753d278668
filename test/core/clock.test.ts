import { afterEach, describe, it, expect, vi } from 'vitest'
import { ManualClock, systemClock } from '../../src/core/clock.js'

describe('ManualClock', () => {
  it('starts at 2026-01-01T00:00:00Z by default', () => {
    expect(new ManualClock().now()).toBe(Date.UTC(2026, 0, 1))
  })

  it.each([0, 1, 1_767_225_600_000])('starts at the given time %d', (start) => {
    expect(new ManualClock(start).now()).toBe(start)
  })

  it.each([
    { steps: [0], end: 1000 },
    { steps: [1], end: 1001 },
    { steps: [250, 250, 500], end: 2000 },
    { steps: [60_000], end: 61_000 }
  ])('moves now() only by advance: $steps ends at $end', ({ steps, end }) => {
    const clock = new ManualClock(1000)
    for (const ms of steps) clock.advance(ms)
    expect(clock.now()).toBe(end)
  })

  it('fires due timers in time order, ties in scheduling order', () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    clock.setTimer(30, () => fired.push('c@30'))
    clock.setTimer(10, () => fired.push('a@10'))
    clock.setTimer(20, () => fired.push('b1@20'))
    clock.setTimer(20, () => fired.push('b2@20'))
    clock.advance(30)
    expect(fired).toEqual(['a@10', 'b1@20', 'b2@20', 'c@30'])
  })

  it('runs each callback with now() at its due time', () => {
    const clock = new ManualClock(0)
    const seen: number[] = []
    clock.setTimer(15, () => seen.push(clock.now()))
    clock.setTimer(5, () => seen.push(clock.now()))
    clock.advance(100)
    expect(seen).toEqual([5, 15])
    expect(clock.now()).toBe(100)
  })

  it.each([
    { delay: 10, advance: 9, fired: false },
    { delay: 10, advance: 10, fired: true },
    { delay: 10, advance: 11, fired: true },
    { delay: 0, advance: 0, fired: true },
    { delay: -5, advance: 0, fired: true }
  ])('a timer of $delay ms fires after advance($advance): $fired', ({ delay, advance, fired }) => {
    const clock = new ManualClock(0)
    let calls = 0
    clock.setTimer(delay, () => { calls++ })
    clock.advance(advance)
    expect(calls).toBe(fired ? 1 : 0)
    expect(clock.pendingTimers()).toBe(fired ? 0 : 1)
  })

  it('treats a negative delay as zero, keeping scheduling order among zero-delay timers', () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    clock.setTimer(0, () => fired.push('zero'))
    clock.setTimer(-5, () => fired.push('negative'))
    clock.advance(0)
    expect(fired).toEqual(['zero', 'negative'])
  })

  it('fires a timer that was not yet due on a later advance, once', () => {
    const clock = new ManualClock(0)
    let calls = 0
    clock.setTimer(100, () => { calls++ })
    clock.advance(60)
    expect(calls).toBe(0)
    clock.advance(40)
    expect(calls).toBe(1)
    clock.advance(1000)
    expect(calls).toBe(1)
  })

  it('never fires a cancelled timer', () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    const a = clock.setTimer(10, () => fired.push('a'))
    clock.setTimer(10, () => fired.push('b'))
    a.cancel()
    expect(clock.pendingTimers()).toBe(1)
    clock.advance(100)
    expect(fired).toEqual(['b'])
  })

  it('ignores cancel on a timer that already fired', () => {
    const clock = new ManualClock(0)
    let calls = 0
    const t = clock.setTimer(1, () => { calls++ })
    clock.advance(1)
    t.cancel()
    clock.setTimer(1, () => { calls++ })
    clock.advance(1)
    expect(calls).toBe(2)
  })

  it('does not fire a due timer that an earlier callback cancels in the same advance', () => {
    const clock = new ManualClock(0)
    const fired: string[] = []
    const later = clock.setTimer(20, () => fired.push('later'))
    clock.setTimer(10, () => { fired.push('first'); later.cancel() })
    clock.advance(50)
    expect(fired).toEqual(['first'])
  })

  it.each([
    { delay: 0, fires: true, at: 10 },
    { delay: 5, fires: true, at: 15 },
    { delay: 10, fires: true, at: 20 },
    { delay: 11, fires: false, at: undefined }
  ])('fires a timer of $delay ms scheduled by a callback inside advance(20) when due: $fires', ({ delay, fires, at }) => {
    const clock = new ManualClock(0)
    const seen: number[] = []
    clock.setTimer(10, () => {
      clock.setTimer(delay, () => seen.push(clock.now()))
    })
    clock.advance(20)
    expect(seen).toEqual(fires ? [at] : [])
    expect(clock.pendingTimers()).toBe(fires ? 0 : 1)
  })

  it('runs a self-rescheduling timer once per period', () => {
    const clock = new ManualClock(0)
    const ticks: number[] = []
    const tick = (): void => {
      ticks.push(clock.now())
      clock.setTimer(100, tick)
    }
    clock.setTimer(100, tick)
    clock.advance(350)
    expect(ticks).toEqual([100, 200, 300])
    expect(clock.now()).toBe(350)
  })

  it('counts pending timers', () => {
    const clock = new ManualClock(0)
    expect(clock.pendingTimers()).toBe(0)
    clock.setTimer(1, () => {})
    clock.setTimer(2, () => {})
    clock.setTimer(3, () => {})
    expect(clock.pendingTimers()).toBe(3)
    clock.advance(2)
    expect(clock.pendingTimers()).toBe(1)
  })
})

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('reads the wall clock', () => {
    const before = Date.now()
    const now = systemClock.now()
    expect(now).toBeGreaterThanOrEqual(before)
    expect(now).toBeLessThanOrEqual(Date.now())
  })

  it('fires a timer after its delay and not before', () => {
    vi.useFakeTimers()
    let calls = 0
    systemClock.setTimer(100, () => { calls++ })
    vi.advanceTimersByTime(99)
    expect(calls).toBe(0)
    vi.advanceTimersByTime(1)
    expect(calls).toBe(1)
  })

  it('never fires a cancelled timer', () => {
    vi.useFakeTimers()
    let calls = 0
    const t = systemClock.setTimer(100, () => { calls++ })
    t.cancel()
    vi.advanceTimersByTime(1000)
    expect(calls).toBe(0)
  })
})
