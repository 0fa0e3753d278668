// One clock for all threads: the monotonic high-resolution clock (the same in every worker
// thread of a process) shifted to the epoch once, in the main thread. `sentAt` stamped in a
// worker and the receive time taken in the main thread are then directly comparable, with
// sub-millisecond resolution and no wall-clock steps during the run.

export interface SharedClock {
  /** Epoch ms (fractional). */
  now: () => number
  /** Give this to workers so their clock agrees with this one. */
  offsetMs: number
}

const hrMs = (): number => Number(process.hrtime.bigint()) / 1e6

export function sharedClock (offsetMs?: number): SharedClock {
  const offset = offsetMs ?? Date.now() - hrMs()
  return { now: () => Math.round((hrMs() + offset) * 1000) / 1000, offsetMs: offset }
}
