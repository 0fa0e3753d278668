import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import type { Replay, Topic } from '../helpers/api.js'
import { durableOnly, startTestGateway, TEST_ENGINE, type TestGateway } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// Idempotent publish through a whole gateway: a topic with a deduplication window, HTTP
// publishers and devices resending the same event, restarts and the window passing on an
// injected clock. On the engine of the run (leveldb in `flows`, memory in `flows-memory`) and
// on redis against a redis-server this file starts.

const teardown = useTeardown()
const redis = useRedisServer()

const CONFIG = {
  topics: [{ name: 'readings', deduplication: { windowSeconds: 60 } }],
  routes: [{ filter: 'devices/+/telemetry/#', topic: 'readings', type: 'device.telemetry', idField: 'msgId' }],
  telemetry: { enabled: false }
}

interface Started {
  gw: TestGateway
  /** Stops the gateway and starts it again on the same data (undefined: the engine keeps nothing). */
  restart?: () => Promise<TestGateway>
}

type Start = (clock: ManualClock) => Promise<Started>

/** One gateway at a time on one store; teardown stops whichever runs last. */
function starter (overrides: (clock: ManualClock) => Promise<{ config: Record<string, any>, dataDir?: string, durable: boolean }>): Start {
  return async (clock) => {
    const { config, dataDir, durable } = await overrides(clock)
    let current = await startTestGateway({ ...CONFIG, ...config }, { clock, dataDir })
    teardown(async () => { await current.stop() })
    return {
      gw: current,
      restart: durable
        ? async () => {
          await current.stop()
          current = await startTestGateway({ ...CONFIG, ...config }, { clock, dataDir })
          return current
        }
        : undefined
    }
  }
}

const embedded: Start = starter(async () => {
  const dir = await tempDir()
  teardown(dir.remove)
  return { config: {}, dataDir: dir.path, durable: durableOnly }
})

const onRedis: Start = starter(async () => {
  const { url } = await redis.server()
  return { config: { storage: { engine: 'redis' }, redis: { url, keyPrefix: redis.freshPrefix() } }, durable: true }
})

const replayIds = async (gw: TestGateway, topic: string): Promise<string[]> =>
  (await gw.request<Replay>('GET', `/topics/${topic}/events?fromOffset=0&limit=1000`)).body.value.map((v) => v.event.id as string)

/** A counter's value for one topic (a cluster node adds a `node` label). */
async function counter (gw: TestGateway, name: string, topic: string): Promise<number | undefined> {
  const text = (await gw.request('GET', '/metrics')).text
  const found = new RegExp(`^${name}\\{(?:[^}]*,)?topic="${topic}"[^}]*\\} (\\d+)$`, 'm').exec(text)
  return found === null ? undefined : Number(found[1])
}

async function device (gw: TestGateway, id: string, password?: string): Promise<{ client: MqttClient, password: string }> {
  const pw = password ?? await registerDevice(gw, id)
  const client = await connectDevice(gw.gateway.listeners.mqtt, id, pw)
  teardown(() => client.endAsync(true))
  return { client, password: pw }
}

function flows (engine: string, start: Start): void {
  describe(`idempotent publish on ${engine}`, () => {
    it('acknowledges an HTTP publish of an event the topic already took with 200 and appends it once, also within a batch', async () => {
      const { gw } = await start(new ManualClock(Date.now()))
      const created = await gw.request<Topic & { deduplication?: unknown }>('PUT', '/topics/orders', { body: { deduplication: { windowSeconds: 300 } } })
      expect(created.status).toBe(201)
      expect(created.body.deduplication).toEqual({ windowSeconds: 300 })
      expect((await gw.publish('orders', cloudEvent('a'))).status).toBe(200)
      expect((await gw.publish('orders', cloudEvent('a'))).status).toBe(200)
      expect((await gw.publish('orders', [cloudEvent('b'), cloudEvent('a'), cloudEvent('b'), cloudEvent('c')])).status).toBe(200)
      // The same id from another source is another event.
      expect((await gw.publish('orders', cloudEvent('a', {}, { source: '/elsewhere' }))).status).toBe(200)
      expect(await replayIds(gw, 'orders')).toEqual(['a', 'b', 'c', 'a'])
      expect(await counter(gw, 'gridgate_duplicates_total', 'orders')).toBe(3)
      // Off by default, and a window out of range is refused.
      await gw.request('PUT', '/topics/plain')
      for (let i = 0; i < 2; i++) expect((await gw.publish('plain', cloudEvent('a'))).status).toBe(200)
      expect(await replayIds(gw, 'plain')).toEqual(['a', 'a'])
      const bad = await gw.request<{ error: { code: string } }>('PUT', '/topics/orders', { body: { deduplication: { windowSeconds: -1 } } })
      expect([bad.status, bad.body.error.code]).toEqual([400, 'BODY_INVALID'])
      // Turned off: the same event appends again.
      expect((await gw.request<Topic & { deduplication?: unknown }>('PUT', '/topics/orders', { body: { deduplication: { windowSeconds: 0 } } })).body.deduplication).toBeUndefined()
      expect((await gw.publish('orders', cloudEvent('a'))).status).toBe(200)
      expect(await replayIds(gw, 'orders')).toEqual(['a', 'b', 'c', 'a', 'a'])
      // The OpenAPI description has the field, in the body and in the topic.
      const doc = (await gw.request<{ paths: Record<string, Record<string, unknown>>, components: unknown }>('GET', '/openapi.json', { auth: null })).body
      expect(JSON.stringify(doc.paths['/topics/{topicName}']?.put)).toContain('"deduplication"')
      expect(JSON.stringify(doc.components)).toContain('"deduplication"')
    })

    it('PUBACKs a device\'s QoS 1 resend of the same msgId and appends the message once', async () => {
      const { gw } = await start(new ManualClock(Date.now()))
      const { client } = await device(gw, 'meter-1')
      await client.publishAsync('devices/meter-1/telemetry', '{"msgId":"m-1","t":20}', { qos: 1 })
      // The resend after a lost PUBACK: the same message, marked as a duplicate delivery.
      await client.publishAsync('devices/meter-1/telemetry', '{"msgId":"m-1","t":20}', { qos: 1, dup: true })
      await client.publishAsync('devices/meter-1/telemetry', '{"msgId":7,"t":21}', { qos: 1 })
      await client.publishAsync('devices/meter-1/telemetry', '{"msgId":7,"t":21}', { qos: 1 })
      // No msgId: the gateway makes an id, so two sends are two events.
      await client.publishAsync('devices/meter-1/telemetry', '{"t":22}', { qos: 1 })
      await client.publishAsync('devices/meter-1/telemetry', '{"t":22}', { qos: 1 })
      // Sent together, both in flight at once (most likely one group-commit write): one event.
      await Promise.all([1, 2].map(async () => await client.publishAsync('devices/meter-1/telemetry', '{"msgId":"m-2","t":23}', { qos: 1 })))
      const { body } = await gw.request<Replay>('GET', '/topics/readings/events?fromOffset=0')
      expect(body.value.map((v) => (v.event.data as { t: number }).t)).toEqual([20, 21, 22, 22, 23])
      expect(body.value.slice(0, 2).map((v) => v.event.id)).toEqual(['m-1', '7'])
      // An HTTP publisher resending the device's event (same source and id) is a duplicate too.
      const first = body.value[0]?.event as Record<string, unknown>
      expect((await gw.publish('readings', cloudEvent('m-1', {}, { source: first.source }))).status).toBe(200)
      expect((await gw.request<Topic>('GET', '/topics/readings')).body.events).toBe(5)
      expect(await counter(gw, 'gridgate_duplicates_total', 'readings')).toBe(4)
      expect(await counter(gw, 'gridgate_ingest_events_total', 'readings')).toBe(5)
    })

    it(`holds the window${engine === 'memory' ? '' : ' across a restart'}, and appends the same msgId again once it has passed`, async () => {
      const clock = new ManualClock(Date.now())
      const started = await start(clock)
      let gw = started.gw
      const first = await device(gw, 'meter-2')
      await first.client.publishAsync('devices/meter-2/telemetry', '{"msgId":"m-1","t":1}', { qos: 1 })
      clock.advance(30_000)
      let client = first.client
      if (started.restart !== undefined) {
        await client.endAsync(true)
        gw = await started.restart()
        client = (await device(gw, 'meter-2', first.password)).client
      }
      await client.publishAsync('devices/meter-2/telemetry', '{"msgId":"m-1","t":2}', { qos: 1 })
      expect((await gw.request<Topic>('GET', '/topics/readings')).body.events).toBe(1)
      clock.advance(29_999) // 1 ms before the window passes
      await client.publishAsync('devices/meter-2/telemetry', '{"msgId":"m-1","t":3}', { qos: 1 })
      expect((await gw.request<Topic>('GET', '/topics/readings')).body.events).toBe(1)
      clock.advance(1)
      await client.publishAsync('devices/meter-2/telemetry', '{"msgId":"m-1","t":4}', { qos: 1 })
      await client.publishAsync('devices/meter-2/telemetry', '{"msgId":"m-1","t":5}', { qos: 1 })
      const { body } = await gw.request<Replay>('GET', '/topics/readings/events?fromOffset=0')
      expect(body.value.map((v) => [v.event.id, (v.event.data as { t: number }).t])).toEqual([['m-1', 1], ['m-1', 4]])
    })
  })
}

flows(TEST_ENGINE, embedded)
// The flows-memory project would only run the redis half again.
if (TEST_ENGINE !== 'memory') flows('redis', onRedis)
