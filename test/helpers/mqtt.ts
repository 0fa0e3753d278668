import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt'
import type { RegisteredDevice } from './api.js'
import type { Client } from './http.js'
import { within } from './wait.js'

/** Registers a device over HTTP and returns its one-time password. */
export async function registerDevice (gw: Client, id: string, attributes?: Record<string, string>): Promise<string> {
  const res = await gw.request<RegisteredDevice>('PUT', `/devices/${encodeURIComponent(id)}`, attributes === undefined ? {} : { body: { attributes } })
  if (res.status !== 201) throw new Error(`registering ${id}: ${res.status} ${res.text}`)
  return res.body.password
}

/** Connects a real mqtt.js client; no reconnects, so a refused or closed connection is final. */
export async function connectDevice (url: string, id: string, password: string | undefined, opts: IClientOptions = {}): Promise<MqttClient> {
  return await connectAsync(url, { clientId: id, username: password === undefined ? undefined : id, password, reconnectPeriod: 0, connectTimeout: 10_000, ...opts })
}

/** Resolves with the CONNACK return code of a refused connection (or 0 when accepted). */
export async function connackCode (url: string, opts: IClientOptions): Promise<number> {
  try {
    const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, ...opts })
    await c.endAsync(true)
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? -1
  }
}

/** The SUBACK return code for one filter (128 = refused); mqtt.js turns 128 into an error. */
export async function subackCode (client: MqttClient, filter: string): Promise<number> {
  try {
    const granted = await client.subscribeAsync(filter, { qos: 1 })
    return granted[0]?.qos ?? -1
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet
    if (packet?.granted?.[0] === undefined) throw err
    return packet.granted[0]
  }
}

/** How long whenClosed and nextMessage wait by default. */
const MQTT_WAIT_MS = 10_000

/** Resolves when the client's connection closes; WaitTimeout when it is still open after `timeoutMs`. */
export async function whenClosed (client: MqttClient, timeoutMs = MQTT_WAIT_MS): Promise<void> {
  const closed = new Promise<void>((resolve) => { client.once('close', () => resolve()) })
  await within(closed, { timeoutMs, what: `the connection of ${client.options.clientId ?? 'the client'} to close` })
}

/** Resolves with the next message the client receives; WaitTimeout when none comes within `timeoutMs`. */
export async function nextMessage (client: MqttClient, timeoutMs = MQTT_WAIT_MS): Promise<{ topic: string, payload: Buffer, retain: boolean }> {
  const next = new Promise<{ topic: string, payload: Buffer, retain: boolean }>((resolve) => {
    client.once('message', (topic, payload, packet) => resolve({ topic, payload, retain: packet.retain }))
  })
  return await within(next, { timeoutMs, what: `a message to ${client.options.clientId ?? 'the client'}` })
}
