import { Aedes, type Client } from 'aedes'
import type { Config } from '../config/schema.js'
import { EventEmitter } from 'node:events'
import { GridgateError } from '../core/errors.js'
import { topicMatches } from '../core/topic-match.js'
import type { Registry } from '../registry/devices.js'
import type { Authenticator } from './authenticate.js'
import { compilePermissions, type ClientPermissions } from './permissions.js'

// aedes with gridgate's hooks. aedes 1.2 writes the QoS 1 PUBACK *before* its `published`
// hook (lib/handlers/publish.js), and only authorizePublish runs ahead of it, so the durable
// append happens inside authorizePublish, through the injected onPublish port: broker/
// never imports ingest/. An error from that hook closes the connection, so it is used only
// for permission violations, oversized payloads and failed writes (no PUBACK then).

export interface DevicePublish {
  deviceId: string
  mqttTopic: string
  payload: Buffer
  qos: number
  retain: boolean
}

export interface BrokerPorts {
  /** Resolves once the message is durably handled; the PUBACK waits for it. */
  onPublish: (msg: DevicePublish) => Promise<void>
  onConnection: (deviceId: string, connected: boolean, details: { transport?: string, reason?: string }) => void
}

export interface BrokerObserver {
  /** A device publish handled, from the hook's entry to its answer (the PUBACK waits for this). */
  handled?: (seconds: number) => void
  /** A refused action, by gridgate error code. */
  refused: (code: 'MQTT_NOT_AUTHORIZED' | 'MQTT_BAD_CREDENTIALS' | 'PAYLOAD_TOO_LARGE' | 'MQTT_RETAINED_LIMIT' | 'STORAGE_WRITE_FAILED', deviceId: string, detail: string) => void
}

/** What the commands module needs of the broker. */
export interface CommandChannel {
  /** Publishes at QoS 1 to whoever subscribes; resolves when aedes has taken it. */
  publish: (topic: string, payload: Buffer) => Promise<void>
  /** True while the device is connected and subscribed to its commands topic. */
  isReady: (deviceId: string) => boolean
  onReady: (listener: (deviceId: string) => void) => void
  /** The device acknowledged (PUBACK) a message the gateway sent it. */
  onAcked: (listener: (deviceId: string, topic: string) => void) => void
}

export interface Broker {
  aedes: Aedes
  commands: CommandChannel
  /** Closes every connection of a device (e.g. when it is deleted). */
  disconnect: (deviceId: string) => void
  close: () => Promise<void>
}

interface Session {
  deviceId: string
  permissions: ClientPermissions
}

export interface BrokerOptions {
  config: Config['mqtt']
  registry: Registry
  authenticator: Authenticator
  ports: BrokerPorts
  observer: BrokerObserver
  /** aedes persistence (sessions, retained, queued messages); memory when absent. */
  persistence?: unknown
}

function transportOf (client: Client): string {
  const conn = client.conn as { encrypted?: boolean }
  if (client.req !== undefined) return client.req.socket && (client.req.socket as { encrypted?: boolean }).encrypted === true ? 'wss' : 'ws'
  return conn.encrypted === true ? 'tls' : 'tcp'
}

export async function createBroker (opts: BrokerOptions): Promise<Broker> {
  const { config, ports, observer } = opts
  const sessions = new WeakMap<Client, Session>()
  const wills = new WeakMap<Client, { topic: string } | undefined>()
  const live = new Map<string, number>() // device id -> open connections
  const ready = new Map<string, Set<Client>>() // device id -> connections subscribed to their commands
  const signals = new EventEmitter()
  // Distinct topics each device has a retained message on (since start): aedes keeps every
  // retained message, so without a cap one device could fill the store with topic after topic.
  const retained = new Map<string, Set<string>>()
  const retainedAllowed = (deviceId: string, topic: string, clearing: boolean): boolean => {
    if (config.maxRetainedPerDevice === 0) return true
    let set = retained.get(deviceId)
    if (clearing) { set?.delete(topic); return true }
    if (set === undefined) retained.set(deviceId, set = new Set())
    if (set.has(topic)) return true
    if (set.size >= config.maxRetainedPerDevice) return false
    set.add(topic)
    return true
  }
  // A probe topic: a filter that matches it covers the device's command topics.
  const commandsCovered = (deviceId: string, filter: string): boolean => topicMatches(filter, `devices/${deviceId}/commands/probe/probe`)
  const markReady = (client: Client, filters: Iterable<string>): void => {
    const s = sessions.get(client)
    if (s === undefined || client.closed) return
    for (const f of filters) {
      if (!commandsCovered(s.deviceId, f)) continue
      let set = ready.get(s.deviceId)
      if (set === undefined) ready.set(s.deviceId, set = new Set())
      if (set.has(client)) return // once per connection, however many filters cover it
      set.add(client)
      signals.emit('ready', s.deviceId)
      return
    }
  }

  const aedes = await Aedes.createBroker({
    persistence: opts.persistence,
    // Devices must say who they are soon after opening a socket (mqtt.connectTimeoutSeconds).
    connectTimeout: Math.round(config.connectTimeoutSeconds * 1000),
    // Incoming QoS 2 messages held until PUBREL, per connection; more closes the connection.
    maxInflightInbound: config.maxInflightQos2,
    // A subscriber that stops reading holds aedes' delivery slots until its socket drains;
    // past this it is disconnected (aedes' own default is 60 s).
    drainTimeout: Math.round(config.drainTimeoutSeconds * 1000),

    preConnect (client, packet, done) {
      wills.set(client, packet.will === undefined || packet.will === null ? undefined : { topic: packet.will.topic })
      done(null, true)
    },

    authenticate (client, username, password, done) {
      opts.authenticator.check(client, username, password).then((outcome) => {
        if (!outcome.ok) {
          observer.refused('MQTT_BAD_CREDENTIALS', client.id, outcome.reason)
          done(Object.assign(new Error(outcome.reason), { returnCode: outcome.returnCode }), null)
          return
        }
        const templates = outcome.anonymous ? config.anonymousPermissions : config.permissions
        const permissions = compilePermissions(templates, { id: outcome.deviceId, username, attributes: outcome.attributes })
        const will = wills.get(client)
        if (will !== undefined && !permissions.canPublish(will.topic)) {
          observer.refused('MQTT_NOT_AUTHORIZED', outcome.deviceId, `will on '${will.topic}'`)
          done(Object.assign(new Error('will topic not allowed'), { returnCode: 5 as const }), null)
          return
        }
        sessions.set(client, { deviceId: outcome.deviceId, permissions })
        done(null, true)
      }, (err: unknown) => {
        done(Object.assign(new Error((err as Error).message), { returnCode: 3 as const }), null)
      })
    },

    authorizePublish (client, packet, done) {
      let deviceId: string
      if (client === null) {
        // A will, published by the broker after its device went away; its topic was
        // checked against the device's permissions at connect.
        const levels = packet.topic.split('/')
        if (levels[0] !== 'devices' || levels[1] === undefined) { done(null); return }
        deviceId = levels[1]
      } else {
        const session = sessions.get(client)
        if (session === undefined) { done(new Error('not authenticated')); return }
        deviceId = session.deviceId
        if (packet.payload.length > config.maxPayloadBytes) {
          observer.refused('PAYLOAD_TOO_LARGE', deviceId, `${packet.payload.length} bytes on '${packet.topic}'`)
          done(new GridgateError('PAYLOAD_TOO_LARGE', `payload of ${packet.payload.length} bytes is over ${config.maxPayloadBytes}`))
          return
        }
        if (!session.permissions.canPublish(packet.topic)) {
          observer.refused('MQTT_NOT_AUTHORIZED', deviceId, `publish to '${packet.topic}'`)
          done(new GridgateError('MQTT_NOT_AUTHORIZED', `publish to '${packet.topic}' is not allowed`))
          return
        }
        if (packet.retain && !retainedAllowed(deviceId, packet.topic, packet.payload.length === 0)) {
          observer.refused('MQTT_RETAINED_LIMIT', deviceId, `retained on '${packet.topic}'`)
          done(new GridgateError('MQTT_RETAINED_LIMIT', `more than ${config.maxRetainedPerDevice} retained topics`))
          return
        }
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      const started = performance.now()
      ports.onPublish({ deviceId, mqttTopic: packet.topic, payload, qos: packet.qos, retain: packet.retain }).then(() => {
        observer.handled?.((performance.now() - started) / 1000)
        done(null)
      }, (err: unknown) => {
        observer.refused('STORAGE_WRITE_FAILED', deviceId, (err as Error).message)
        done(err as Error) // no PUBACK: the device retransmits after reconnecting
      })
    },

    authorizeSubscribe (client, subscription, done) {
      const session = sessions.get(client)
      if (session === undefined || !session.permissions.canSubscribe(subscription.topic)) {
        observer.refused('MQTT_NOT_AUTHORIZED', session?.deviceId ?? client.id, `subscribe to '${subscription.topic}'`)
        done(null, null) // SUBACK 0x80 for this filter; the connection stays
        return
      }
      done(null, subscription)
    }
  })

  aedes.on('subscribe', (subscriptions, client) => {
    // Refused filters arrive with qos 128 (SUBACK failure).
    markReady(client, subscriptions.filter((sub) => (sub.qos as number) !== 128).map((sub) => sub.topic))
  })
  // aedes reports which message a PUBACK settles only for persistent sessions: for a clean
  // session it keeps no outgoing record, and `packet` is undefined.
  aedes.on('ack', (packet: unknown, client) => {
    const s = client === null ? undefined : sessions.get(client)
    const topic = (packet as { topic?: unknown } | undefined)?.topic
    if (s !== undefined && typeof topic === 'string') signals.emit('acked', s.deviceId, topic)
  })

  aedes.on('clientReady', (client) => {
    const s = sessions.get(client)
    if (s === undefined) return
    // A persistent session comes back with its subscriptions already in place.
    markReady(client, Object.keys((client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions ?? {}))
    live.set(s.deviceId, (live.get(s.deviceId) ?? 0) + 1)
    opts.registry.setConnected(s.deviceId, true)
    ports.onConnection(s.deviceId, true, { transport: transportOf(client) })
  })
  aedes.on('clientDisconnect', (client) => {
    const s = sessions.get(client)
    if (s === undefined) return
    const r = ready.get(s.deviceId)
    r?.delete(client)
    if (r?.size === 0) ready.delete(s.deviceId)
    const n = (live.get(s.deviceId) ?? 1) - 1
    if (n > 0) live.set(s.deviceId, n)
    else live.delete(s.deviceId)
    opts.registry.setConnected(s.deviceId, n > 0)
    ports.onConnection(s.deviceId, false, { transport: transportOf(client) })
  })

  return {
    aedes,
    commands: {
      publish: (topic, payload) => new Promise<void>((resolve, reject) => {
        aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err?: Error) => { err === undefined || err === null ? resolve() : reject(err) })
      }),
      isReady: (deviceId) => (ready.get(deviceId)?.size ?? 0) > 0,
      onReady: (listener) => { signals.on('ready', listener) },
      onAcked: (listener) => { signals.on('acked', listener) }
    },
    disconnect: (deviceId) => {
      const clients = (aedes as unknown as { clients: Record<string, Client> }).clients
      for (const c of Object.values(clients)) {
        if (sessions.get(c)?.deviceId === deviceId) c.close()
      }
    },
    close: () => new Promise<void>((resolve) => { aedes.close(() => resolve()) })
  }
}
