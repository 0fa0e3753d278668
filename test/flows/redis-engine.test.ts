import { describe, expect, it } from 'vitest'
import type { Device, List, Received, Replay, Settled } from '../helpers/api.js'
import { startTestGateway, TEST_ENGINE, type TestGateway } from '../helpers/gateway.js'
import { cloudEvent, type Answer } from '../helpers/http.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'

// A whole gateway on the redis storage engine, against a redis-server this file starts (with
// the append-only file fsynced on every write), as one process: several nodes on one Redis are
// test/flows/cluster.test.ts. The flows-memory project would only run this file again: it runs
// in `flows` alone.

const teardown = useTeardown()
const redis = useRedisServer()

async function gateway (keyPrefix: string): Promise<TestGateway> {
  const { url } = await redis.server()
  const gw = await startTestGateway({ storage: { engine: 'redis' }, redis: { url, keyPrefix } })
  teardown(gw.stop)
  return gw
}

/** The body of a 200 answer; anything else fails with what the gateway said. */
async function answer<T> (res: Answer<T>): Promise<T> {
  if (res.status !== 200) throw new Error(`${res.status} ${res.text}`)
  return res.body
}

const receive = async (gw: TestGateway, sub: string): Promise<Received> =>
  await answer(await gw.request<Received>('POST', `/topics/orders/eventsubscriptions/${sub}:receive?maxEvents=10&maxWaitTime=10&api-version=2024-06-01`))
const acknowledge = async (gw: TestGateway, sub: string, lockTokens: string[]): Promise<Settled> =>
  (await gw.request<Settled>('POST', `/topics/orders/eventsubscriptions/${sub}:acknowledge?api-version=2024-06-01`, { body: { lockTokens } })).body
const replay = async (gw: TestGateway, topic: string): Promise<Replay> =>
  (await gw.request<Replay>('GET', `/topics/${topic}/events?fromOffset=0&limit=1000`)).body
const ids = (r: { value: Array<{ event: { id?: string } }> }): Array<string | undefined> => r.value.map((v) => v.event.id)

describe.skipIf(TEST_ENGINE === 'memory')('a gateway on the redis storage engine', () => {
  it('publishes over HTTP, replays, and delivers through a pull subscription', async () => {
    const gw = await gateway(redis.freshPrefix())
    expect((await gw.request('GET', '/readyz', { auth: null })).body).toEqual({ status: 'ready', engine: 'redis' })
    expect((await gw.request('PUT', '/topics/orders')).status).toBe(201)
    expect((await gw.request('PUT', '/topics/orders/eventsubscriptions/sub1', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue' } } } })).status).toBe(201)
    expect((await gw.publish('orders', [cloudEvent('a'), cloudEvent('b')])).status).toBe(200)
    expect((await gw.publish('orders', cloudEvent('c'))).status).toBe(200)

    const all = await replay(gw, 'orders')
    expect(all.value.map((v) => [v.offset, v.event.id])).toEqual([[0, 'a'], [1, 'b'], [2, 'c']])
    expect(all.nextOffset).toBe(3)

    const got = await receive(gw, 'sub1')
    expect(got.value.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['a', 1], ['b', 1], ['c', 1]])
    const tokens = got.value.map((v) => v.brokerProperties.lockToken)
    expect((await acknowledge(gw, 'sub1', tokens)).succeededLockTokens).toEqual(tokens)
  })

  it('appends a device\'s QoS 1 publish before its PUBACK', async () => {
    const gw = await gateway(redis.freshPrefix())
    const password = await registerDevice(gw, 'meter-1')
    const device = await connectDevice(gw.gateway.listeners.mqtt, 'meter-1', password)
    teardown(() => device.endAsync(true))
    await device.publishAsync('devices/meter-1/telemetry', JSON.stringify({ temperature: 21.5 }), { qos: 1 })
    // The PUBACK has come back: the event is in Redis now, no waiting.
    const [logged] = (await replay(gw, 'telemetry')).value
    expect(logged?.event).toMatchObject({ source: '/gridgate/devices/meter-1', type: 'device.telemetry', data: { temperature: 21.5 }, deviceid: 'meter-1' })
  })

  it('keeps topics, events, devices and subscription state across a restart on the same Redis', async () => {
    const prefix = redis.freshPrefix()
    const first = await gateway(prefix)
    await first.request('PUT', '/topics/orders', { body: { retention: { maxAgeSeconds: 3600 } } })
    await first.request('PUT', '/topics/orders/eventsubscriptions/sub1', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue' } } } })
    await first.publish('orders', [cloudEvent('a'), cloudEvent('b')])
    const password = await registerDevice(first, 'meter-2')
    const taken = await receive(first, 'sub1')
    const token = (id: string): string[] => taken.value.filter((v) => v.event.id === id).map((v) => v.brokerProperties.lockToken)
    expect((await acknowledge(first, 'sub1', token('a'))).succeededLockTokens).toHaveLength(1)
    expect((await first.request<Settled>('POST', '/topics/orders/eventsubscriptions/sub1:release?api-version=2024-06-01', { body: { lockTokens: token('b') } })).body.succeededLockTokens).toHaveLength(1)
    await first.stop()

    // A new process on the same server and prefix (and a new, empty data directory).
    const second = await gateway(prefix)
    const topic = await second.request<{ retention: { maxAgeSeconds: number }, nextOffset: number }>('GET', '/topics/orders')
    expect(topic.body).toMatchObject({ retention: { maxAgeSeconds: 3600 }, nextOffset: 2 })
    expect(ids(await replay(second, 'orders'))).toEqual(['a', 'b'])
    expect((await second.request<List<Device>>('GET', '/devices')).body.value.map((d) => d.id)).toEqual(['meter-2'])
    // The device's credentials survived: it connects and its publish continues the topic.
    const device = await connectDevice(second.gateway.listeners.mqtt, 'meter-2', password)
    teardown(() => device.endAsync(true))
    await device.publishAsync('devices/meter-2/telemetry', '1', { qos: 1 })
    expect((await replay(second, 'telemetry')).value.map((v) => v.offset)).toEqual([0])
    // 'a' was acknowledged before the restart; 'b' was released and is delivered again.
    await second.publish('orders', cloudEvent('c'))
    expect((await replay(second, 'orders')).value.map((v) => [v.offset, v.event.id])).toEqual([[0, 'a'], [1, 'b'], [2, 'c']])
    const again = await receive(second, 'sub1')
    expect(ids(again)).toEqual(['b', 'c'])
    expect(again.value.find((v) => v.event.id === 'b')?.brokerProperties.deliveryCount).toBe(2)
  })
})
