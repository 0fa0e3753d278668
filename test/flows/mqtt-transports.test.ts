import { readFile } from 'node:fs/promises'
import { beforeAll, describe, expect, it } from 'vitest'
import { makeDevCerts, type CertPaths } from '../../src/certs.js'
import type { Replay, Topic } from '../helpers/api.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connackCode, connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

const teardown = useTeardown()
let certs: CertPaths
let ca: Buffer
let removeCerts: () => Promise<void>

beforeAll(async () => {
  const dir = await tempDir()
  removeCerts = dir.remove
  certs = await makeDevCerts({ dir: dir.path, devices: ['dev-cert', 'stranger'] })
  ca = await readFile(certs.caCert)
  return async () => { await removeCerts() }
})

async function tlsGateway (): Promise<TestGateway> {
  const gw = await startTestGateway({ mqtt: { tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert } } })
  teardown(gw.stop)
  return gw
}

describe('the four MQTT transports', () => {
  it.each(['mqtt', 'ws', 'mqtts', 'wss'] as const)('a device publishes over %s and its CloudEvent is in the log', async (transport) => {
    const gw = await tlsGateway()
    const url = gw.gateway.listeners[transport] as string
    expect(url).toBeDefined()
    const password = await registerDevice(gw, `dev-${transport}`)
    const device = await connectDevice(url, `dev-${transport}`, password, { ca, servername: 'localhost' })
    teardown(() => device.endAsync(true))
    await device.publishAsync(`devices/dev-${transport}/telemetry`, JSON.stringify({ via: transport }), { qos: 1 })
    const [rec] = (await gw.request<Replay>('GET', '/topics/telemetry/events')).body.value
    expect(rec?.event).toMatchObject({ deviceid: `dev-${transport}`, data: { via: transport } })
    // device.connected is appended when aedes reports the client ready, which may come after the CONNACK.
    expect(await gw.gateway.log.waitForAppend('system', 0, 10_000)).toBe(true)
    const system = (await gw.request<Replay<{ transport: string }>>('GET', '/topics/system/events')).body.value
    expect(system[0]?.event.data.transport).toBe(transport === 'mqtts' ? 'tls' : transport === 'mqtt' ? 'tcp' : transport)
  })

  it('lists TLS listeners only when a certificate is configured', async () => {
    const plain = await startTestGateway()
    teardown(plain.stop)
    expect(Object.keys(plain.gateway.listeners).sort()).toEqual(['http', 'mqtt', 'ws'])
    const tls = await tlsGateway()
    expect(Object.keys(tls.gateway.listeners).sort()).toEqual(['http', 'mqtt', 'mqtts', 'ws', 'wss'])
  })
})

describe('client certificates', () => {
  it.each(['mqtts', 'wss'] as const)('authenticate a registered device whose CN is its client id over %s', async (transport) => {
    const gw = await tlsGateway()
    await registerDevice(gw, 'dev-cert')
    const device = await connectDevice(gw.gateway.listeners[transport] as string, 'dev-cert', undefined, {
      ca, servername: 'localhost', cert: await readFile(certs.devices['dev-cert']?.cert as string), key: await readFile(certs.devices['dev-cert']?.key as string)
    })
    teardown(() => device.endAsync(true))
    await device.publishAsync('devices/dev-cert/telemetry', '{"cert":true}', { qos: 1 })
    expect((await gw.request<Topic>('GET', '/topics/telemetry')).body.events).toBe(1)
  })

  it('refuses a certificate whose device is not registered, or whose CN is not the client id', async () => {
    const gw = await tlsGateway()
    await registerDevice(gw, 'dev-cert')
    const url = gw.gateway.listeners.mqtts as string
    const tls = { ca, servername: 'localhost', cert: await readFile(certs.devices.stranger?.cert as string), key: await readFile(certs.devices.stranger?.key as string) }
    expect(await connackCode(url, { clientId: 'stranger', ...tls })).toBe(4)
    const own = { ca, servername: 'localhost', cert: await readFile(certs.devices['dev-cert']?.cert as string), key: await readFile(certs.devices['dev-cert']?.key as string) }
    expect(await connackCode(url, { clientId: 'someone-else', ...own })).toBe(4)
  })
})
