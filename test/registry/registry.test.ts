import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { openRegistry } from '../../src/registry/devices.js'
import type { DeviceStore } from '../../src/registry/store.js'
import { openMemoryDb } from '../../src/storage/level/db.js'
import { levelDeviceStore } from '../../src/storage/level/device-store.js'

// The registry over the DeviceStore port, with real scrypt (a few ms per hash, so few
// registrations). The store is the memory engine's adapter; the port's own behaviour is
// device-store.contract.ts's business.

async function setup () {
  const db = await openMemoryDb()
  const clock = new ManualClock()
  const inner = levelDeviceStore(db)
  const store: DeviceStore = inner
  const registry = await openRegistry(store, clock)
  return { db, clock, store, registry }
}

const pw = (password: string | undefined): Buffer => Buffer.from(password ?? '', 'utf8')

describe('registry over a DeviceStore', () => {
  it('registers a device with a one-time password that authenticates it, storing only a hash', async () => {
    const { db, store, registry } = await setup()
    try {
      const { device, password, created } = await registry.register('sensor-1', { site: 'north' })
      expect(created).toBe(true)
      expect(password).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(device).toEqual({ id: 'sensor-1', attributes: { site: 'north' }, createdAt: '2026-01-01T00:00:00.000Z', connected: false, lastSeen: null })
      const stored = await store.get('sensor-1')
      expect(stored?.hash).toMatch(/^scrypt\$/)
      expect(JSON.stringify(stored)).not.toContain(password)
      expect(await registry.authenticate('sensor-1', pw(password))).toEqual(device)
    } finally { await db.close() }
  })

  it('refuses a wrong password and an unknown device alike', async () => {
    const { db, registry } = await setup()
    try {
      const { password } = await registry.register('sensor-1')
      expect(await registry.authenticate('sensor-1', pw(`${password ?? ''}x`))).toBeUndefined()
      expect(await registry.authenticate('sensor-2', pw(password))).toBeUndefined()
    } finally { await db.close() }
  })

  it('registering again updates attributes in the store and keeps the password', async () => {
    const { db, store, registry } = await setup()
    try {
      const { password } = await registry.register('sensor-1', { site: 'north' })
      const again = await registry.register('sensor-1', { site: 'south' })
      expect(again).toEqual({ device: expect.objectContaining({ attributes: { site: 'south' } }), created: false })
      expect((await store.get('sensor-1'))?.attributes).toEqual({ site: 'south' })
      // Without attributes, a registration leaves them as they are.
      await registry.register('sensor-1')
      expect((await registry.get('sensor-1'))?.attributes).toEqual({ site: 'south' })
      expect(await registry.authenticate('sensor-1', pw(password))).toBeDefined()
    } finally { await db.close() }
  })

  it('rejects an invalid device id without storing anything', async () => {
    const { db, store, registry } = await setup()
    try {
      await expect(registry.register('-bad id')).rejects.toMatchObject({ code: 'DEVICE_ID_INVALID' })
      expect(await store.list()).toEqual([])
    } finally { await db.close() }
  })

  it('removes a device from the store; its password no longer authenticates, even one checked before', async () => {
    const { db, store, registry } = await setup()
    try {
      const { password } = await registry.register('sensor-1')
      expect(await registry.authenticate('sensor-1', pw(password))).toBeDefined()
      expect(await registry.remove('sensor-1')).toBe(true)
      expect(await registry.remove('sensor-1')).toBe(false)
      expect(await registry.get('sensor-1')).toBeUndefined()
      expect(await store.get('sensor-1')).toBeUndefined()
      expect(await registry.authenticate('sensor-1', pw(password))).toBeUndefined()
    } finally { await db.close() }
  })

  it('opens with the devices already in the store, their passwords still valid', async () => {
    const { db, clock, store, registry } = await setup()
    try {
      const { password } = await registry.register('b-sensor', { site: 'north' })
      await registry.register('a-sensor')
      const reopened = await openRegistry(store, clock)
      expect((await reopened.list()).map((d) => d.id)).toEqual(['a-sensor', 'b-sensor'])
      expect((await reopened.get('b-sensor'))?.attributes).toEqual({ site: 'north' })
      expect(await reopened.authenticate('b-sensor', pw(password))).toBeDefined()
    } finally { await db.close() }
  })

  it('records lastSeen on connect and disconnect; shows now, the node and since when while connected', async () => {
    const { db, clock, store, registry } = await setup()
    try {
      await registry.register('sensor-1', { site: 'north' })
      clock.advance(60_000)
      const record = { deviceId: 'sensor-1', node: 'node-a', connection: 'c1', transport: 'tcp', since: clock.now() }
      expect(await registry.connected(record)).toBeUndefined()
      expect(await store.get('sensor-1')).toMatchObject({ lastSeen: '2026-01-01T00:01:00.000Z', attributes: { site: 'north' } })
      clock.advance(60_000)
      expect(await registry.get('sensor-1')).toMatchObject({ connected: true, lastSeen: '2026-01-01T00:02:00.000Z', node: 'node-a', connectedSince: '2026-01-01T00:01:00.000Z' })
      // Another connection's end changes nothing; this one's removes the record.
      expect(await registry.disconnected('sensor-1', 'node-a', 'c0')).toBeUndefined()
      expect(await registry.disconnected('sensor-1', 'node-a', 'c1')).toEqual(record)
      clock.advance(60_000)
      const after = await registry.get('sensor-1')
      expect(after).toMatchObject({ connected: false, lastSeen: '2026-01-01T00:02:00.000Z' })
      expect(after).not.toHaveProperty('node')
      expect((await store.get('sensor-1'))?.lastSeen).toBe('2026-01-01T00:02:00.000Z')
    } finally { await db.close() }
  })

  it('sees devices registered, changed and removed through another registry on the same store (another node)', async () => {
    const { db, clock, store, registry } = await setup()
    try {
      const other = await openRegistry(store, clock)
      const { password } = await other.register('sensor-1', { site: 'north' })
      expect((await registry.get('sensor-1'))?.attributes).toEqual({ site: 'north' })
      expect(await registry.authenticate('sensor-1', pw(password))).toBeDefined()
      const heard: Array<[string, boolean]> = []
      registry.onAttributesChanged((d, remote) => heard.push([d.attributes.site as string, remote]))
      await other.register('sensor-1', { site: 'south' })
      await registry.refresh('sensor-1')
      expect(heard).toEqual([['south', true]])
      await other.remove('sensor-1')
      // Checked before, on this registry: still refused once removed elsewhere.
      expect(await registry.authenticate('sensor-1', pw(password))).toBeUndefined()
      expect(await registry.list()).toEqual([])
    } finally { await db.close() }
  })

  it('keeps going when a lastSeen write fails', async () => {
    const { db, clock, store, registry } = await setup()
    try {
      await registry.register('sensor-1')
      const failing = await openRegistry({ ...store, touch: async () => { throw new Error('store unavailable') } }, clock)
      await failing.connected({ deviceId: 'sensor-1', node: 'n', connection: 'c', transport: 'tcp', since: clock.now() })
      expect((await failing.get('sensor-1'))?.connected).toBe(true)
    } finally { await db.close() }
  })
})
