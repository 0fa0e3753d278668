import { describe, expect, it } from 'vitest'
import type { CloudEvent, ErrorBody, List, Replay } from '../helpers/api.js'
import { startTestGateway, TEST_ENGINE, type TestGateway } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'

// The schema registry and dry runs through a whole gateway: on the engine of the project
// (leveldb in `flows`, memory in `flows-memory`) and, in `flows`, on a redis-server too, where
// two gateways on one prefix are two nodes of a cluster.

const teardown = useTeardown()
const redis = useRedisServer()

interface Registered { subject: string, version: number, id: string }
interface VersionView extends Registered { schema: unknown, dataschema: string, createdAt: string }
interface Subject { subject: string, compatibility: string, latest: number }
interface Check { compatible: boolean, compatibility: string, version: number | null, breakingChange?: { kind: string, path: string, message: string }, history?: { topic: string, checked: number, failed: number, failures: Array<{ offset: number, type: string, error: string }> } }
interface Match { matched: number, scanned: number, value: Array<{ offset: number, event: CloudEvent }>, nextOffset: number, complete: boolean }

type Start = (overrides?: Record<string, unknown>, prefix?: string) => Promise<TestGateway>

const ENGINES: Array<{ name: string, start: Start, fresh: () => string }> = [
  { name: TEST_ENGINE, start: async (overrides = {}) => await startTestGateway(overrides), fresh: () => '' },
  ...(TEST_ENGINE === 'memory'
    ? []
    : [{
        name: 'redis',
        start: async (overrides: Record<string, unknown> = {}, prefix?: string) => {
          const { url } = await redis.server()
          return await startTestGateway({ ...overrides, storage: { engine: 'redis' }, redis: { url, keyPrefix: prefix ?? redis.freshPrefix() } })
        },
        fresh: () => redis.freshPrefix()
      }])
]

const reading = {
  type: 'object',
  properties: { temperature: { type: 'number' }, unit: { enum: ['C', 'F'] } },
  required: ['temperature'],
  additionalProperties: false
}

describe.each(ENGINES)('the schema registry on $name', ({ start, fresh }) => {
  async function gateway (overrides: Record<string, unknown> = {}, prefix?: string): Promise<TestGateway> {
    const gw = await start(overrides, prefix)
    teardown(gw.stop)
    return gw
  }

  it('registers versions, answers identical content with its version, and refuses a breaking change with 409', async () => {
    const gw = await gateway()
    const v1 = await gw.request<Registered>('PUT', '/schemas/readings/versions', { body: { schema: reading } })
    expect(v1.status).toBe(201)
    expect(v1.body).toEqual({ subject: 'readings', version: 1, id: expect.stringMatching(/^[0-9a-f]{32}$/) })
    // the same schema again (keys in another order): the same version, nothing new
    const again = await gw.request<Registered>('PUT', '/schemas/readings/versions', { body: { schema: { additionalProperties: false, required: ['temperature'], properties: reading.properties, type: 'object' } } })
    expect(again).toMatchObject({ status: 200, body: v1.body })

    // backward (the default): a required field added breaks it, and the answer says where
    const breaking = await gw.request<ErrorBody>('PUT', '/schemas/readings/versions', { body: { schema: { ...reading, required: ['temperature', 'unit'] } } })
    expect(breaking.status).toBe(409)
    expect(breaking.body.error.code).toBe('SCHEMA_INCOMPATIBLE')
    expect(breaking.body.error.message).toBe("the schema is not backward compatible with version 1 of 'readings': data.unit: required field 'unit' added")
    const narrowed = await gw.request<ErrorBody>('PUT', '/schemas/readings/versions', { body: { schema: { ...reading, properties: { ...reading.properties, unit: { enum: ['C'] } } } } })
    expect(narrowed.body.error.message).toContain('data.unit: enum value "F" removed')

    // an optional field on a closed object, and a widened type: compatible
    const v2 = await gw.request<Registered>('PUT', '/schemas/readings/versions', { body: { schema: { ...reading, properties: { ...reading.properties, temperature: { type: ['number', 'null'] }, site: { type: 'string' } } } } })
    expect(v2).toMatchObject({ status: 201, body: { version: 2 } })

    const latest = await gw.request<VersionView>('GET', '/schemas/readings/versions/latest')
    expect(latest.body).toMatchObject({ subject: 'readings', version: 2, dataschema: 'urn:gridgate:schema:readings:2' })
    expect((await gw.request<VersionView>('GET', '/schemas/readings/versions/1')).body.schema).toEqual(reading)
    expect((await gw.request<List<Subject>>('GET', '/schemas')).body.value).toEqual([expect.objectContaining({ subject: 'readings', compatibility: 'backward', latest: 2 })])
    expect((await gw.request<Subject>('GET', '/schemas/readings')).body).toMatchObject({ latest: 2 })

    // compatibility none lets the breaking change through, and is kept for the subject
    const forced = await gw.request<Registered>('PUT', '/schemas/readings/versions', { body: { schema: { type: 'string' }, compatibility: 'none' } })
    expect(forced).toMatchObject({ status: 201, body: { version: 3 } })
    expect((await gw.request<Subject>('GET', '/schemas/readings')).body.compatibility).toBe('none')
  })

  it('refuses what is not a schema, and answers 404 for unknown subjects and versions', async () => {
    const gw = await gateway()
    const code = async (method: string, path: string, body?: unknown): Promise<string> => `${(await gw.request<ErrorBody>(method, path, { body })).status} ${(await gw.request<ErrorBody>(method, path, { body })).body?.error.code}`
    expect(await code('PUT', '/schemas/s/versions', { schema: { type: 'nope' } })).toBe('400 SCHEMA_INVALID')
    expect(await code('PUT', '/schemas/s/versions', { schema: { type: 'object', requird: ['a'] } })).toBe('400 SCHEMA_INVALID')
    expect(await code('PUT', '/schemas/s/versions', { schema: { type: 'object' }, compatibility: 'sideways' })).toBe('400 BODY_INVALID')
    expect(await code('PUT', '/schemas/s/versions', {})).toBe('400 BODY_INVALID')
    expect(await code('PUT', '/schemas/bad!name/versions', { schema: true })).toBe('400 SCHEMA_INVALID')
    expect(await code('GET', '/schemas/nope/versions/latest')).toBe('404 SCHEMA_NOT_FOUND')
    expect(await code('GET', '/schemas/nope')).toBe('404 SCHEMA_NOT_FOUND')
    await gw.request('PUT', '/schemas/s/versions', { body: { schema: true } })
    expect(await code('GET', '/schemas/s/versions/2')).toBe('404 SCHEMA_NOT_FOUND')
    expect(await code('GET', '/schemas/s/versions/zero')).toBe('404 SCHEMA_NOT_FOUND')
  })

  it('gives concurrent registrations distinct, gap-free versions (two nodes on redis)', async () => {
    // On redis, two gateways on one prefix (two nodes); on an embedded engine, one gateway.
    const prefix = fresh()
    const first = await gateway({}, prefix === '' ? undefined : prefix)
    const nodes = prefix === '' ? [first, first] : [first, await gateway({}, prefix)]
    await nodes[0]?.request('PUT', '/schemas/race/versions', { body: { schema: { type: 'object', title: 'v0' }, compatibility: 'none' } })
    const answers = await Promise.all(Array.from({ length: 12 }, async (_, i) =>
      await nodes[i % 2]?.request<Registered>('PUT', '/schemas/race/versions', { body: { schema: { type: 'object', title: `v${i + 1}` } } })))
    expect(answers.map((r) => r?.status)).toEqual(Array(12).fill(201))
    expect(answers.map((r) => r?.body.version).sort((x, y) => (x ?? 0) - (y ?? 0))).toEqual(Array.from({ length: 12 }, (_, i) => i + 2))
    expect((await nodes[1]?.request<VersionView>('GET', '/schemas/race/versions/latest'))?.body.version).toBe(13)
  })

  it('checks HTTP publishes to a topic whose event types are bound to subjects', async () => {
    const gw = await gateway()
    await gw.request('PUT', '/schemas/orders/versions', { body: { schema: { type: 'object', properties: { total: { type: 'number', minimum: 0 } }, required: ['total'] } } })
    const missing = await gw.request<ErrorBody>('PUT', '/topics/orders', { body: { schemas: { 'order.created': { subject: 'nope' } } } })
    expect(missing.status).toBe(404)
    expect(missing.body.error.message).toBe("schemas['order.created']: schema subject 'nope' does not exist")
    const put = await gw.request<{ schemas: unknown }>('PUT', '/topics/orders', { body: { schemas: { 'order.created': { subject: 'orders' }, 'order.v1': { subject: 'orders', version: 1 } } } })
    expect(put.status).toBe(201)
    expect(put.body.schemas).toEqual({ 'order.created': { subject: 'orders' }, 'order.v1': { subject: 'orders', version: 1 } })
    expect((await gw.request<{ schemas: unknown }>('GET', '/topics/orders')).body.schemas).toEqual(put.body.schemas)

    const created = (id: string, data: unknown): Record<string, unknown> => cloudEvent(id, data, { type: 'order.created' })
    expect((await gw.publish('orders', created('1', { total: 42 }))).status).toBe(200)
    // a batch with one bad event: refused whole, naming the event
    const bad = await gw.publish<ErrorBody>('orders', [created('2', { total: 1 }), created('3', { total: -1 }), cloudEvent('4', 'anything')])
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('SCHEMA_VIOLATION')
    expect(bad.body.error.message).toBe("event 1 (type 'order.created'): data.total must be >= 0 (schema urn:gridgate:schema:orders:1)")
    const noData = await gw.publish<ErrorBody>('orders', { specversion: '1.0', id: '5', source: '/test', type: 'order.created' })
    expect(noData.body.error.message).toBe("event 0 (type 'order.created'): the event has no data (schema urn:gridgate:schema:orders:1)")
    // types without a binding pass as before
    expect((await gw.publish('orders', cloudEvent('6', 'anything'))).status).toBe(200)
    const events = (await gw.request<Replay>('GET', '/topics/orders/events')).body.value.map((v) => v.event.id)
    expect(events).toEqual(['1', '6'])

    // bindings can be replaced, and are removed with {} and with the topic
    expect((await gw.request<{ schemas?: unknown }>('PUT', '/topics/orders', { body: { schemas: {} } })).body.schemas).toBeUndefined()
    expect((await gw.publish('orders', created('7', { total: -5 }))).status).toBe(200)
    await gw.request('PUT', '/topics/orders', { body: { schemas: { 'order.created': { subject: 'orders' } } } })
    expect((await gw.request('DELETE', '/topics/orders')).status).toBe(204)
    await gw.request('PUT', '/topics/orders')
    expect((await gw.request<{ schemas?: unknown }>('GET', '/topics/orders')).body.schemas).toBeUndefined()
  })

  it('checks device data against a route\'s subject, stamps dataschema, and sends failures to invalid', async () => {
    const routes = [{ filter: 'devices/+/telemetry/#', topic: 'telemetry', type: 'device.telemetry', schemaSubject: 'readings' }]
    const gw = await gateway({ routes })
    const password = await registerDevice(gw, 'sensor-1')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'sensor-1', password)
    teardown(async () => await device.endAsync())
    // no version yet: invalid, saying so
    await device.publishAsync('devices/sensor-1/telemetry', '{"temperature":20}', { qos: 1 })
    expect((await gw.request<{ registered?: unknown }>('PUT', '/schemas/readings/versions', { body: { schema: reading } })).status).toBe(201)
    await device.publishAsync('devices/sensor-1/telemetry', '{"temperature":21.5}', { qos: 1 })
    await device.publishAsync('devices/sensor-1/telemetry', '{"temperature":"hot"}', { qos: 1 })
    const telemetry = (await gw.request<Replay>('GET', '/topics/telemetry/events')).body.value.map((v) => v.event)
    expect(telemetry.map((e) => [e.dataschema, e.data])).toEqual([['urn:gridgate:schema:readings:1', { temperature: 21.5 }]])
    const invalid = (await gw.request<Replay>('GET', '/topics/invalid/events')).body.value.map((v) => v.event)
    expect(invalid.map((e) => [e.validationerror, e.dataschema ?? null])).toEqual([
      ["schema subject 'readings' has no version to check against", null],
      ['data.temperature must be number', 'urn:gridgate:schema:readings:1']
    ])
    // a new version registered through this gateway is in force for the next message
    await gw.request('PUT', '/schemas/readings/versions', { body: { schema: { ...reading, properties: { ...reading.properties, temperature: { type: ['number', 'string'] } } } } })
    await device.publishAsync('devices/sensor-1/telemetry', '{"temperature":"hot"}', { qos: 1 })
    const last = (await gw.request<Replay>('GET', '/topics/telemetry/events')).body.value.at(-1)?.event
    expect([last?.dataschema, last?.data]).toEqual(['urn:gridgate:schema:readings:2', { temperature: 'hot' }])
  })

  it('checks a draft against the compatibility mode and a topic\'s history', async () => {
    const gw = await gateway()
    await gw.request('PUT', '/schemas/orders/versions', { body: { schema: { type: 'object', properties: { total: { type: 'number' } } } } })
    await gw.request('PUT', '/topics/orders', { body: { schemas: { 'order.created': { subject: 'orders' } } } })
    await gw.publish('orders', [10, 250, 3000].map((total, i) => cloudEvent(`o${i}`, { total }, { type: 'order.created' })))
    await gw.publish('orders', cloudEvent('x', { total: 'n/a' }, { type: 'other' }))
    const draft = { type: 'object', properties: { total: { type: 'number', maximum: 1000 } } }
    const plain = await gw.request<Check>('POST', '/schemas/orders:check', { body: { schema: draft } })
    expect(plain.body).toMatchObject({ compatible: false, compatibility: 'backward', version: 1, breakingChange: { kind: 'maximum-lowered', path: 'data.total', message: 'data.total: upper bound none → <= 1000' } })
    const forward = await gw.request<Check>('POST', '/schemas/orders:check', { body: { schema: draft, compatibility: 'forward', history: { topic: 'orders', events: 100 } } })
    expect(forward.body).toMatchObject({ compatible: false, compatibility: 'forward', history: { topic: 'orders', checked: 3, failed: 1, failures: [{ offset: 2, type: 'order.created', error: 'data.total must be <= 1000' }] } })
    expect((await gw.request<Check>('POST', '/schemas/orders:check', { body: { schema: { type: 'object' }, history: { topic: 'orders', events: 2, type: 'other' } } })).body)
      .toMatchObject({ compatible: true, history: { checked: 1, failed: 0 } })
    expect((await gw.request<Check>('POST', '/schemas/new-subject:check', { body: { schema: draft } })).body).toEqual({ compatible: true, compatibility: 'backward', version: null })
    // nothing was registered
    expect((await gw.request<VersionView>('GET', '/schemas/orders/versions/latest')).body.version).toBe(1)
    expect((await gw.request<ErrorBody>('POST', '/schemas/orders:check', { body: { schema: draft, history: { topic: 'nope' } } })).body.error.code).toBe('TOPIC_NOT_FOUND')
  })
})

describe.each(ENGINES)('dry runs of filters on $name', ({ start }) => {
  it('returns which events a filter would have delivered, and how many', async () => {
    const gw = await start()
    teardown(gw.stop)
    await gw.request('PUT', '/topics/readings')
    const temps = [12, 31, 28, 35, 40, 22, 33]
    await gw.publish('readings', temps.map((t, i) => cloudEvent(`r${i}`, { temperature: t }, { type: i === 4 ? 'reading.test' : 'reading' })))
    const filtersConfiguration = { includedEventTypes: ['reading'], filters: [{ operatorType: 'NumberGreaterThan', key: 'data.temperature', value: 30 }] }
    const all = await gw.request<Match>('POST', '/topics/readings/events:match', { body: { filtersConfiguration } })
    expect(all.status).toBe(200)
    expect({ ...all.body, value: all.body.value.map((v) => [v.offset, v.event.id]) }).toEqual({ matched: 3, scanned: 7, value: [[1, 'r1'], [3, 'r3'], [6, 'r6']], nextOffset: 7, complete: true })
    const page = await gw.request<Match>('POST', '/topics/readings/events:match', { body: { filtersConfiguration, fromOffset: 2, limit: 1 } })
    expect({ ...page.body, value: page.body.value.map((v) => v.offset) }).toEqual({ matched: 2, scanned: 5, value: [3], nextOffset: 7, complete: true })
    const everything = await gw.request<Match>('POST', '/topics/readings/events:match', { body: { fromTime: '2000-01-01T00:00:00Z', limit: 0 } })
    expect({ ...everything.body }).toEqual({ matched: 7, scanned: 7, value: [], nextOffset: 7, complete: true })

    const refused = async (body: unknown, topic = 'readings'): Promise<string> => {
      const r = await gw.request<ErrorBody>('POST', `/topics/${topic}/events:match`, { body })
      return `${r.status} ${r.body.error.code} ${r.body.error.message}`
    }
    expect(await refused({ filtersConfiguration: { filters: [{ operatorType: 'NumberIn', key: 'data.t', values: ['a'] }] } })).toBe('400 SUBSCRIPTION_INVALID filtersConfiguration.filters[0].values[0]: must be a finite number')
    expect(await refused({ fromOffset: 0, fromTime: '2026-01-01T00:00:00Z' })).toMatch(/^400 BODY_INVALID/)
    expect(await refused({}, 'nope')).toMatch(/^404 TOPIC_NOT_FOUND/)
  })
})
