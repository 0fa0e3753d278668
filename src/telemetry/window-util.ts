// Shapes and arithmetic shared by the window operators. Pure.

import { GridgateError } from '../core/errors.js'
import { aggregateFromJSON, type Aggregate } from './aggregate.js'

/** A closed window and its readings' aggregate (the operator no longer touches it). */
export interface WindowResult {
  start: number
  end: number
  aggregate: Aggregate
}

/**
 * An incremental window operator for one key (device + metric). add() takes a reading with a
 * finite time and value, the time >= the last watermark given to advance(); any other is
 * rejected (add returns false, `rejected` counts it). advance(w) returns, oldest first and each
 * once, the windows the watermark closed; advance(Infinity) closes everything (at shutdown).
 * snapshot() is the operator's whole state as plain JSON data (copied, never live): its
 * factory, given it back with the same configuration, continues exactly where this one is.
 */
export interface WindowOperator<R> {
  add: (time: number, value: number) => boolean
  advance: (watermark: number) => readonly R[]
  snapshot: () => unknown
  readonly watermark: number
  readonly rejected: number
}

export const NO_RESULTS: readonly never[] = Object.freeze([])

/** The smallest point of the grid offset + k·step that is >= t. */
export function ceilTo (t: number, step: number, offset: number): number {
  return Math.ceil((t - offset) / step) * step + offset
}

/** Window sizes are whole milliseconds, > 0 (panes use their greatest common divisor). */
export function requireDuration (name: string, v: number, opts: { infinite?: boolean } = {}): void {
  const ok = (opts.infinite === true && v === Infinity) || (Number.isSafeInteger(v) && v > 0)
  if (!ok) throw new GridgateError('CONFIG_INVALID', `${name} must be a whole number of milliseconds > 0`, { details: { [name]: v } })
}

export function requireOffset (v: number): void {
  if (!Number.isSafeInteger(v)) throw new GridgateError('CONFIG_INVALID', 'offset must be a whole number of milliseconds', { details: { offset: v } })
}

export function gcd (a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}

// ------------------------------------------------------------ snapshots
// Snapshots go through JSON (LevelDB), so ±Infinity and NaN travel as strings. Restoring
// checks the shape as it reads: a stored state is outside input, and an operator built on a
// wrong one would output wrong windows rather than fail.

export function malformedState (cause?: unknown): GridgateError {
  return new GridgateError('INTERNAL', 'Stored window state is malformed', { cause })
}

/** A number JSON keeps: ±Infinity (an unset or final watermark) and NaN become strings. */
export function encodeNumber (v: number): number | string {
  return Number.isFinite(v) ? v : String(v)
}

/** The inverse of encodeNumber. */
export function decodeNumber (x: unknown): number {
  if (typeof x === 'number') return x
  if (x === 'Infinity' || x === '-Infinity' || x === 'NaN') return Number(x)
  throw malformedState()
}

export function finiteState (x: unknown): number {
  if (typeof x !== 'number' || !Number.isFinite(x)) throw malformedState()
  return x
}

/** A count or position: a whole number >= 0. */
export function countState (x: unknown): number {
  if (!Number.isSafeInteger(x) || (x as number) < 0) throw malformedState()
  return x as number
}

export function recordState (x: unknown): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw malformedState()
  return x as Record<string, unknown>
}

export function arrayState (x: unknown): unknown[] {
  if (!Array.isArray(x)) throw malformedState()
  return x
}

/** An aggregate from Aggregate.toJSON(), with a sketch exactly when the operator keeps percentiles. */
export function aggregateState (x: unknown, percentiles: boolean): Aggregate {
  let agg: Aggregate
  try {
    agg = aggregateFromJSON(x)
  } catch (err) {
    throw malformedState(err)
  }
  if ((agg.sketch !== null) !== percentiles) throw malformedState()
  return agg
}

/**
 * What every operator shares: its watermark, the readings it refused, and the check that
 * refuses them (not finite, below the watermark, or before `after` for in-order operators).
 */
export abstract class OperatorBase {
  protected wm = -Infinity
  protected rejectedCount = 0

  get watermark (): number {
    return this.wm
  }

  get rejected (): number {
    return this.rejectedCount
  }

  protected refuses (time: number, value: number, after = -Infinity): boolean {
    if (time >= this.wm && time >= after && Number.isFinite(time) && Number.isFinite(value)) return false
    this.rejectedCount++
    return true
  }
}
