import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { durableOnly, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, nextMessage, registerDevice, whenClosed } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { pause, until } from '../helpers/wait.js'

// Retained messages for operators: GET /retained?filter=F lists what aedes holds (on either
// storage engine), DELETE /retained/{topic} clears one; MQTT permissions stay as they were.

const teardown = useTeardown()

interface Retained { topic: string, bytes: number, qos: number, clientId: string | null, time: string | null }
interface ErrorBody { error: { code: string } }

const START = Date.UTC(2026, 5, 1, 12, 0, 0)

async function gateway (mqtt: Record<string, unknown> = {}, clock = new ManualClock(START)): Promise<TestGateway> {
  // Devices may also subscribe to their own telemetry and events here, to see what is retained.
  // eslint-disable-next-line no-template-curly-in-string
  const gw = await startTestGateway({ mqtt: { permissions: { publish: ['devices/${client.id}/#'], subscribe: ['devices/${client.id}/#'] }, ...mqtt } }, { clock })
  teardown(gw.stop)
  return gw
}

async function listed (gw: TestGateway, filter?: string): Promise<Retained[]> {
  const res = await gw.request('GET', filter === undefined ? '/retained' : `/retained?filter=${encodeURIComponent(filter)}`)
  expect(res.status).toBe(200)
  return (res.body as { value: Retained[] }).value
}

describe('GET /retained and DELETE /retained/{topic}', () => {
  it('lists retained messages by filter with size, QoS, publisher and time, and clears one without touching the others', async () => {
    const clock = new ManualClock(START)
    const gw = await gateway({}, clock)
    const url = gw.gateway.listeners.mqtt
    const a = await connectDevice(url, 'dev-a', await registerDevice(gw, 'dev-a'))
    const b = await connectDevice(url, 'dev-b', await registerDevice(gw, 'dev-b'))
    teardown(() => a.endAsync(true))
    teardown(() => b.endAsync(true))
    await a.publishAsync('devices/dev-a/telemetry', '{"t":21.5}', { qos: 1, retain: true })
    clock.advance(1000)
    await a.publishAsync('devices/dev-a/events/state', 'open', { qos: 0, retain: true })
    await b.publishAsync('devices/dev-b/telemetry', '{"t":3}', { qos: 1, retain: true })
    await b.publishAsync('devices/dev-b/telemetry/not-retained', '{"t":3}', { qos: 1 })
    // a QoS 0 publish has no acknowledgement: a QoS 1 one after it shows it was handled
    await a.publishAsync('devices/dev-a/telemetry/x', '1', { qos: 1 })

    // aedes stores a retained message after its PUBACK: wait until all three are there.
    await until(async () => (await listed(gw)).length === 3, { timeoutMs: 5_000, what: 'three retained messages' })
    expect(await listed(gw)).toEqual([
      { topic: 'devices/dev-a/events/state', bytes: 4, qos: 0, clientId: 'dev-a', time: new Date(START + 1000).toISOString() },
      { topic: 'devices/dev-a/telemetry', bytes: 10, qos: 1, clientId: 'dev-a', time: new Date(START).toISOString() },
      { topic: 'devices/dev-b/telemetry', bytes: 7, qos: 1, clientId: 'dev-b', time: new Date(START + 1000).toISOString() }
    ])
    expect((await listed(gw, 'devices/+/telemetry')).map((r) => r.topic)).toEqual(['devices/dev-a/telemetry', 'devices/dev-b/telemetry'])
    expect((await listed(gw, 'devices/dev-a/#')).map((r) => r.topic)).toEqual(['devices/dev-a/events/state', 'devices/dev-a/telemetry'])
    expect(await listed(gw, 'nothing/here')).toEqual([])
    expect((await gw.request('GET', '/retained?filter=%23&limit=1')).body).toEqual({ value: [expect.objectContaining({ topic: 'devices/dev-a/events/state' })] })

    // The topic URL-encoded, or with its slashes as they are.
    expect((await gw.request('DELETE', `/retained/${encodeURIComponent('devices/dev-a/telemetry')}`)).status).toBe(204)
    expect((await gw.request('DELETE', '/retained/devices/dev-b/telemetry')).status).toBe(204)
    expect((await listed(gw)).map((r) => r.topic)).toEqual(['devices/dev-a/events/state'])

    // A new subscriber gets what is still retained, and not what was cleared.
    const seen: string[] = []
    a.on('message', (topic) => seen.push(topic))
    const first = nextMessage(a)
    await a.subscribeAsync('devices/dev-a/#', { qos: 1 })
    expect((await first).topic).toBe('devices/dev-a/events/state')
    await pause(300) // quiet: no second retained message comes
    expect(seen).toEqual(['devices/dev-a/events/state'])
  })

  it('answers 404 RETAINED_NOT_FOUND for a topic with nothing retained, and 400 MQTT_TOPIC_INVALID for wildcards and bad filters', async () => {
    const gw = await gateway()
    const del = await gw.request('DELETE', `/retained/${encodeURIComponent('devices/x/telemetry')}`)
    expect(del.status).toBe(404)
    expect((del.body as ErrorBody).error.code).toBe('RETAINED_NOT_FOUND')
    for (const topic of ['devices/+/telemetry', 'devices/#', 'a\u0000b']) {
      const res = await gw.request('DELETE', `/retained/${encodeURIComponent(topic)}`)
      expect(res.status, topic).toBe(400)
      expect((res.body as ErrorBody).error.code).toBe('MQTT_TOPIC_INVALID')
    }
    for (const filter of ['a/#/b', 'a+/b', '']) {
      const res = await gw.request('GET', `/retained?filter=${encodeURIComponent(filter)}`)
      expect(res.status, filter).toBe(400)
      expect((res.body as ErrorBody).error.code).toBe('MQTT_TOPIC_INVALID')
    }
    expect((await gw.request('GET', '/retained?limit=0')).status).toBe(400)
    expect((await gw.request('GET', '/retained?filter=a&filter=b')).status).toBe(400)
  })

  it('needs the HTTP access key', async () => {
    const gw = await gateway()
    expect((await gw.request('GET', '/retained', { auth: null })).status).toBe(401)
    expect((await gw.request('DELETE', '/retained/a', { auth: null })).status).toBe(401)
  })

  it('frees the publisher\'s retained-topic allowance when an operator clears one', async () => {
    const gw = await gateway({ maxRetainedPerDevice: 1 })
    const a = await connectDevice(gw.gateway.listeners.mqtt, 'dev-a', await registerDevice(gw, 'dev-a'))
    teardown(() => a.endAsync(true))
    const retainedTopics = async (): Promise<string> => (await listed(gw)).map((r) => r.topic).join(' ')
    await a.publishAsync('devices/dev-a/telemetry', '1', { qos: 1, retain: true })
    await until(async () => await retainedTopics() === 'devices/dev-a/telemetry', { timeoutMs: 5_000, what: 'the retained message' })
    expect((await gw.request('DELETE', `/retained/${encodeURIComponent('devices/dev-a/telemetry')}`)).status).toBe(204)
    await a.publishAsync('devices/dev-a/telemetry/other', '2', { qos: 1, retain: true }) // PUBACKed: within the cap again
    await until(async () => await retainedTopics() === 'devices/dev-a/telemetry/other', { timeoutMs: 5_000, what: 'the second retained message alone' })
    const closed = whenClosed(a)
    a.publish('devices/dev-a/telemetry/third', '3', { qos: 1, retain: true }) // one over the cap
    await closed
  })

  it.runIf(durableOnly)('keeps publisher and time across a restart', async () => {
    const gw = await startTestGateway({}, { clock: new ManualClock(START) })
    // Its stop removes the data directory, after the restarted gateway's (teardown runs last first).
    teardown(gw.stop)
    const a = await connectDevice(gw.gateway.listeners.mqtt, 'dev-a', await registerDevice(gw, 'dev-a'))
    await a.publishAsync('devices/dev-a/telemetry', '{"t":1}', { qos: 1, retain: true })
    await until(async () => (await listed(gw)).length === 1, { timeoutMs: 5_000, what: 'the retained message' })
    await a.endAsync()
    await gw.gateway.stop()
    const again = await startTestGateway({}, { dataDir: gw.dataDir, clock: new ManualClock(START + 60_000) })
    teardown(again.stop)
    expect(await listed(again)).toEqual([{ topic: 'devices/dev-a/telemetry', bytes: 7, qos: 1, clientId: 'dev-a', time: new Date(START).toISOString() }])
  })
})
