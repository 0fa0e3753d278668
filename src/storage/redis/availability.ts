import { GridgateError, isGridgateError } from '../../core/errors.js'
import type { StorageAvailability } from '../availability.js'

// Whether Redis answers, tracked in one place for every connection of the engine (the command
// connection and the subscribers duplicated from it, connection.ts). The engine is available
// while each of them is `ready`; a connection that closes, reconnects or ends makes it
// unavailable until it is ready again. ioredis sets a connection's `status` at once and emits
// the event of the change on the next tick, so `available` reads the statuses (live: a
// command that fails because its connection just closed sees it) and listeners hear each
// change once, when the event arrives. A connection counts from its first `ready` on, so one
// being opened (a new subscriber) does not make the engine unavailable meanwhile; one that
// ends was closed on purpose (every connection reconnects forever, connection.ts) and is
// watched no more.
//
// While unavailable the command connection fails commands at once (no offline queue) and a
// command in flight when its connection broke is rejected, never sent again: Redis may or
// may not have applied it, so its caller answers 503 (no PUBACK, no 200) and the client's
// retry may store the event a second time (at least once).

/** What is read of a connection: ioredis' status and its connection events (ioredis 5 and 6 alike). */
export interface WatchedConnection {
  readonly status: string
  on: (event: string, listener: (arg?: unknown) => void) => unknown
  off: (event: string, listener: (arg?: unknown) => void) => unknown
}

export interface AvailabilityTracker extends StorageAvailability {
  /** Watches one more connection until the tracker is closed. */
  watch: (name: string, conn: WatchedConnection) => void
  /** Stops watching and notifying: called before the connections are closed on purpose. */
  close: () => void
}

const EVENTS = ['connect', 'ready', 'close', 'reconnecting'] as const

/** `what` names the store in reasons, e.g. `Redis at redis://127.0.0.1:6379/`. */
export function trackAvailability (what: string): AvailabilityTracker {
  interface Entry { conn: WatchedConnection, joined: boolean, error?: string, off: () => void }
  const watched = new Map<string, Entry>()
  const listeners = new Set<(available: boolean) => void>()
  let closed = false
  let last = true

  // `end` (closed on purpose) is already the status when the close event of a quit arrives.
  const isDown = (w: Entry): boolean => w.joined && w.conn.status !== 'ready' && w.conn.status !== 'end'
  const isAvailable = (): boolean => {
    for (const w of watched.values()) if (isDown(w)) return false
    return true
  }
  const changed = (): void => {
    const now = isAvailable()
    if (closed || now === last) return
    last = now
    for (const l of [...listeners]) l(now)
  }

  return {
    get available () { return isAvailable() },
    get reason () {
      for (const [name, w] of watched) {
        if (isDown(w)) return `${what} is unreachable (connection ${name}: ${w.conn.status}${w.error === undefined ? '' : `, ${w.error}`})`
      }
      return undefined
    },
    onChange (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    watch (name, conn) {
      if (closed) return
      const entry: Entry = { conn, joined: conn.status === 'ready', off: () => {} }
      const onEvent = (): void => {
        if (conn.status === 'ready') {
          entry.joined = true
          delete entry.error
        }
        changed()
      }
      // An error says why the next close happens; it changes nothing by itself.
      const onError = (err: unknown): void => { entry.error = err instanceof Error ? err.message : String(err) }
      let key = name
      for (let n = 2; watched.has(key); n++) key = `${name}#${n}`
      const onEnd = (): void => {
        entry.off()
        watched.delete(key)
        changed()
      }
      for (const e of EVENTS) conn.on(e, onEvent)
      conn.on('error', onError)
      conn.on('end', onEnd)
      entry.off = () => {
        for (const e of EVENTS) conn.off(e, onEvent)
        conn.off('error', onError)
        conn.off('end', onEnd)
      }
      watched.set(key, entry)
    },
    close () {
      closed = true
      for (const w of watched.values()) w.off()
      watched.clear()
      listeners.clear()
    }
  }
}

/**
 * Whether an error means that Redis gave no answer (the connection was down, or went down
 * with the command in flight), as opposed to an answer that refused the command.
 */
export function isUnanswered (err: unknown): boolean {
  if (!(err instanceof Error) || isGridgateError(err) || err.name === 'ReplyError') return false
  return err.name === 'AbortError' || err.name === 'MaxRetriesPerRequestError' ||
    err.message === 'Connection is closed.' || err.message.startsWith('Stream isn\'t writeable')
}

/** A storage error as callers see it: no answer from Redis is STORAGE_UNAVAILABLE, anything else unchanged. */
export function storageError (err: unknown, availability: Pick<StorageAvailability, 'available'>): unknown {
  if (isGridgateError(err)) return err
  if (isUnanswered(err) || (err instanceof Error && err.name !== 'ReplyError' && !availability.available)) {
    return new GridgateError('STORAGE_UNAVAILABLE', undefined, { cause: err })
  }
  return err
}

/**
 * The port with every promise its methods return rejecting through `map`: what leaves the
 * engine is a catalogue error, whichever adapter call met the outage. A method that returns
 * a port of its own (a plain object with methods, e.g. a subscription's queue store) returns
 * it mapped too. Getters stay live.
 */
export function mapRejections<T extends object> (port: T, map: (err: unknown) => unknown): T {
  const out = {}
  for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(port))) {
    const fn: unknown = d.value
    if (typeof fn !== 'function') {
      Object.defineProperty(out, key, d.get === undefined ? d : { ...d, get: () => (port as Record<string, unknown>)[key] })
      continue
    }
    const wrapped = (...args: unknown[]): unknown => {
      const r: unknown = (fn as (...a: unknown[]) => unknown).apply(port, args)
      if (r instanceof Promise) return r.catch((err: unknown) => { throw map(err) })
      return isPort(r) ? mapRejections(r, map) : r
    }
    Object.defineProperty(out, key, { ...d, value: wrapped })
  }
  return out as T
}

function isPort (v: unknown): v is object {
  if (typeof v !== 'object' || v === null || Object.getPrototypeOf(v) !== Object.prototype) return false
  return Object.values(Object.getOwnPropertyDescriptors(v)).some((d) => typeof d.value === 'function')
}
