import { ERRORS, GridgateError, type ErrorCode } from './errors.js'

// Errors as plain data, for crossing a thread (MessagePort) boundary: structured clone keeps
// an Error's message but drops its class and own fields, so a GridgateError thrown in a
// worker would reach HTTP as a 500. A GridgateError comes back as one with the same code,
// message and details (its status follows from the code); anything else as a plain Error
// with its name, message and stack.

export type WireError =
  | { gridgate: true, code: ErrorCode, message: string, details?: Record<string, unknown> }
  | { gridgate: false, name: string, message: string, stack?: string }

export function errorToWire (err: unknown): WireError {
  if (err instanceof GridgateError) {
    return err.details === undefined
      ? { gridgate: true, code: err.code, message: err.message }
      : { gridgate: true, code: err.code, message: err.message, details: err.details }
  }
  if (err instanceof Error) return { gridgate: false, name: err.name, message: err.message, stack: err.stack }
  return { gridgate: false, name: 'Error', message: String(err) }
}

export function errorFromWire (wire: WireError): Error {
  if (wire.gridgate) {
    // A code this build does not know (it cannot happen within one build) stays an error.
    if (!(wire.code in ERRORS)) return new Error(`${wire.code}: ${wire.message}`)
    return new GridgateError(wire.code, wire.message, wire.details === undefined ? {} : { details: wire.details })
  }
  const err = new Error(wire.message)
  err.name = wire.name
  if (wire.stack !== undefined) err.stack = wire.stack
  return err
}
