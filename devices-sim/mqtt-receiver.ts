import { connect, type MqttClient } from 'mqtt'
import { describeNetworkError, SimError } from './errors.js'
import type { ReceivedEvent } from './receiver.js'

// The measuring end under --broker-only --subscribe: one more MQTT client subscribed to
// devices/+/telemetry on the broker under test, handing this run's messages to the same
// meter the pull subscription feeds (so loss, duplicates and delivery latency are counted
// the same way). Messages of other runs and other publishers are left out by the run id in
// the payload.

export const TELEMETRY_FILTER = 'devices/+/telemetry'

export interface MqttReceiverOptions {
  url: string
  clientId: string
  username?: string
  password?: string
  ca?: string
  qos: 0 | 1
  runId: string
}

/** The device id of `devices/{id}/telemetry` and the payload as a delivered event, or undefined when it is not one of this run's. */
export function telemetryEvent (topic: string, payload: Buffer | string, runId: string): ReceivedEvent | undefined {
  const parts = topic.split('/')
  if (parts.length !== 3 || parts[0] !== 'devices' || parts[2] !== 'telemetry') return undefined
  let data: { seq?: unknown, sentAt?: unknown, run?: unknown }
  try { data = JSON.parse(payload.toString()) } catch { return undefined }
  if (typeof data !== 'object' || data === null || data.run !== runId) return undefined
  return { event: { deviceid: parts[1], data } }
}

export class MqttReceiver {
  /** Same counters as the pull receiver's (an MQTT subscriber has nothing to acknowledge by hand). */
  receiveErrors = 0
  readonly ackErrors = 0
  private client: MqttClient | undefined

  constructor (
    private readonly opts: MqttReceiverOptions,
    private readonly onBatch: (events: ReceivedEvent[]) => void,
    private readonly onError: (message: string) => void
  ) {}

  /** Connects and subscribes; a refused CONNECT or SUBSCRIBE ends the run before any device connects. */
  async create (): Promise<void> {
    const o = this.opts
    const client = this.client = connect(o.url, {
      clientId: o.clientId,
      ...(o.username === undefined ? {} : { username: o.username }),
      ...(o.password === undefined ? {} : { password: o.password }),
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...(o.ca === undefined ? {} : { ca: o.ca, rejectUnauthorized: true })
    })
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        client.end(true)
        reject(new SimError('SUBSCRIPTION_FAILED', `the --subscribe client could not connect to ${o.url}: ${typeof (err as { code?: unknown }).code === 'number' ? err.message : describeNetworkError(err)}`))
      }
      client.once('error', fail)
      client.once('connect', () => {
        client.subscribe(TELEMETRY_FILTER, { qos: o.qos }, (err, granted) => {
          client.removeListener('error', fail)
          if (err !== null && err !== undefined) fail(err)
          else if (granted?.[0]?.qos === 128) fail(new Error(`the broker refused the subscription to ${TELEMETRY_FILTER} (SUBACK 0x80)`))
          else resolve()
        })
      })
    })
    client.on('message', (topic, payload) => {
      const e = telemetryEvent(topic, payload, o.runId)
      if (e !== undefined) this.onBatch([e])
    })
    client.on('error', (err) => { this.receiveErrors++; this.onError(`subscriber: ${describeNetworkError(err)}`) })
    client.on('offline', () => { this.receiveErrors++; this.onError('subscriber: connection lost') })
  }

  /** Messages arrive from create() on: nothing to start. */
  start (_loops: number): void {}

  async stop (): Promise<void> {
    const client = this.client
    this.client = undefined
    if (client === undefined) return
    client.removeAllListeners('offline')
    client.removeAllListeners('error')
    client.on('error', () => {})
    await new Promise<void>((resolve) => { client.end(true, {}, () => resolve()) })
  }
}
