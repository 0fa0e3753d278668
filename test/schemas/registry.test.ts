import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { GridgateError } from '../../src/core/errors.js'
import { contentId, createSchemaRegistry, schemaUri, type SchemaRegistry } from '../../src/schemas/registry.js'
import type { TopicLog } from '../../src/log/types.js'
import type { SchemaStore } from '../../src/schemas/store.js'
import { levelSchemaStore } from '../../src/storage/level/schema-store.js'
import { openLevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'

// The registry service over a real store (memory-level) and topic log, on a manual clock: how
// the version in force reaches the ingest path, and what another node's registration does.

const teardown = useTeardown()

async function rig (): Promise<{ clock: ManualClock, a: SchemaRegistry, b: SchemaRegistry, append: (topic: string, events: unknown[]) => Promise<void> }> {
  const handle = await EMBEDDED_ENGINES.find((e) => e.name === 'memory')!.open()
  const clock = new ManualClock()
  const logs = await openLevelTopicLogs({ storage: handle.store, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes: 1 << 20 })
  const log = logs.view()
  teardown(async () => { await log.close(); await logs.close(); await handle.cleanup() })
  // Two registries over one store: two nodes of a cluster, each with its own caches.
  const a = createSchemaRegistry({ store: levelSchemaStore(handle.store), log, clock, refreshMs: 1000 })
  const b = createSchemaRegistry({ store: levelSchemaStore(handle.store), log, clock, refreshMs: 1000 })
  const append = async (topic: string, events: unknown[]): Promise<void> => {
    if (await log.getTopic(topic) === undefined) await log.createTopic(topic)
    await log.append(topic, events.map((e) => Buffer.from(JSON.stringify(e))))
  }
  return { clock, a, b, append }
}

const num = { type: 'object', properties: { v: { type: 'number' } } }
const numOrString = { type: 'object', properties: { v: { type: ['number', 'string'] } } }
const settle = async (): Promise<void> => { for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve)) }

describe('the schema registry service', () => {
  it('keeps serving what it holds when the store cannot be read, and tries again after refreshMs', async () => {
    const handle = await EMBEDDED_ENGINES.find((e) => e.name === 'memory')!.open()
    teardown(handle.cleanup)
    const clock = new ManualClock()
    const real = levelSchemaStore(handle.store)
    let down = false
    let subjectReads = 0
    let versionReads = 0
    const store: SchemaStore = {
      ...real,
      subject: async (s) => { subjectReads++; if (down) throw new Error('store unreachable'); return await real.subject(s) },
      version: async (s, v) => { versionReads++; return await real.version(s, v) }
    }
    const log = {} as unknown as TopicLog // not read here
    const r = createSchemaRegistry({ store, log, clock, refreshMs: 1000 })
    await r.register('s', num)
    const latest = r.handle({ subject: 's' })
    expect(latest.current()?.version).toBe(1)
    down = true
    clock.advance(1000)
    expect(latest.current()?.version).toBe(1)
    await settle()
    expect(latest.current()?.version).toBe(1)
    const afterFailure = subjectReads
    expect(latest.current()?.version).toBe(1)
    await settle()
    expect(subjectReads).toBe(afterFailure) // not again before refreshMs
    down = false
    clock.advance(1000)
    latest.current()
    await settle()
    expect(subjectReads).toBe(afterFailure + 1)

    // a pinned version that does not exist: looked for at most once per refreshMs, however many messages
    const pinned = r.handle({ subject: 's', version: 2 })
    const before = versionReads
    for (let i = 0; i < 100; i++) { expect(pinned.current()).toBeUndefined(); await settle() }
    expect(versionReads - before).toBe(1)
    await r.register('s', numOrString)
    expect(pinned.current()?.version).toBe(2) // compiled by the registration itself
  })

  it('names versions by a URN and content by a hash of its canonical JSON', () => {
    expect(schemaUri('orders', 3)).toBe('urn:gridgate:schema:orders:3')
    expect(contentId({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(contentId({ a: [1, { c: 3, d: 2 }], b: 1 }))
    expect(contentId({ a: 1 })).not.toBe(contentId({ a: '1' }))
  })

  it('hands the ingest path the version in force without waiting, refreshed from the store at most every refreshMs', async () => {
    const { clock, a, b } = await rig()
    await a.register('s', num)
    const onB = b.handle({ subject: 's' })
    // nothing cached on b yet: undefined now, loaded in the background
    expect(onB.current()).toBeUndefined()
    await settle()
    expect(onB.current()?.version).toBe(1)
    // a registers version 2: a's own handle has it at once, b's after its refresh interval
    await a.register('s', numOrString)
    expect(a.handle({ subject: 's' }).current()?.uri).toBe('urn:gridgate:schema:s:2')
    expect(onB.current()?.version).toBe(1)
    clock.advance(1000)
    expect(onB.current()?.version).toBe(1) // the refresh starts now; the old version serves meanwhile
    await settle()
    expect(onB.current()?.version).toBe(2)
    expect(onB.current()?.validate({ v: 'x' })).toBe(true)
  })

  it('pins a version for handles that name one, and preloads without failing on a missing subject', async () => {
    const { a } = await rig()
    await a.preload({ subject: 'later' })
    await a.register('p', num)
    await a.register('p', numOrString)
    const pinned = a.handle({ subject: 'p', version: 1 })
    await a.preload({ subject: 'p', version: 1 })
    expect(pinned.current()?.uri).toBe('urn:gridgate:schema:p:1')
    expect(pinned.current()?.validate({ v: 'x' })).toBe(false)
    await expect(a.resolve({ subject: 'p', version: 9 })).rejects.toMatchObject({ code: 'SCHEMA_NOT_FOUND' })
  })

  it('re-registering an older version\'s content answers that version even where it breaks the mode', async () => {
    const { a } = await rig()
    await a.register('s', numOrString)
    await a.register('s', { type: 'object', properties: { v: { type: ['number', 'string', 'null'] } } })
    // version 1 narrows version 2's types (backward breaks), but it is version 1 already
    expect(await a.register('s', numOrString)).toEqual({ created: false, subject: 's', version: 1, id: contentId(numOrString) })
    const err = await a.register('s', num).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(GridgateError)
    expect((err as GridgateError).details).toMatchObject({ subject: 's', version: 2, compatibility: 'backward', kind: 'type-narrowed', path: 'data.v' })
  })

  it('checks a topic\'s last events: the types bound to the subject, else all', async () => {
    const { a, append } = await rig()
    await a.register('s', num)
    await append('t', [{ type: 'x', data: { v: 1 } }, { type: 'y', data: { v: 'a' } }, { type: 'x', data: { v: 'b' } }, { type: 'x', data_base64: 'AA==' }])
    const all = await a.check('s', numOrString, { history: { topic: 't', events: 10 } })
    expect(all.history).toEqual({ topic: 't', checked: 4, failed: 1, failures: [{ offset: 3, type: 'x', error: 'data is not JSON (data_base64)' }] })
    expect(all.compatible).toBe(false)
    await a.setTopicSchemas('t', { y: { subject: 's' } })
    expect((await a.check('s', num, { history: { topic: 't', events: 10 } })).history).toMatchObject({ checked: 1, failed: 1, failures: [{ offset: 1, error: 'data.v must be number' }] })
    // only the last N
    expect((await a.check('s', num, { history: { topic: 't', events: 2, type: 'x' } })).history).toMatchObject({ checked: 2, failed: 2 })
  })

  it('sees another node\'s topic bindings after its refresh interval', async () => {
    const { clock, a, b } = await rig()
    await a.register('s', num)
    await b.validateEvents('t', [{ type: 'x', data: { v: 'no' } }])
    await a.setTopicSchemas('t', { x: { subject: 's' } })
    await expect(a.validateEvents('t', [{ type: 'x', data: { v: 'no' } }])).rejects.toMatchObject({ code: 'SCHEMA_VIOLATION' })
    await b.validateEvents('t', [{ type: 'x', data: { v: 'no' } }]) // b's cached answer: no bindings
    clock.advance(1000)
    await expect(b.validateEvents('t', [{ type: 'x', data: { v: 'no' } }])).rejects.toMatchObject({ code: 'SCHEMA_VIOLATION', details: { index: 0, subject: 's', version: 1 } })
  })
})
