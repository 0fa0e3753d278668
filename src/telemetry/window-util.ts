// Shapes and arithmetic shared by the window operators. Pure.

import { GridgateError } from '../core/errors.js'
import type { Aggregate } from './aggregate.js'

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
 */
export interface WindowOperator<R> {
  add: (time: number, value: number) => boolean
  advance: (watermark: number) => readonly R[]
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
