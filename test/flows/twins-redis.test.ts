import { describe, expect, it } from 'vitest'
import type { TwinView } from '../../src/twins/twins.js'
import { startTestGateway, TEST_ENGINE, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, nextMessage, registerDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// Device twins on the redis engine with two nodes in one process on one Redis (and prefix): a
// device on node 1 reports, node 2 answers its twin; a desired patch on node 2 reaches the
// device on node 1, retained; one node projects (each change once in `twins`).

const teardown = useTeardown()
const redis = useRedisServer()
const WAIT = { timeoutMs: 20_000 }

describe.skipIf(TEST_ENGINE === 'memory')('device twins on a cluster of two nodes on Redis', () => {
  it('reports through one node, answers on both, sends desired state across nodes, and projects each change once', async () => {
    const { url } = await redis.server()
    const keyPrefix = redis.freshPrefix()
    const config = { twins: { enabled: true, stepIntervalMs: 50 }, storage: { engine: 'redis' }, redis: { url, keyPrefix }, cluster: { heartbeatIntervalMs: 200, heartbeatExpiryMs: 1000 } }
    const one: TestGateway = await startTestGateway(config)
    teardown(one.stop)
    const two: TestGateway = await startTestGateway(config)
    teardown(two.stop)
    const password = await registerDevice(one, 'pump-7')
    const dev = await connectDevice(one.gateway.listeners.mqtt, 'pump-7', password)
    teardown(() => dev.endAsync(true))
    for (let i = 1; i <= 5; i++) await dev.publishAsync('devices/pump-7/telemetry', JSON.stringify({ rpm: i * 100, on: true }), { qos: 1 })

    let seen: TwinView | undefined
    await until(async () => (seen = (await two.request<TwinView>('GET', '/devices/pump-7/twin')).body)?.version === 5, { ...WAIT, what: 'the twin at version 5 on node 2' })
    expect(seen?.reported.rpm).toMatchObject({ value: 500, offset: 4 })
    expect((await one.request<TwinView>('GET', '/devices/pump-7/twin?atOffset=2')).body.reported.rpm?.value).toBe(300)

    const message = nextMessage(dev)
    await dev.subscribeAsync('devices/pump-7/twin/desired', { qos: 1 })
    const patched = await two.request<TwinView>('PATCH', '/devices/pump-7/twin/desired', { body: { rpm: 800 } })
    expect(patched.body).toMatchObject({ desiredVersion: 1, delta: { rpm: 800 } })
    expect(JSON.parse((await message).payload.toString())).toEqual({ version: 1, desired: { rpm: 800 } })

    // The reported events cover versions 1-5 once each (a step's changes are one event), then the desired one.
    type Replay = { value: Array<{ event: { id: string, data: { fromVersion?: number, version?: number } } }> }
    let events: Replay['value'] = []
    await until(async () => (events = (await one.request<Replay>('GET', '/topics/twins/events?limit=100')).body.value ?? []).some((e) => e.event.id === 'twin-pump-7-d1'), { ...WAIT, what: 'the desired change event' })
    const versions = events.flatMap((e) => e.event.data.fromVersion === undefined ? [] : Array.from({ length: (e.event.data.version as number) - e.event.data.fromVersion + 1 }, (_, i) => (e.event.data.fromVersion as number) + i))
    expect(versions).toEqual([1, 2, 3, 4, 5])
    expect(events.at(-1)?.event.id).toBe('twin-pump-7-d1')
  })
})
