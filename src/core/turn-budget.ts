import { Fifo } from './fifo.js'

// Paces bursts of small jobs so that they do not hold the event loop: a job starts at once
// while the current turn of the loop has spent less than `budgetMs` starting jobs and fewer
// than `maxInFlight` started jobs have not finished; otherwise it waits, in order, for a later
// turn. What a job does after it returns (callbacks, I/O) counts until it calls `done`, so the
// follow-up work of a burst is bounded too. One job alone starts at once, as if there were no
// pacing. Used for what a thousand sockets closing in one poll of the loop start together
// (broker.ts): aedes' teardown of each client and gridgate's end of its presence.

export interface TurnBudget {
  /** Starts the job now, or after the jobs already waiting; `done` says its work has ended. */
  run: (job: (done: () => void) => void) => void
  /** Starts every waiting job now (at shutdown, before what they use closes). */
  flush: () => void
  /** Jobs waiting to start. */
  readonly waiting: number
  /** Jobs started and not done. */
  readonly inFlight: number
}

export interface TurnBudgetOptions {
  budgetMs: number
  /** Most jobs started and not done (default: no limit). */
  maxInFlight?: number
  /** Monotonic milliseconds (performance.now in production). */
  now?: () => number
  /** Calls `fn` in a later turn of the loop (setImmediate in production). */
  later?: (fn: () => void) => void
  /** A job threw: reported, counted as done, and the others still run. */
  onError?: (err: unknown) => void
}

type Job = (done: () => void) => void

export function createTurnBudget (opts: TurnBudgetOptions): TurnBudget {
  const now = opts.now ?? (() => performance.now())
  const later = opts.later ?? ((fn) => { setImmediate(fn) })
  const maxInFlight = opts.maxInFlight ?? Infinity
  const queue = new Fifo<Job>()
  let inFlight = 0
  /** Time spent starting jobs since the turn began (reset by the next turn's callback). */
  let spent = 0
  let turnMarked = false
  let draining = false

  function start (job: Job): void {
    inFlight++
    let finished = false
    const done = (): void => {
      if (finished) return
      finished = true
      inFlight--
      if (queue.size > 0) scheduleDrain()
    }
    const started = now()
    try {
      job(done)
    } catch (err) {
      opts.onError?.(err)
      done()
    }
    spent += now() - started
  }

  const canStart = (): boolean => spent < opts.budgetMs && inFlight < maxInFlight

  function markTurn (): void {
    if (turnMarked) return
    turnMarked = true
    later(() => {
      turnMarked = false
      spent = 0
    })
  }

  function drain (): void {
    draining = false
    spent = 0
    while (queue.size > 0 && canStart()) start(queue.take() as Job)
    // The budget ran out: go on next turn (else a `done` goes on).
    if (queue.size > 0 && inFlight < maxInFlight) scheduleDrain()
    markTurn()
  }

  function scheduleDrain (): void {
    if (draining) return
    draining = true
    later(drain)
  }

  return {
    run (job) {
      if (queue.size === 0 && canStart()) {
        start(job)
        markTurn()
        return
      }
      queue.push(job)
      if (inFlight < maxInFlight) scheduleDrain()
    },
    flush () {
      while (queue.size > 0) start(queue.take() as Job)
    },
    get waiting () { return queue.size },
    get inFlight () { return inFlight }
  }
}
