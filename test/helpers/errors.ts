import { GridgateError } from '../../src/core/errors.js'

/** Runs `fn` and returns the GridgateError it throws; fails the test when it throws nothing or something else. */
export function caught (fn: () => unknown): GridgateError {
  try {
    fn()
  } catch (err) {
    if (err instanceof GridgateError) return err
    throw err
  }
  throw new Error('expected a GridgateError, but nothing was thrown')
}
