// What the registry keeps in storage: one record per device. An engine implements this port
// (src/storage/); test/registry/device-store.contract.ts is the suite it must pass. No engine
// type or key layout appears here.

export interface StoredDevice {
  id: string
  /** scrypt hash of the password (credentials.ts); never the password. */
  hash: string
  attributes: Record<string, string>
  /** ISO 8601. */
  createdAt: string
  /** ISO 8601; null until the device first connects. */
  lastSeen: string | null
}

/**
 * The device records, possibly shared by several gateway processes (a shared engine such as
 * Redis). An implementation must guarantee:
 * - A record is written and read whole: a reader sees one `put` or another, never a mix, and
 *   what it returns is a copy (mutating it changes nothing stored).
 * - Writes to one id from one instance apply in the order they were called.
 * - `touch` changes only `lastSeen`, and only of a record that exists when it applies: it never
 *   brings back a removed device nor reverts the other fields of a concurrent `put`. On a
 *   shared engine that means an atomic conditional update (a script, a transaction or a
 *   separate field), not a read followed by a write.
 * - `lastSeen` is advisory: a touch may be lost (last write wins, across instances too); a
 *   lost touch only leaves `lastSeen` older. `put` replaces it along with everything else.
 * - `list` orders by id in code-unit order (ids are ASCII: byte order), so paging with `after`
 *   neither skips nor repeats a record that exists throughout.
 */
export interface DeviceStore {
  get: (id: string) => Promise<StoredDevice | undefined>
  /** Records in id order; with `after`, only ids greater than it; at most `limit` of them. */
  list: (page?: { after?: string, limit?: number }) => Promise<StoredDevice[]>
  /** Creates the record or replaces it whole; once it resolves, every instance's get and list see it. */
  put: (device: StoredDevice) => Promise<void>
  /** Whether there was a record to remove. */
  remove: (id: string) => Promise<boolean>
  /** Sets `lastSeen` of an existing record; does nothing for an unknown id. */
  touch: (id: string, lastSeen: string) => Promise<void>
}
