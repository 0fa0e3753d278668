import { once as onceEvent } from 'node:events'
import { performance } from 'node:perf_hooks'

// Bounded waits for tests. Every wait has a deadline, and when the deadline passes the error
// names what was awaited and for how long (WaitTimeout), instead of a test timeout that says
// nothing. Waits that may run out without failing take `orElse` (the value to resolve with
// then) or are `reached()` (true or false).
//
// `pause` is the one plain sleep. Use it only for time that is itself part of the test:
// pacing a load, a back-off, a random kill time, or a quiet period in which nothing may
// happen. Never to "let something finish": wait for the thing with `until`, `once` or `within`.

/** A bounded wait ran out. */
export class WaitTimeout extends Error {
  readonly code = 'WAIT_TIMEOUT'
  constructor (readonly what: string, readonly timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`)
    this.name = 'WaitTimeout'
  }
}

export interface Deadline {
  timeoutMs: number
}

/** A deadline and what is awaited (for the error). */
export interface NamedDeadline extends Deadline {
  what: string
}

/** A deadline that resolves with `orElse` instead of failing. */
export interface SoftDeadline<D> extends Deadline {
  orElse: D
}

export interface Polling {
  /** How often the predicate is checked (default 10 ms). */
  everyMs?: number
}

const DEFAULT_EVERY_MS = 10
const TIMED_OUT: unique symbol = Symbol('timed out')

/** Sleeps `ms`. Only for time the test means (pacing, back-off, a quiet period); see the top of this file. */
export async function pause (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Checks `predicate` every `everyMs` until it is true; false once `timeoutMs` passed (it is
 * checked once more at the deadline). For checks that record an outcome instead of failing.
 */
export async function reached (predicate: () => boolean | Promise<boolean>, opts: Deadline & Polling): Promise<boolean> {
  const end = performance.now() + opts.timeoutMs
  const every = opts.everyMs ?? DEFAULT_EVERY_MS
  for (;;) {
    if (await predicate()) return true
    const left = end - performance.now()
    if (left <= 0) return false
    await pause(Math.min(every, left))
  }
}

/** Checks `predicate` every `everyMs` until it is true; throws WaitTimeout naming `what` after `timeoutMs`. */
export async function until (predicate: () => boolean | Promise<boolean>, opts: NamedDeadline & Polling): Promise<void> {
  if (!await reached(predicate, opts)) throw new WaitTimeout(opts.what, opts.timeoutMs)
}

/** The promise's value; WaitTimeout naming `what` (or `orElse`) when it has not settled within `timeoutMs`. */
export async function within<T> (promise: PromiseLike<T>, opts: NamedDeadline): Promise<T>
export async function within<T, D> (promise: PromiseLike<T>, opts: SoftDeadline<D>): Promise<T | D>
export async function within<T, D> (promise: PromiseLike<T>, opts: Deadline & { what?: string, orElse?: D }): Promise<T | D> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => { timer = setTimeout(() => resolve(TIMED_OUT), opts.timeoutMs) })
  try {
    const result = await Promise.race([promise, deadline])
    if (result !== TIMED_OUT) return result
    if ('orElse' in opts) return opts.orElse as D
    throw new WaitTimeout(opts.what ?? 'a promise', opts.timeoutMs)
  } finally {
    clearTimeout(timer)
  }
}

type Emitter = NodeJS.EventEmitter

/**
 * The arguments of the emitter's next `event` (as events.once: an 'error' event rejects);
 * WaitTimeout naming `what` (default: the event) or `orElse` when none comes within
 * `timeoutMs`. The listener is removed either way.
 */
export async function once<A extends unknown[] = unknown[]> (emitter: Emitter, event: string, opts: Deadline & { what?: string }): Promise<A>
export async function once<A extends unknown[], D> (emitter: Emitter, event: string, opts: SoftDeadline<D>): Promise<A | D>
export async function once<A extends unknown[], D> (emitter: Emitter, event: string, opts: Deadline & { what?: string, orElse?: D }): Promise<A | D> {
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), opts.timeoutMs)
  try {
    return await onceEvent(emitter, event, { signal: abort.signal }) as A
  } catch (err) {
    if (!abort.signal.aborted) throw err
    if ('orElse' in opts) return opts.orElse as D
    throw new WaitTimeout(opts.what ?? `the '${event}' event`, opts.timeoutMs)
  } finally {
    clearTimeout(timer)
  }
}
