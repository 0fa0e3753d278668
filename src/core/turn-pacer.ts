import { Fifo } from './fifo.js'

// Lets a burst of waiting items go a few per turn of the event loop, as many as keep the
// turns short: each turn releases up to `perTurn`, which halves after a turn that took longer
// than `targetTurnMs` and grows by `step` after one that did not (TCP's additive increase,
// multiplicative decrease, with the loop's turn length for the congestion signal). For work
// whose cost comes after its release, in later turns and callbacks, so that it cannot be
// timed as it starts (turn-budget.ts times what it starts): broker.ts releases the CONNECTs
// of a reconnect storm this way, each released CONNECT going on through aedes' connect steps.
// Nothing caps how many released items are still under way, so slow ones (a password hash, a
// disk write) hold up no others; what waits here is only what arrived faster than the loop
// can take it.

export interface TurnPacer {
  /** Calls `release` in a later turn, after those waiting before it. */
  add: (release: () => void) => void
  /** Releases everything waiting now (at shutdown). */
  flush: () => void
  readonly waiting: number
  /** What a turn may release now. */
  readonly perTurn: number
}

export interface TurnPacerOptions {
  /** A turn longer than this halves what the next may release. */
  targetTurnMs: number
  /** What a turn releases at first. */
  initial: number
  min: number
  max: number
  /** Added after each turn within the target. */
  step: number
  /** A release threw: reported, and the others still go. */
  onError?: (err: unknown) => void
  /** Monotonic milliseconds (performance.now in production). */
  now?: () => number
  /** Calls `fn` in a later turn of the loop (setImmediate in production). */
  later?: (fn: () => void) => void
}

export function createTurnPacer (opts: TurnPacerOptions): TurnPacer {
  const now = opts.now ?? (() => performance.now())
  const later = opts.later ?? ((fn) => { setImmediate(fn) })
  let perTurn = opts.initial
  const queue = new Fifo<() => void>()
  let scheduled = false
  /** When the previous turn released; undefined after the queue ran empty. */
  let lastTurn: number | undefined

  function release (fn: () => void): void {
    try {
      fn()
    } catch (err) {
      opts.onError?.(err)
    }
  }

  function turn (): void {
    scheduled = false
    const t = now()
    if (lastTurn !== undefined) {
      perTurn = t - lastTurn > opts.targetTurnMs
        ? Math.max(opts.min, Math.floor(perTurn / 2))
        : Math.min(opts.max, perTurn + opts.step)
    }
    for (let n = 0; n < perTurn && queue.size > 0; n++) release(queue.take() as () => void)
    if (queue.size === 0) {
      lastTurn = undefined
      return
    }
    lastTurn = t
    scheduled = true
    later(turn)
  }

  return {
    add (fn) {
      queue.push(fn)
      if (!scheduled) {
        scheduled = true
        later(turn)
      }
    },
    flush () {
      while (queue.size > 0) release(queue.take() as () => void)
    },
    get waiting () { return queue.size },
    get perTurn () { return perTurn }
  }
}
