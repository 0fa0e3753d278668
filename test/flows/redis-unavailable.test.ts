import { Writable } from 'node:stream'
import { connectAsync, type MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import type { Replay } from '../helpers/api.js'
import { startTestGateway, TEST_ENGINE, type TestGateway } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { connackCode, registerDevice } from '../helpers/mqtt.js'
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js'
import { useTeardown } from '../helpers/teardown.js'
import { pause, until } from '../helpers/wait.js'

// Redis stopped and started again under load (issue 14, item 5). The test's own redis-server
// (append-only file fsynced on every write) is stopped twice, once killed (SIGKILL: a crash)
// and once shut down (SIGTERM), while an HTTP publisher and a QoS 1 device publish all along.
// While it is down: publishes answer 503 STORAGE_UNAVAILABLE at once, a device's publish gets
// no PUBACK and its connection is closed, a new connection gets CONNACK 3, /readyz answers
// 503 naming Redis, the metrics say so, and the gateway logs one warning. Once it is started
// again on the same port and dir, /readyz is 200 and publishing works again; at the end,
// every event that was acknowledged (200 or PUBACK), before, during or after the outages, is
// in the log read back by a fresh gateway (nothing of a process' cache).

const teardown = useTeardown()

interface Load {
  /** Event ids answered 200 (HTTP) or PUBACKed (MQTT). */
  acked: Set<string>
  /** 503 answers by error code, and other statuses. */
  refused: Map<string, number>
  /** MQTT: publishes whose connection closed before their PUBACK; refused CONNACKs by code. */
  noPuback: number
  connacks: Map<number, number>
}

const count = <K>(m: Map<K, number>, k: K): void => { m.set(k, (m.get(k) ?? 0) + 1) }

/** The value of one series of the Prometheus text, or undefined. */
function metric (text: string, series: string): number | undefined {
  // On the redis engine every series also has a node label: `name{…,node="…"} value`.
  const line = text.split('\n').map((l) => l.replace(/,?node="[^"]*"/, '').replace('{}', '')).find((l) => l.startsWith(series + ' '))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** Every event of a topic, page by page. */
async function readAll (gw: TestGateway, topic: string): Promise<Array<{ id?: string, data?: unknown }>> {
  const out: Array<{ id?: string, data?: unknown }> = []
  for (let from = 0; ;) {
    const res = await gw.request<Replay<{ id?: string, data?: unknown }>>('GET', `/topics/${topic}/events?fromOffset=${from}&limit=1000`)
    if (res.status !== 200) throw new Error(`replay: ${res.status} ${res.text}`)
    for (const v of res.body.value) out.push(v.event)
    if (res.body.value.length === 0) return out
    from = res.body.nextOffset
  }
}

describe.skipIf(TEST_ENGINE === 'memory')('a gateway on redis while Redis is unreachable', () => {
  it('acknowledges nothing while Redis is down, says so, works again when it is back, and loses nothing it acknowledged', async () => {
    const redis: RedisServer = await startRedisServer()
    teardown(() => redis.stop())
    const lines: Array<{ level: number, msg: string }> = []
    const logTo = new Writable({
      write (chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as { level: number, msg: string })
        done()
      }
    })
    const prefix = `gg-unavailable-${process.pid}:`
    const config = { storage: { engine: 'redis' }, redis: { url: redis.url, keyPrefix: prefix } }
    const gw = await startTestGateway({ ...config, log: { level: 'info' } }, { logTo })
    teardown(gw.stop)
    expect((await gw.request('PUT', '/topics/orders')).status).toBe(201)
    const password = await registerDevice(gw, 'meter-1')
    const mqttUrl = gw.gateway.listeners.mqtt

    const http: Load = { acked: new Set(), refused: new Map(), noPuback: 0, connacks: new Map() }
    const mqtt: Load = { acked: new Set(), refused: new Map(), noPuback: 0, connacks: new Map() }
    const state = { running: true }

    // An Event Grid client: publishes one event after another; on a 503 it tries the next one
    // a little later (a real client waits Retry-After; 20 ms keeps the test short).
    const httpLoad = (async () => {
      for (let i = 0; state.running && i < 20_000; i++) {
        const id = `h-${i}`
        const res = await gw.publish<{ error?: { code: string } }>('orders', cloudEvent(id))
        if (res.status === 200) http.acked.add(id)
        else {
          count(http.refused, res.status === 503 ? res.body.error?.code ?? '503' : String(res.status))
          await pause(20)
        }
      }
    })()

    // A device: QoS 1, one message at a time; when its connection closes before the PUBACK it
    // connects again (refused with CONNACK 3 while Redis is down) and sends the same message.
    const mqttLoad = (async () => {
      let client: MqttClient | undefined
      let closed: Promise<'closed'> = new Promise(() => {})
      for (let i = 0; state.running && i < 20_000;) {
        if (client === undefined) {
          try {
            const c = client = await connectAsync(mqttUrl, { clientId: 'meter-1', username: 'meter-1', password, reconnectPeriod: 0, connectTimeout: 5000 })
            closed = new Promise((resolve) => { c.once('close', () => resolve('closed')) })
          } catch (err) {
            const code = (err as { code?: unknown }).code
            count(mqtt.connacks, typeof code === 'number' ? code : -1)
            await pause(20)
            continue
          }
        }
        const c = client
        const id = `m-${i}`
        const outcome = await Promise.race([c.publishAsync('devices/meter-1/telemetry', JSON.stringify({ id }), { qos: 1 }).then(() => 'acked' as const, () => 'closed' as const), closed])
        if (outcome === 'acked') {
          mqtt.acked.add(id)
          i++
        } else {
          mqtt.noPuback++
          client = undefined
          await c.endAsync(true).catch(() => {})
        }
      }
      await client?.endAsync(true)
    })()
    teardown(async () => { state.running = false; await Promise.allSettled([httpLoad, mqttLoad]) })

    const metrics = async (): Promise<string> => (await gw.request('GET', '/metrics')).text
    let outages = 0
    for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
      // Load before: both publishers are acknowledged.
      const before = { http: http.acked.size, mqtt: mqtt.acked.size }
      await until(() => http.acked.size >= before.http + 20 && mqtt.acked.size >= before.mqtt + 20, { timeoutMs: 30_000, what: 'acknowledged publishes before the outage' })

      // Counted from before the kill: a graceful shutdown (SIGTERM) closes the connections
      // before its process exits, so the device may lose its PUBACK while kill() still waits.
      const down = { refused: http.refused.get('STORAGE_UNAVAILABLE') ?? 0, noPuback: mqtt.noPuback, connack3: mqtt.connacks.get(3) ?? 0 }
      await redis.kill(signal)
      outages++
      await until(() => (http.refused.get('STORAGE_UNAVAILABLE') ?? 0) > down.refused + 5 && mqtt.noPuback > down.noPuback && (mqtt.connacks.get(3) ?? 0) > down.connack3,
        { timeoutMs: 30_000, what: `503 STORAGE_UNAVAILABLE, a publish without PUBACK and a CONNACK 3 after ${signal}` })

      // A publish is answered at once, not held until Redis is back.
      const started = performance.now()
      const refused = await gw.publish<{ error: { code: string, message: string } }>('orders', cloudEvent(`refused-${outages}`))
      expect(performance.now() - started).toBeLessThan(2000)
      expect(refused.status).toBe(503)
      expect(refused.body.error.code).toBe('STORAGE_UNAVAILABLE')
      expect(refused.headers.get('retry-after')).toBe('1')
      expect(await connackCode(mqttUrl, { clientId: 'meter-2', username: 'meter-1', password })).toBe(3)
      const ready = await gw.request<{ error: { code: string, message: string } }>('GET', '/readyz', { auth: null })
      expect(ready.status).toBe(503)
      expect(ready.body.error.code).toBe('STORAGE_UNAVAILABLE')
      expect(ready.body.error.message).toMatch(/^storage unavailable: Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unreachable/)
      expect((await gw.request('GET', '/healthz', { auth: null })).status).toBe(200)
      const text = await metrics()
      expect(metric(text, 'gridgate_storage_available')).toBe(0)
      expect(metric(text, 'gridgate_storage_unavailable_total')).toBe(outages)
      expect(metric(text, 'gridgate_rejections_total{code="STORAGE_UNAVAILABLE",source="http"}')).toBeGreaterThan(0)
      expect(metric(text, 'gridgate_rejections_total{code="STORAGE_UNAVAILABLE",source="mqtt"}')).toBeGreaterThan(0)

      await redis.restart()
      await until(async () => (await gw.request('GET', '/readyz', { auth: null })).status === 200, { timeoutMs: 30_000, what: '/readyz 200 after Redis is back' })
      const after = { http: http.acked.size, mqtt: mqtt.acked.size }
      await until(() => http.acked.size >= after.http + 20 && mqtt.acked.size >= after.mqtt + 20, { timeoutMs: 30_000, what: 'acknowledged publishes after Redis is back' })
      expect(metric(await metrics(), 'gridgate_storage_available')).toBe(1)
    }
    state.running = false
    await Promise.all([httpLoad, mqttLoad])

    // Nothing but 503 STORAGE_UNAVAILABLE was refused; one warning and one info line per outage.
    expect([...http.refused.keys()]).toEqual(['STORAGE_UNAVAILABLE'])
    expect([...mqtt.connacks.keys()]).toEqual([3])
    expect(lines.filter((l) => l.msg.startsWith('storage unavailable')).map((l) => l.level)).toEqual([40, 40])
    expect(lines.filter((l) => l.msg === 'storage available again').map((l) => l.level)).toEqual([30, 30])

    // Read back by a fresh gateway on the same Redis: every acknowledged event is there.
    const reader = await startTestGateway(config)
    teardown(reader.stop)
    const orders = new Set((await readAll(reader, 'orders')).map((e) => e.id))
    const telemetry = new Set((await readAll(reader, 'telemetry')).map((e) => (e.data as { id?: string } | undefined)?.id))
    expect([...http.acked].filter((id) => !orders.has(id))).toEqual([])
    expect([...mqtt.acked].filter((id) => !telemetry.has(id))).toEqual([])
    expect(http.acked.size).toBeGreaterThan(80)
    expect(mqtt.acked.size).toBeGreaterThan(80)
  }, 180_000)
})
