import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { createClusterNode, createLocalNodeStore, newNodeId, type NodeStore } from '../../src/registry/nodes.js'

// A node's heartbeat on a manual clock, over the in-process NodeStore (whose expiry runs on the
// same clock): announced at start, refreshed every interval, withdrawn at stop, and never two
// live processes with one id.

const INTERVAL = 1000
const EXPIRY = 5000
const listeners = { http: 'http://127.0.0.1:8080', mqtt: 'mqtt://127.0.0.1:1883' }

/** Lets pending promise callbacks run (the store's answers), so timers the node sets next exist. */
const settle = async (): Promise<void> => { for (let i = 0; i < 10; i++) await Promise.resolve() }

function node (store: NodeStore, clock: ManualClock, instance: string, errors: unknown[] = []): ReturnType<typeof createClusterNode> {
  return createClusterNode({ id: 'gw-1', store, clock, intervalMs: INTERVAL, expiryMs: EXPIRY, instance, onError: (e) => errors.push(e) })
}

describe('cluster node heartbeat', () => {
  it('announces at start, refreshes every interval, and stays listed past the expiry while it beats', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const store = createLocalNodeStore(clock)
    const n = node(store, clock, 'i-1')
    await n.start(listeners)
    expect(await n.list()).toEqual([{ id: 'gw-1', listeners, startedAt: '2026-01-01T00:00:00.000Z', lastHeartbeat: '2026-01-01T00:00:00.000Z', owns: {} }])
    for (let i = 0; i < 12; i++) { clock.advance(INTERVAL); await settle() }
    const [listed] = await n.list()
    expect(listed?.lastHeartbeat).toBe('2026-01-01T00:00:12.000Z')
    expect(listed?.startedAt).toBe('2026-01-01T00:00:00.000Z')
    await n.stop()
  })

  it('withdraws at stop: gone from the list at once, and no heartbeat after', async () => {
    const clock = new ManualClock()
    const store = createLocalNodeStore(clock)
    const n = node(store, clock, 'i-1')
    await n.start(listeners)
    await n.stop()
    expect(await store.list()).toEqual([])
    expect(clock.pendingTimers()).toBe(0)
  })

  it('leaves the list its expiry after the last heartbeat of a node that stopped beating (a killed process)', async () => {
    const clock = new ManualClock()
    const store = createLocalNodeStore(clock)
    const observer = createClusterNode({ id: 'gw-2', store, clock, intervalMs: INTERVAL, expiryMs: EXPIRY, instance: 'i-2' })
    // gw-1's last heartbeat; then nothing (its process is gone).
    await store.announce({ id: 'gw-1', listeners, startedAt: 'x', lastHeartbeat: 'x' }, 'i-1', EXPIRY)
    clock.advance(EXPIRY - 1)
    expect((await observer.list()).map((x) => x.id)).toEqual(['gw-1'])
    clock.advance(1)
    expect(await observer.list()).toEqual([])
  })

  it('waits out the record of a previous run with its id, then starts', async () => {
    const clock = new ManualClock()
    const store = createLocalNodeStore(clock)
    // The previous process announced once and was killed.
    await store.announce({ id: 'gw-1', listeners, startedAt: 'x', lastHeartbeat: 'x' }, 'i-old', EXPIRY)
    const n = node(store, clock, 'i-new')
    const starting = n.start(listeners)
    for (let t = 0; t <= EXPIRY; t += INTERVAL) { await settle(); clock.advance(INTERVAL) }
    await starting
    expect((await store.list())[0]?.listeners).toEqual(listeners)
    await n.stop()
  })

  it('refuses to start while another live process keeps the id (CONFIG_INVALID naming cluster.nodeId)', async () => {
    const clock = new ManualClock()
    const store = createLocalNodeStore(clock)
    const twin = node(store, clock, 'i-twin')
    await twin.start(listeners)
    const n = node(store, clock, 'i-new')
    const starting = n.start(listeners).then(() => undefined, (e: unknown) => e)
    for (let t = 0; t <= EXPIRY + 2 * INTERVAL; t += INTERVAL) { await settle(); clock.advance(INTERVAL) }
    const err = await starting
    expect(err).toMatchObject({ code: 'CONFIG_INVALID', details: { field: '/cluster/nodeId' } })
    expect((await store.list()).length).toBe(1)
    await twin.stop()
  })

  it('reports a failed heartbeat and beats again on time', async () => {
    const clock = new ManualClock()
    const inner = createLocalNodeStore(clock)
    let failNext = false
    const store: NodeStore = {
      ...inner,
      announce: async (r, i, ms) => {
        if (failNext) { failNext = false; throw new Error('Redis is away') }
        return await inner.announce(r, i, ms)
      }
    }
    const errors: unknown[] = []
    const n = node(store, clock, 'i-1', errors)
    await n.start(listeners)
    failNext = true
    clock.advance(INTERVAL); await settle()
    expect(errors).toHaveLength(1)
    clock.advance(INTERVAL); await settle()
    expect((await inner.list())[0]?.lastHeartbeat).toBe(new Date(clock.now()).toISOString())
    await n.stop()
  })
})

describe('newNodeId', () => {
  it.each([
    { host: 'gw-vm-3', hex: '0a1b2c3d', id: 'gw-vm-3-0a1b2c3d' },
    { host: 'ip-10-0-0-7.eu-west-1.compute.internal', hex: 'ffffffff', id: 'ip-10-0-0-7.eu-west-1.compute.internal-ffffffff' },
    { host: 'höst name!', hex: '12345678', id: 'h-st-name--12345678' },
    { host: '', hex: '12345678', id: 'node-12345678' },
    { host: '--x', hex: '12345678', id: 'x-12345678' }
  ])('makes $id of host $host', ({ host, hex, id }) => {
    expect(newNodeId(host, hex)).toBe(id)
    expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$/)
  })
})

describe('a cluster of one (the embedded engines)', () => {
  it('writes its record once, sets no timer, and lists itself with the time of the answer', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1))
    const store = createLocalNodeStore(clock)
    const n = createClusterNode({ id: 'gw-1', store, clock, intervalMs: null, expiryMs: EXPIRY, instance: 'i-1' })
    await n.start(listeners)
    expect(clock.pendingTimers()).toBe(0)
    clock.advance(10 * EXPIRY)
    expect(await n.list()).toEqual([{ id: 'gw-1', listeners, startedAt: '2026-01-01T00:00:00.000Z', lastHeartbeat: '2026-01-01T00:00:50.000Z', owns: {} }])
    await n.stop()
    expect(await store.list()).toEqual([])
  })
})
