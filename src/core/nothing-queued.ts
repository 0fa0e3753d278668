import { Readable } from 'node:stream'

// The stream an MQTT persistence returns for a session with nothing queued for it (the usual
// case: every clean-session device, and every persistent one whose messages were delivered).
// It is an ordinary empty Readable, marked so that broker/empty-queue.ts can recognise it.

const MARK = Symbol.for('gridgate.nothingQueued')

/** A fresh, empty, marked Readable (object mode, as aedes' persistences' streams are). */
export function nothingQueued (): Readable {
  const stream = Readable.from([])
  Object.defineProperty(stream, MARK, { value: true })
  return stream
}

export function isNothingQueued (value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[MARK] === true
}
