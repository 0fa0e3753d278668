import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import { DUMMY_HASH, fingerprint, hashPassword, newPassword, verifyPassword } from './credentials.js'
import type { DeviceStore, StoredDevice } from './store.js'

// The device registry: identities, credentials (scrypt hashes only) and presence.
// The DeviceStore is the source of truth. This process keeps a cache of every device, loaded
// at open and written through, because broker and HTTP look devices up synchronously (they
// are few compared to events); a later cluster issue replaces the cache, since another
// gateway process sharing the store can change devices behind it. Which devices are connected
// is known only to this process for now (presence is reworked later too).

import { DEVICE_ID } from '../core/names.js'

export interface Device {
  id: string
  attributes: Record<string, string>
  createdAt: string
  connected: boolean
  lastSeen: string | null
}

export interface Registry {
  /** Creates a device (with a new password, returned only here) or updates its attributes. */
  register: (id: string, attributes?: Record<string, string>) => Promise<{ device: Device, password?: string, created: boolean }>
  get: (id: string) => Device | undefined
  list: () => Device[]
  remove: (id: string) => Promise<boolean>
  /** The device if the password is its own; undefined for a wrong password or an unknown device, alike. */
  authenticate: (id: string, password: Buffer) => Promise<Device | undefined>
  setConnected: (id: string, connected: boolean) => void
  /**
   * Calls `listener` with the device after `register` changed its attributes (the broker
   * recompiles its connections' permissions); returns the function that stops it.
   */
  onAttributesChanged: (listener: (device: Device) => void) => () => void
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

export async function openRegistry (store: DeviceStore, clock: Clock): Promise<Registry> {
  const devices = new Map<string, StoredDevice>()
  const connected = new Set<string>()
  const verified = new Map<string, string>() // id -> fingerprint of a password that passed scrypt
  const attributeListeners = new Set<(device: Device) => void>()
  for (const d of await store.list()) devices.set(d.id, d)

  const view = (s: StoredDevice): Device => ({ id: s.id, attributes: { ...s.attributes }, createdAt: s.createdAt, connected: connected.has(s.id), lastSeen: connected.has(s.id) ? new Date(clock.now()).toISOString() : s.lastSeen })

  return {
    async register (id, attributes) {
      assertDeviceId(id)
      const attrs = assertAttributes(attributes)
      const existing = devices.get(id)
      if (existing !== undefined) {
        const updated = { ...existing, attributes: attributes === undefined ? existing.attributes : attrs }
        await store.put(updated)
        devices.set(id, updated)
        const device = view(updated)
        if (!sameAttributes(existing.attributes, updated.attributes)) for (const l of attributeListeners) l(view(updated))
        return { device, created: false }
      }
      const password = newPassword()
      const stored: StoredDevice = { id, hash: await hashPassword(password), attributes: attrs, createdAt: new Date(clock.now()).toISOString(), lastSeen: null }
      await store.put(stored)
      devices.set(id, stored)
      return { device: view(stored), password, created: true }
    },
    get: (id) => {
      const s = devices.get(id)
      return s === undefined ? undefined : view(s)
    },
    list: () => [...devices.values()].map(view).sort((a, b) => a.id.localeCompare(b.id)),
    async remove (id) {
      if (!devices.has(id)) return false
      devices.delete(id)
      verified.delete(id)
      await store.remove(id)
      return true
    },
    async authenticate (id, password) {
      const s = devices.get(id)
      const fp = fingerprint(password)
      if (s !== undefined && verified.get(id) === fp) return view(s)
      const ok = await verifyPassword(s?.hash ?? DUMMY_HASH, password)
      // The device may have been removed while scrypt ran.
      if (!ok || s === undefined || devices.get(id) !== s) return undefined
      verified.set(id, fp)
      return view(s)
    },
    onAttributesChanged (listener) {
      attributeListeners.add(listener)
      return () => { attributeListeners.delete(listener) }
    },
    setConnected (id, isConnected) {
      const s = devices.get(id)
      if (isConnected) connected.add(id)
      else connected.delete(id)
      if (s === undefined) return
      s.lastSeen = new Date(clock.now()).toISOString()
      // lastSeen is advisory: a lost write only makes it older.
      store.touch(id, s.lastSeen).catch(() => undefined)
    }
  }
}
