import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeDevCerts, type CertPaths } from '../../src/certs.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connackOf, connectPacket, rawConnection, type ConnectFields } from '../helpers/mqtt-bytes.js'
import { connectDevice, registerDevice, whenClosed } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until, within } from '../helpers/wait.js'

// Zero-length client ids, MQTT 3.1.1 §3.1.3.1 [MQTT-3.1.3-6..9], with the exact CONNECT bytes
// on a raw socket and the CONNACK's bytes checked: clean session 0 → 0x02 and closed; clean
// session 1 → accepted, the client's authentication name as its id (anonymous: a unique one).

const teardown = useTeardown()

interface SystemEvent { type: string, subject: string, deviceid: string }

async function systemEvents (gw: TestGateway): Promise<SystemEvent[]> {
  return ((await gw.request('GET', '/topics/system/events?limit=1000')).body as { value: Array<{ event: SystemEvent }> }).value.map((r) => r.event)
}

async function rejections (gw: TestGateway): Promise<number> {
  const text = (await gw.request('GET', '/metrics')).text
  return Number(/gridgate_rejections_total\{code="MQTT_CLIENT_ID_REJECTED",source="mqtt"\} (\d+)/.exec(text)?.[1] ?? 0)
}

/** Sends one CONNECT on a fresh socket; the CONNACK's four bytes and whether the server then closed it. */
async function connectRaw (gw: TestGateway, fields: ConnectFields) {
  const raw = await rawConnection(gw.gateway.listeners.mqtt)
  teardown(() => raw.socket.destroy())
  raw.socket.write(connectPacket(fields))
  const connack = await connackOf(raw)
  return { ...connack, raw }
}

describe('zero-length client ids', () => {
  it('answers clean session 0 with an empty id with CONNACK 0x02 and closes the connection [MQTT-3.1.3-8]', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-z')
    const { bytes, raw } = await connectRaw(gw, { clientId: '', clean: false, username: 'dev-z', password })
    expect(bytes).toEqual([0x20, 0x02, 0x00, 0x02])
    await within(raw.closed, { timeoutMs: 5_000, what: 'the server to close the connection after CONNACK 0x02' })
    expect(raw.received()).toHaveLength(4) // nothing after the CONNACK
    expect(await rejections(gw)).toBe(1)
    expect(await systemEvents(gw)).toEqual([])
  })

  it('refuses an empty id with clean session 0 from an anonymous client too, when anonymous clients are allowed', async () => {
    const gw = await startTestGateway({ mqtt: { allowAnonymous: true } })
    teardown(gw.stop)
    const { bytes, raw } = await connectRaw(gw, { clientId: '', clean: false })
    expect(bytes).toEqual([0x20, 0x02, 0x00, 0x02])
    await within(raw.closed, { timeoutMs: 5_000, what: 'the server to close the connection' })
  })

  it('refuses an empty id from an MQTT 3.1 client (1 to 23 characters required there), whatever the clean flag', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-z')
    const { bytes, raw } = await connectRaw(gw, { clientId: '', clean: true, username: 'dev-z', password, protocolLevel: 3 })
    expect(bytes).toEqual([0x20, 0x02, 0x00, 0x02])
    await within(raw.closed, { timeoutMs: 5_000, what: 'the server to close the connection' })
  })

  it('accepts clean session 1 with an empty id and gives the device its username as id [MQTT-3.1.3-6, -7]', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const password = await registerDevice(gw, 'dev-z')
    const { bytes, raw } = await connectRaw(gw, { clientId: '', clean: true, username: 'dev-z', password })
    expect(bytes).toEqual([0x20, 0x02, 0x00, 0x00])
    await until(async () => ((await gw.request('GET', '/devices/dev-z')).body as { connected: boolean }).connected, { timeoutMs: 5_000, what: 'dev-z to show connected' })
    await until(async () => (await systemEvents(gw)).length > 0, { timeoutMs: 5_000, what: 'device.connected' })
    expect((await systemEvents(gw)).map((e) => [e.type, e.subject])).toEqual([['device.connected', 'devices/dev-z']])

    // It is dev-z: its own permissions apply (a QoS 1 publish on its telemetry topic is
    // PUBACKed and logged), and a connection with the id dev-z takes it over.
    const publish = Buffer.from([0x32, 0x1f, 0x00, 0x17, ...Buffer.from('devices/dev-z/telemetry'), 0x00, 0x01, ...Buffer.from('{"t":1}').subarray(0, 4)])
    raw.socket.write(publish)
    await until(() => raw.received().length >= 8, { timeoutMs: 5_000, what: 'a PUBACK' })
    expect([...raw.received().subarray(4, 8)]).toEqual([0x40, 0x02, 0x00, 0x01])
    const other = await connectDevice(gw.gateway.listeners.mqtt, 'dev-z', password)
    teardown(() => other.endAsync(true))
    await within(raw.closed, { timeoutMs: 5_000, what: 'the empty-id connection to be taken over by dev-z' })
  })

  it('gives anonymous clients with an empty id and clean session 1 a unique id each', async () => {
    const gw = await startTestGateway({ mqtt: { allowAnonymous: true } })
    teardown(gw.stop)
    const a = await connectRaw(gw, { clientId: '', clean: true })
    const b = await connectRaw(gw, { clientId: '', clean: true })
    expect(a.bytes).toEqual([0x20, 0x02, 0x00, 0x00])
    expect(b.bytes).toEqual([0x20, 0x02, 0x00, 0x00])
    await until(async () => (await systemEvents(gw)).length === 2, { timeoutMs: 5_000, what: 'two device.connected events' })
    const ids = (await systemEvents(gw)).map((e) => e.deviceid)
    for (const id of ids) expect(id).toMatch(/^aedes_[0-9a-f-]{36}$/)
    expect(new Set(ids).size).toBe(2)
    // Both stay connected: neither took the other over.
    expect(a.raw.socket.destroyed || b.raw.socket.destroyed).toBe(false)
  })

  it('still refuses bad credentials with an empty id and clean session 1 as any other (CONNACK 4)', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    await registerDevice(gw, 'dev-z')
    const { bytes } = await connectRaw(gw, { clientId: '', clean: true, username: 'dev-z', password: 'wrong' })
    expect(bytes).toEqual([0x20, 0x02, 0x00, 0x04])
  })
})

describe('zero-length client ids with client certificates', () => {
  let certs: CertPaths
  let removeDir: () => Promise<void>
  beforeAll(async () => {
    const dir = await tempDir()
    removeDir = dir.remove
    certs = await makeDevCerts({ dir: dir.path, devices: ['dev-cert'] })
  })
  afterAll(async () => { await removeDir() })

  async function tlsOptions () {
    return {
      ca: await readFile(certs.caCert),
      servername: 'localhost',
      cert: await readFile(certs.devices['dev-cert']?.cert as string),
      key: await readFile(certs.devices['dev-cert']?.key as string)
    }
  }

  it('gives a certificate-authenticated client with an empty id its certificate CN as id, and refuses clean session 0', async () => {
    const gw = await startTestGateway({ mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert } } })
    teardown(gw.stop)
    await registerDevice(gw, 'dev-cert')
    const url = gw.gateway.listeners.mqtts as string
    const tls = await tlsOptions()
    // mqtt.js will not send this CONNECT: the bytes go on a raw TLS socket.
    const raw = await rawConnection(url, tls)
    teardown(() => raw.socket.destroy())
    raw.socket.write(connectPacket({ clientId: '', clean: false }))
    expect((await connackOf(raw)).bytes).toEqual([0x20, 0x02, 0x00, 0x02])
    await within(raw.closed, { timeoutMs: 5_000, what: 'the server to close the connection' })
    const c = await connectDevice(url, '', undefined, { ...tls, clean: true })
    teardown(() => c.endAsync(true))
    await until(async () => (await systemEvents(gw)).length === 1, { timeoutMs: 5_000, what: 'device.connected' })
    expect((await systemEvents(gw))[0]).toMatchObject({ type: 'device.connected', subject: 'devices/dev-cert' })
    await c.publishAsync('devices/dev-cert/telemetry', '{"t":1}', { qos: 1 }) // its own topic: PUBACKed
    const closed = whenClosed(c)
    c.publish('devices/other/telemetry', '{"t":1}', { qos: 1 }) // not its own: the connection closes
    await closed
  })
})
