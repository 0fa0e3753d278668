// Time is a port: modules that wait, schedule or stamp take a Clock, so tests of
// retention, retries, TTLs and windows run on a manual clock in milliseconds.

export interface TimerHandle {
  cancel: () => void
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now: () => number
  /** Runs `fn` once after `ms`; the handle cancels it. Timers never keep the process alive. */
  setTimer: (ms: number, fn: () => void) => TimerHandle
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer (ms, fn) {
    const t = setTimeout(fn, ms)
    t.unref()
    return { cancel: () => clearTimeout(t) }
  }
}

interface ManualTimer {
  at: number
  seq: number
  fn: () => void
}

/** A clock that moves only when told to; for tests. */
export class ManualClock implements Clock {
  private current: number
  private timers: ManualTimer[] = []
  private seq = 0

  constructor (start = Date.UTC(2026, 0, 1)) {
    this.current = start
  }

  now (): number {
    return this.current
  }

  setTimer (ms: number, fn: () => void): TimerHandle {
    const timer = { at: this.current + Math.max(0, ms), seq: this.seq++, fn }
    this.timers.push(timer)
    return { cancel: () => { this.timers = this.timers.filter((t) => t !== timer) } }
  }

  /** Moves time forward, firing due timers in time order. */
  advance (ms: number): void {
    const target = this.current + ms
    for (;;) {
      const due = this.timers
        .filter((t) => t.at <= target)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0]
      if (due === undefined) break
      this.timers = this.timers.filter((t) => t !== due)
      this.current = Math.max(this.current, due.at)
      due.fn()
    }
    this.current = target
  }

  pendingTimers (): number {
    return this.timers.length
  }
}
