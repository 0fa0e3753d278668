import { connect as mqttConnect, type MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { durableOnly, startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connackOf, connectPacket, rawConnection } from '../helpers/mqtt-bytes.js'
import { registerDevice, whenClosed } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { until, within } from '../helpers/wait.js'

// Presence under session takeover, with real sockets: the connected gauge, the registry's
// `connected` and the `system` topic's events must agree with the connections really open.

const teardown = useTeardown()

interface SystemEvent { type: string, subject: string, data: { transport?: string, disconnectionReason?: string } }
interface DeviceView { connected: boolean, lastSeen: string | null }

/**
 * Connects as the device; rejects when the gateway closes the connection before its CONNACK
 * (a takeover can: mqtt.js' connectAsync would wait for ever then).
 */
async function connectOrClosed (url: string, id: string, password: string): Promise<MqttClient> {
  const c = mqttConnect(url, { clientId: id, username: id, password, reconnectPeriod: 0, connectTimeout: 10_000 })
  const outcome = new Promise<MqttClient>((resolve, reject) => {
    c.once('connect', () => resolve(c))
    c.once('close', () => reject(new Error(`${id}: closed before CONNACK`)))
    c.once('error', reject)
  })
  return await within(outcome, { timeoutMs: 15_000, what: `a CONNACK or close for ${id}` })
}

async function connectedGauge (gw: TestGateway): Promise<number> {
  const text = (await gw.request('GET', '/metrics')).text
  const m = /^gridgate_mqtt_connected_clients (-?\d+)$/m.exec(text)
  if (m === null) throw new Error('gridgate_mqtt_connected_clients not in /metrics')
  return Number(m[1])
}

async function systemEvents (gw: TestGateway, deviceId: string): Promise<SystemEvent[]> {
  const res = await gw.request('GET', '/topics/system/events?limit=1000')
  const body = res.body as { value: Array<{ event: SystemEvent }> }
  return body.value.map((r) => r.event).filter((e) => e.subject === `devices/${deviceId}`)
}

async function connectedView (gw: TestGateway, id: string): Promise<boolean> {
  return ((await gw.request('GET', `/devices/${id}`)).body as DeviceView).connected
}

function alternates (events: SystemEvent[]): boolean {
  return events.every((e, i) => e.type === (i % 2 === 0 ? 'device.connected' : 'device.disconnected'))
}

/**
 * Waits until the gateway agrees with the sockets: `live` connections of the device open, the
 * gauge at `live`, GET /devices/{id} connected exactly when one is open, and the device's
 * system events alternating, ending with device.connected exactly when one is open.
 */
async function settled (gw: TestGateway, id: string, live: number): Promise<void> {
  let seen = ''
  const agrees = async (): Promise<boolean> => {
    const [gauge, connected, events] = [await connectedGauge(gw), await connectedView(gw, id), await systemEvents(gw, id)]
    seen = `gauge ${gauge}, connected ${String(connected)}, events ${events.map((e) => e.type.slice(7)).join(' ')}`
    return gauge === live && connected === (live === 1) && alternates(events) && events.length % 2 === live
  }
  try {
    await until(agrees, { timeoutMs: 10_000, what: `the gauge at ${live}, GET /devices/${id} connected ${String(live === 1)} and alternating events` })
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${seen}`)
  }
}

describe('presence under session takeover', () => {
  it('keeps the gauge, the registry and the system events in step through 30 takeovers ended by DISCONNECT, dropped sockets and races', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-p')
    const url = gw.gateway.listeners.mqtt
    const open = new Set<MqttClient>()
    teardown(async () => { for (const c of open) await c.endAsync(true) })
    const connect = async (): Promise<MqttClient> => {
      const c = await connectOrClosed(url, 'dev-p', password)
      open.add(c)
      c.once('close', () => open.delete(c))
      if (c.disconnected || !c.connected) open.delete(c)
      return c
    }

    let connects = 0
    for (let round = 0; round < 30; round++) {
      const first = await connect()
      connects++
      await settled(gw, 'dev-p', 1)
      const kind = round % 3
      if (kind === 0) {
        // A plain takeover: the gateway closes `first` when `second` connects ([MQTT-3.1.4-2]).
        await connect()
        connects++
      } else if (kind === 1) {
        // A burst: three connections of the same id at once, each taking over the one before.
        const burst = await Promise.allSettled([connect(), connect(), connect()])
        connects += burst.filter((r) => r.status === 'fulfilled').length
      } else {
        // A race: the old socket drops while the new connection of the same id is made.
        first.stream.destroy()
        await connect()
        connects++
      }
      await until(() => open.size <= 1, { timeoutMs: 10_000, what: 'the taken-over connections to close' })
      expect(open.size).toBe(1)
      await settled(gw, 'dev-p', 1)

      const [last] = [...open] as [MqttClient]
      const closed = whenClosed(last)
      if (round % 2 === 0) await last.endAsync() // DISCONNECT
      else last.stream.destroy() // a dropped socket, no DISCONNECT
      await closed
      await settled(gw, 'dev-p', 0)
    }

    expect(open.size).toBe(0)
    expect(await connectedGauge(gw)).toBe(0)
    expect(await connectedView(gw, 'dev-p')).toBe(false)
    const events = await systemEvents(gw, 'dev-p')
    // A connection taken over between its CONNACK and aedes' clientReady was never counted as
    // connected; every other one was, once.
    expect(events.length).toBeGreaterThanOrEqual(2 * 60)
    expect(events.length).toBeLessThanOrEqual(2 * connects)
    expect(alternates(events), events.map((e) => e.type).join(' ')).toBe(true)
    const reasons = events.filter((e) => e.type === 'device.disconnected').map((e) => e.data.disconnectionReason)
    expect(new Set(reasons)).toEqual(new Set(['SessionTakenOver', 'ConnectionLost', 'ClientInitiatedDisconnect']))
  })

  it('reports a keep-alive expiry once, as ConnectionLost, when the device falls silent', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-k')
    const raw = await rawConnection(gw.gateway.listeners.mqtt)
    teardown(() => raw.socket.destroy())
    raw.socket.write(connectPacket({ clientId: 'dev-k', clean: true, username: 'dev-k', password, keepaliveSeconds: 1 }))
    expect((await connackOf(raw)).returnCode).toBe(0)
    await settled(gw, 'dev-k', 1)
    await within(raw.closed, { timeoutMs: 5_000, what: 'aedes to close the silent connection (1.5 × keep-alive)' })
    await settled(gw, 'dev-k', 0)
    const events = await systemEvents(gw, 'dev-k')
    expect(events.map((e) => [e.type, e.data.disconnectionReason])).toEqual([['device.connected', undefined], ['device.disconnected', 'ConnectionLost']])
  })

  it('ends a deleted device\'s connection once, as ClientAuthenticationError, and closes its socket', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-r')
    const c = await connectOrClosed(gw.gateway.listeners.mqtt, 'dev-r', password)
    teardown(() => c.endAsync(true))
    await settled(gw, 'dev-r', 1)
    const closed = whenClosed(c)
    expect((await gw.request('DELETE', '/devices/dev-r')).status).toBe(204)
    await closed
    await until(async () => (await systemEvents(gw, 'dev-r')).length === 2 && await connectedGauge(gw) === 0, { timeoutMs: 10_000, what: 'device.disconnected and the gauge at 0' })
    const events = await systemEvents(gw, 'dev-r')
    expect(events.map((e) => [e.type, e.data.disconnectionReason])).toEqual([['device.connected', undefined], ['device.disconnected', 'ClientAuthenticationError']])
  })

  it.runIf(durableOnly)('records a connection open at shutdown as ended by the server, and nothing after', async () => {
    const gw = await startTestGateway()
    // Its stop removes the data directory, after the restarted gateway's (teardown runs last first).
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-s')
    const c = await connectOrClosed(gw.gateway.listeners.mqtt, 'dev-s', password)
    teardown(() => c.endAsync(true))
    await settled(gw, 'dev-s', 1)
    await gw.gateway.stop()
    const again = await startTestGateway({}, { dataDir: gw.dataDir })
    teardown(again.stop)
    const events = await systemEvents(again, 'dev-s')
    expect(events.map((e) => [e.type, e.data.disconnectionReason])).toEqual([['device.connected', undefined], ['device.disconnected', 'ServerInitiatedDisconnect']])
    expect(await connectedView(again, 'dev-s')).toBe(false)
  })

  it('takes 200 devices that connect at once, then ends each of them exactly once, as ConnectionLost, when they drop at once, whether their sockets close or only half-close, while publishes go on being acknowledged', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const url = gw.gateway.listeners.mqtt
    const ids = Array.from({ length: 200 }, (_, i) => `storm-${i}`)
    const passwords = await Promise.all(ids.map(async (id) => await registerDevice(gw, id)))
    const clients = await Promise.all(ids.map(async (id, i) => await connectOrClosed(url, id, passwords[i] as string)))
    teardown(async () => { for (const c of clients) c.end(true) })
    const publisherPassword = await registerDevice(gw, 'storm-publisher')
    const publisher = await connectOrClosed(url, 'storm-publisher', publisherPassword)
    teardown(() => publisher.endAsync(true))
    await until(async () => await connectedGauge(gw) === 201, { timeoutMs: 10_000, what: '201 connections counted' })
    // Half of the devices close their socket, the other half only end their side of it (a
    // FIN with the socket still open for reading): both are connections gone.
    clients.forEach((c, i) => { if (i % 2 === 0) c.stream.destroy(); else c.stream.end() })
    // publishAsync resolves at the PUBACK of a QoS 1 publish.
    const sent = await within(publisher.publishAsync('devices/storm-publisher/telemetry', JSON.stringify({ t: 1 }), { qos: 1 }), { timeoutMs: 10_000, what: 'the PUBACK of a publish sent during the teardown' })
    expect(sent?.cmd).toBe('publish')
    await until(async () => await connectedGauge(gw) === 1, { timeoutMs: 20_000, what: 'the gauge back at 1' })
    // The gauge follows the connections at once; each device.disconnected follows its registry write.
    let events: SystemEvent[] = []
    await until(async () => {
      const res = await gw.request('GET', '/topics/system/events?limit=1000')
      events = (res.body as { value: Array<{ event: SystemEvent }> }).value.map((r) => r.event)
      return events.filter((e) => e.type === 'device.disconnected').length >= ids.length
    }, { timeoutMs: 20_000, what: `${ids.length} device.disconnected events` })
    for (const id of ids) {
      const mine = events.filter((e) => e.subject === `devices/${id}`)
      expect(mine.map((e) => [e.type, e.data.disconnectionReason]), id).toEqual([['device.connected', undefined], ['device.disconnected', 'ConnectionLost']])
    }
    for (const id of ids.filter((_, i) => i % 20 === 0)) expect(await connectedView(gw, id), id).toBe(false)
  })

  it('takes a device\'s CONNECT at once while 150 sockets that sent nothing are open', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const url = gw.gateway.listeners.mqtt
    const silent = await Promise.all(Array.from({ length: 150 }, async () => await rawConnection(url)))
    teardown(() => { for (const r of silent) r.socket.destroy() })
    const password = await registerDevice(gw, 'dev-busy')
    const started = performance.now()
    const c = await connectOrClosed(url, 'dev-busy', password)
    teardown(() => c.endAsync(true))
    // The silent sockets are closed by the connect timeout (10 s); the device did not wait for it.
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(silent.every((r) => r.received().length === 0)).toBe(true)
  })
})
