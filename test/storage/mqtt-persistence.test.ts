// node:test's t.assert is node:assert's (loose) interface, which the suite is written against.
import assert from 'node:assert'
import { createRequire } from 'node:module'
import type { Readable } from 'node:stream'
import { afterAll, describe, expect, it } from 'vitest'
import { isNothingQueued } from '../../src/core/nothing-queued.js'
import { openLevelDbAt, type BinarySublevel, type LevelStore } from '../../src/storage/level/db.js'
import { clientOfKey, levelMqttPersistence } from '../../src/storage/level/mqtt-persistence.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// aedes' session persistence on the leveldb engine: aedes-persistence-level, answering clients
// with nothing stored from memory. It must behave as aedes-persistence-level does: aedes-persistence's
// own abstract suite runs against it on a real LevelDB, and state written before a restart is
// found again from the keys.

const requireLevel = createRequire(createRequire(import.meta.url).resolve('aedes-persistence-level'))
const plainLevelPersistence = requireLevel('./persistence.js') as (db: BinarySublevel) => CallbackPersistence
const abstractSuite = requireLevel('aedes-persistence/abstract') as (opts: { test: NodeTestLike, persistence: () => Promise<unknown> }) => void

type Cb<T> = (err: Error | null, value?: T) => void
interface CallbackPersistence {
  broker: unknown
  addSubscriptions: (client: { id: string }, subs: unknown[], cb: Cb<unknown>) => void
  subscriptionsByClient: (client: { id: string }, cb: (err: Error | null, subs: unknown[] | null) => void) => void
  outgoingEnqueue: (sub: { clientId: string }, packet: unknown, cb: Cb<unknown>) => void
  outgoingStream: (client: { id: string }) => Readable
  removeSubscriptions: (client: { id: string }, topics: string[], cb: Cb<unknown>) => void
  cleanSubscriptions: (client: { id: string }, cb: Cb<unknown>) => void
  subscriptionsByTopic: (topic: string, cb: Cb<Array<{ clientId: string, topic: string }>>) => void
  incomingStorePacket: (client: { id: string }, packet: unknown, cb: Cb<unknown>) => void
  incomingGetPacket: (client: { id: string }, packet: { messageId: number }, cb: Cb<unknown>) => void
  putWill: (client: { id: string }, packet: unknown, cb: Cb<unknown>) => void
  getWill: (client: { id: string }, cb: Cb<unknown>) => void
  destroy: (cb?: () => void) => void
}

type NodeTestFn = (t: { assert: typeof assert, plan: (n: number) => void, diagnostic: (msg: string) => void }) => Promise<void> | void
type NodeTestLike = (name: string, fn: NodeTestFn) => void

const teardown = useTeardown()
const suiteStores: Array<{ store: LevelStore, remove: () => Promise<void> }> = []
afterAll(async () => {
  for (const { store, remove } of suiteStores) {
    await store.close().catch(() => undefined)
    await remove()
  }
})

async function freshStore (): Promise<{ store: LevelStore, remove: () => Promise<void>, path: string }> {
  const dir = await tempDir('gridgate-mqtt-persistence-')
  const store = await openLevelDbAt(dir.path)
  return { store, remove: dir.remove, path: dir.path }
}

/** node:test's `test(name, fn)` on vitest: `t.assert` counts its calls against `t.plan`. */
const nodeTest: NodeTestLike = (name, fn) => {
  it(name, async () => {
    let planned: number | undefined
    let calls = 0
    const counted = new Proxy(assert, {
      get (target, key, receiver) {
        const value = Reflect.get(target, key, receiver) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => { calls++; return (value as (...a: unknown[]) => unknown).apply(target, args) }
      }
    })
    await fn({ assert: counted, plan: (n) => { planned = n }, diagnostic: () => undefined })
    if (planned !== undefined) expect(calls).toBe(planned)
  })
}

describe('aedes-persistence abstract suite, on the leveldb engine\'s persistence', () => {
  abstractSuite({
    test: nodeTest,
    persistence: async () => {
      const s = await freshStore()
      suiteStores.push(s)
      return levelMqttPersistence(s.store.binary('mqtt'))
    }
  })
})

describe('clientOfKey', () => {
  it.each([
    ['subscriptions:dev-1:devices/dev-1/commands', 'dev-1'],
    ['outgoing:dev-1:broker-42:0000000000000007', 'dev-1'],
    ['outgoing-id:dev-1:0000000000000003', 'dev-1'],
    ['incoming:dev-1:0000000000000003', 'dev-1'],
    ['will:dev-1', 'dev-1'],
    // ':' and '%' inside an id are escaped by encodeURIComponent
    ['subscriptions:a%3Ab:x/y', 'a:b'],
    ['will:caf%C3%A9', 'café'],
    ['retained:devices/dev-1/state', undefined],
    ['will:%E0%A4%A', undefined],
    ['somethingelse:dev-1', undefined]
  ])('%s names %s', (key, id) => {
    expect(clientOfKey(key)).toBe(id)
  })
})

const call = <T>(fn: (cb: Cb<T>) => void): Promise<T | undefined> =>
  new Promise((resolve, reject) => { fn((err, value) => { if (err !== null && err !== undefined) reject(err); else resolve(value) }) })

async function ready (p: CallbackPersistence): Promise<void> {
  const mq = { on: () => undefined, emit: () => undefined, removeListener: () => undefined }
  p.broker = { id: 'broker-1', mq, publish: () => undefined, subscribe: () => undefined, unsubscribe: () => undefined, counter: 0 }
  await new Promise<void>((resolve, reject) => {
    (p as unknown as { once: (e: string, f: (err?: Error) => void) => void }).once('ready', () => resolve())
    ;(p as unknown as { once: (e: string, f: (err: Error) => void) => void }).once('error', reject)
  })
}

async function drain (stream: Readable): Promise<unknown[]> {
  const out: unknown[] = []
  for await (const item of stream) out.push(item)
  return out
}

const publish = (messageId: number): Record<string, unknown> => ({
  cmd: 'publish', topic: 'devices/dev-1/commands', payload: Buffer.from('go'), qos: 1, retain: false, brokerId: 'broker-1', brokerCounter: messageId, messageId
})

describe('the leveldb engine\'s aedes persistence across a restart', () => {
  it('finds the subscriptions, queued messages, QoS 2 packets and will stored before it opened, and answers other clients as empty', async () => {
    const { store, remove, path } = await freshStore()
    teardown(remove)
    const dev = { id: 'dev-1' }
    const other = { id: 'dev-2' }
    // Written by the plain aedes-persistence-level, as gateways before this one did.
    const before = plainLevelPersistence(store.binary('mqtt'))
    await ready(before)
    await call((cb) => { before.addSubscriptions(dev, [{ topic: 'devices/dev-1/commands', qos: 1 }], cb) })
    await call((cb) => { before.outgoingEnqueue({ clientId: dev.id }, publish(7), cb) })
    await call((cb) => { before.incomingStorePacket(dev, { ...publish(3), qos: 2 }, cb) })
    await call((cb) => { before.putWill(dev, { topic: 'devices/dev-1/state', payload: Buffer.from('gone'), qos: 0, retain: false }, cb) })
    await store.close()

    const reopened = await openLevelDbAt(path)
    teardown(() => reopened.close())
    const after = levelMqttPersistence(reopened.binary('mqtt')) as CallbackPersistence
    await ready(after)

    const subs = await new Promise<unknown[] | null>((resolve, reject) => { after.subscriptionsByClient(dev, (err, s) => { if (err !== null) reject(err); else resolve(s) }) })
    expect(subs).toEqual([{ topic: 'devices/dev-1/commands', qos: 1 }])
    // Marked nothing-queued only where nothing is stored (aedes' CONNECT then skips its pipeline: src/broker/empty-queue.ts).
    expect([isNothingQueued(after.outgoingStream(dev)), isNothingQueued(after.outgoingStream(other))]).toEqual([false, true])
    const queued = await drain(after.outgoingStream(dev)) as Array<{ topic: string, brokerCounter: number }>
    expect(queued.map((p) => [p.topic, p.brokerCounter])).toEqual([['devices/dev-1/commands', 7]])
    const incoming = await call<{ messageId: number }>((cb) => { after.incomingGetPacket(dev, { messageId: 3 }, cb as Cb<unknown>) })
    expect(incoming?.messageId).toBe(3)
    const will = await call<{ topic: string }>((cb) => { after.getWill(dev, cb as Cb<unknown>) })
    expect(will?.topic).toBe('devices/dev-1/state')

    const otherSubs = await new Promise<unknown[] | null>((resolve, reject) => { after.subscriptionsByClient(other, (err, s) => { if (err !== null) reject(err); else resolve(s) }) })
    expect(otherSubs).toBeNull()
    expect(await drain(after.outgoingStream(other))).toEqual([])
    expect(await call((cb) => { after.getWill(other, cb) })).toBeUndefined()
    await expect(call((cb) => { after.incomingGetPacket(other, { messageId: 3 }, cb) })).rejects.toThrow('no such packet')
  })

  it('reads nothing from LevelDB for a client that has nothing stored', async () => {
    const { store, remove } = await freshStore()
    teardown(remove)
    teardown(() => store.close())
    const sublevel = store.binary('mqtt')
    let reads = 0
    // The persistence's own database handle, counting the reads made through it.
    const counting = new Proxy(sublevel, {
      get (target, key) {
        const value = Reflect.get(target, key, target) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          if (key === 'get' || key === 'getMany' || key === 'iterator' || key === 'values' || key === 'keys' || key === 'clear') reads++
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      }
    })
    const p = levelMqttPersistence(counting) as CallbackPersistence
    await ready(p)
    const atStart = reads
    const client = { id: 'dev-9' }
    // What aedes asks when a clean-session client connects and when it goes.
    await new Promise<void>((resolve, reject) => { p.subscriptionsByClient(client, (err) => { if (err !== null) reject(err); else resolve() }) })
    expect(await drain(p.outgoingStream(client))).toEqual([])
    expect(await call((cb) => { p.getWill(client, cb) })).toBeUndefined()
    expect(reads - atStart).toBe(0)
    // Once it stores something, its questions go to LevelDB again.
    await call((cb) => { p.addSubscriptions(client, [{ topic: 'devices/dev-9/commands', qos: 1 }], cb) })
    const subs = await new Promise<unknown[] | null>((resolve, reject) => { p.subscriptionsByClient(client, (err, s) => { if (err !== null) reject(err); else resolve(s) }) })
    expect(subs).toEqual([{ topic: 'devices/dev-9/commands', qos: 1 }])
    expect(reads - atStart).toBeGreaterThan(0)
  })
})

describe('the leveldb engine\'s offline subscriptions by topic', () => {
  it('answers each publish\'s topic as the subscriptions stand now, through subscribe, unsubscribe and clean', async () => {
    const { store, remove } = await freshStore()
    teardown(remove)
    teardown(() => store.close())
    const p = levelMqttPersistence(store.binary('mqtt')) as CallbackPersistence
    await ready(p)
    const topic = 'devices/dev-1/telemetry'
    const byTopic = async (): Promise<string[]> => ((await call<Array<{ clientId: string, topic: string }>>((cb) => { p.subscriptionsByTopic(topic, cb) })) ?? []).map((s) => `${s.clientId} ${s.topic}`).sort()
    // Asked before anyone subscribed (the answer a publish remembers), then after each change.
    expect(await byTopic()).toEqual([])
    await call((cb) => { p.addSubscriptions({ id: 'app-1' }, [{ topic: 'devices/+/telemetry', qos: 1 }], cb) })
    expect(await byTopic()).toEqual(['app-1 devices/+/telemetry'])
    await call((cb) => { p.addSubscriptions({ id: 'app-2' }, [{ topic: 'devices/#', qos: 1 }], cb) })
    expect(await byTopic()).toEqual(['app-1 devices/+/telemetry', 'app-2 devices/#'])
    await call((cb) => { p.removeSubscriptions({ id: 'app-1' }, ['devices/+/telemetry'], cb) })
    expect(await byTopic()).toEqual(['app-2 devices/#'])
    await call((cb) => { p.cleanSubscriptions({ id: 'app-2' }, cb) })
    expect(await byTopic()).toEqual([])
  })
})
