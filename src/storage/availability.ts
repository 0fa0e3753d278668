// Whether the storage engine answers now. The embedded engines always do (their store is in
// this process); the redis engine does while its connections to Redis are up
// (redis/availability.ts). While it does not, writes and the reads that decide an answer fail
// at once with STORAGE_UNAVAILABLE instead of waiting, so nothing is acknowledged meanwhile.

export interface StorageAvailability {
  /** Read live: true while every connection of the engine is up. */
  readonly available: boolean
  /** Why not, while not: the store and the state of its connection (never a password). */
  readonly reason: string | undefined
  /** Called with the new value after each change; returns its removal. */
  onChange: (listener: (available: boolean) => void) => () => void
}

export const ALWAYS_AVAILABLE: StorageAvailability = Object.freeze({
  available: true,
  reason: undefined,
  onChange: () => () => {}
})
