import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import { DEVICE_ID } from '../core/names.js'
import { createLocalPresenceStore, type PresenceRecord, type PresenceStore } from './presence.js'
import { DUMMY_HASH, fingerprint, hashPassword, newPassword, verifyPassword } from './credentials.js'
import type { DeviceStore, StoredDevice } from './store.js'

// The device registry: identities, credentials (scrypt hashes only) and presence.
// The DeviceStore is the source of truth, read on every lookup: on a shared engine other
// gateway processes (the nodes of a cluster) register, change and delete devices behind this
// one, so nothing of a device is cached here except the fingerprint of a password that passed
// scrypt, and that only together with the stored hash it passed against (a device deleted or
// re-registered elsewhere no longer matches). Which connection of a device is live is in the
// PresenceStore (presence.ts), shared by the nodes the same way.

export interface Device {
  id: string
  attributes: Record<string, string>
  createdAt: string
  connected: boolean
  lastSeen: string | null
  /** While connected: the node holding the connection (its id in GET /cluster/nodes). */
  node?: string
  /** While connected: since when (RFC 3339). */
  connectedSince?: string
}

export interface Registry {
  /** Creates a device (with a new password, returned only here) or updates its attributes. */
  register: (id: string, attributes?: Record<string, string>) => Promise<{ device: Device, password?: string, created: boolean }>
  get: (id: string) => Promise<Device | undefined>
  list: () => Promise<Device[]>
  remove: (id: string) => Promise<boolean>
  /** The device if the password is its own; undefined for a wrong password or an unknown device, alike. */
  authenticate: (id: string, password: Buffer) => Promise<Device | undefined>
  /** A connection of the device became live: its presence record (returns the record it replaced), and lastSeen. */
  connected: (record: PresenceRecord) => Promise<PresenceRecord | undefined>
  /** A connection ended: its record is removed if it still names it (returned then), and lastSeen. */
  disconnected: (deviceId: string, node: string, connection: string) => Promise<PresenceRecord | undefined>
  /** The device was deleted: its record goes, whichever connection it names (returned). */
  revoked: (deviceId: string) => Promise<PresenceRecord | undefined>
  /** The presence store (the broker reconciles its connections and sweeps dead nodes with it). */
  readonly presence: PresenceStore
  /**
   * Calls `listener` with the device after `register` changed its attributes (`remote`: on
   * another node, as `refresh` reports it); the broker recompiles its connections'
   * permissions. Returns the function that stops it.
   */
  onAttributesChanged: (listener: (device: Device, remote: boolean) => void) => () => void
  /** Another node changed the device: its listeners hear it. */
  refresh: (id: string) => Promise<void>
}

export function assertDeviceId (id: string): string {
  if (!DEVICE_ID.test(id)) {
    throw new GridgateError('DEVICE_ID_INVALID', `device id '${id.slice(0, 140)}' is invalid: use 1-128 letters, digits, '-', '_', '.' or ':', starting with a letter or digit`, { details: { device: id } })
  }
  return id
}

export function assertAttributes (attributes: unknown): Record<string, string> {
  if (attributes === undefined) return {}
  if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) {
    throw new GridgateError('BODY_INVALID', "'attributes' must be an object of strings", { details: { field: 'attributes' } })
  }
  const out: Record<string, string> = {}
  const entries = Object.entries(attributes)
  if (entries.length > 32) throw new GridgateError('BODY_INVALID', "'attributes' may have at most 32 entries", { details: { field: 'attributes' } })
  for (const [k, v] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(k)) throw new GridgateError('BODY_INVALID', `attribute name '${k.slice(0, 70)}' is invalid: 1-64 letters, digits, '_', '.', '-'`, { details: { field: `attributes.${k}` } })
    if (typeof v !== 'string' || v.length > 256) throw new GridgateError('BODY_INVALID', `attribute '${k}' must be a string of at most 256 characters`, { details: { field: `attributes.${k}` } })
    out[k] = v
  }
  return out
}

function sameAttributes (a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k])
}

export async function openRegistry (store: DeviceStore, clock: Clock, presenceStore?: PresenceStore): Promise<Registry> {
  const presence = presenceStore ?? createLocalPresenceStore(clock)
  const verified = new Map<string, { hash: string, fingerprint: string }>() // a password that passed scrypt against this hash
  const attributeListeners = new Set<(device: Device, remote: boolean) => void>()
  const iso = (ms: number): string => new Date(ms).toISOString()

  const view = (s: StoredDevice, p: PresenceRecord | undefined): Device => p === undefined
    ? { id: s.id, attributes: { ...s.attributes }, createdAt: s.createdAt, connected: false, lastSeen: s.lastSeen }
    : { id: s.id, attributes: { ...s.attributes }, createdAt: s.createdAt, connected: true, lastSeen: iso(clock.now()), node: p.node, connectedSince: iso(p.since) }
  const withPresence = async (s: StoredDevice): Promise<Device> => view(s, (await presence.get([s.id]))[0])
  // lastSeen is advisory: a lost write only makes it older.
  const touch = async (id: string): Promise<void> => { await store.touch(id, iso(clock.now())).catch(() => undefined) }

  return {
    async register (id, attributes) {
      assertDeviceId(id)
      const attrs = assertAttributes(attributes)
      const existing = await store.get(id)
      if (existing !== undefined) {
        const updated = { ...existing, attributes: attributes === undefined ? existing.attributes : attrs }
        await store.put(updated)
        const device = await withPresence(updated)
        if (!sameAttributes(existing.attributes, updated.attributes)) for (const l of attributeListeners) l(device, false)
        return { device, created: false }
      }
      const password = newPassword()
      const stored: StoredDevice = { id, hash: await hashPassword(password), attributes: attrs, createdAt: iso(clock.now()), lastSeen: null }
      await store.put(stored)
      verified.delete(id)
      return { device: view(stored, undefined), password, created: true }
    },
    async get (id) {
      const s = await store.get(id)
      return s === undefined ? undefined : await withPresence(s)
    },
    async list () {
      const all: StoredDevice[] = []
      for (let page = await store.list({ limit: 1000 }); page.length > 0; page = await store.list({ after: (page[page.length - 1] as StoredDevice).id, limit: 1000 })) all.push(...page)
      const records = await presence.get(all.map((d) => d.id))
      return all.map((d, i) => view(d, records[i]))
    },
    async remove (id) {
      verified.delete(id)
      return await store.remove(id)
    },
    async authenticate (id, password) {
      const s = await store.get(id)
      const fp = fingerprint(password)
      const known = verified.get(id)
      if (s !== undefined && known !== undefined && known.hash === s.hash && known.fingerprint === fp) return view(s, undefined)
      const ok = await verifyPassword(s?.hash ?? DUMMY_HASH, password)
      if (!ok || s === undefined) return undefined
      // The device may have been removed (here or on another node) while scrypt ran.
      if ((await store.get(id))?.hash !== s.hash) return undefined
      verified.set(id, { hash: s.hash, fingerprint: fp })
      return view(s, undefined)
    },
    async connected (record) {
      const [prev] = await Promise.all([presence.claim(record), touch(record.deviceId)])
      return prev
    },
    async disconnected (deviceId, node, connection) {
      const removed = await presence.release(deviceId, node, connection)
      if (removed !== undefined) await touch(deviceId)
      return removed
    },
    revoked: async (deviceId) => await presence.remove(deviceId),
    presence,
    onAttributesChanged (listener) {
      attributeListeners.add(listener)
      return () => { attributeListeners.delete(listener) }
    },
    async refresh (id) {
      const s = await store.get(id)
      if (s === undefined) return
      const device = await withPresence(s)
      for (const l of attributeListeners) l(device, true)
    }
  }
}
