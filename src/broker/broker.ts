import { Aedes, type Client } from 'aedes'
import type { Config } from '../config/schema.js'
import type { Registry } from '../registry/devices.js'
import { createAccessHooks, type Session } from './access-hooks.js'
import { registeredClients, subscribedFilters } from './aedes-internals.js'
import type { Authenticator } from './authenticate.js'
import { createCommandChannel, type CommandChannel } from './command-channel.js'
import type { BrokerObserver, BrokerPorts } from './ports.js'
import { createPresence } from './presence.js'
import { createRetainedCap } from './retained-cap.js'

// aedes with gridgate's parts plugged in: the access hooks (access-hooks.ts), the retained
// cap (retained-cap.ts), command readiness and acknowledgements (command-channel.ts) and
// presence (presence.ts). This file only wires aedes' options and events to them; aedes
// state without a public API is read through aedes-internals.ts.

export type { DevicePublish, BrokerPorts, BrokerObserver } from './ports.js'
export type { CommandChannel } from './command-channel.js'

export interface Broker {
  aedes: Aedes
  commands: CommandChannel
  /** Closes every connection of a device (e.g. when it is deleted). */
  disconnect: (deviceId: string) => void
  close: () => Promise<void>
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

export async function createBroker (opts: BrokerOptions): Promise<Broker> {
  const { config, ports } = opts
  const sessions = new WeakMap<Client, Session>()
  const presence = createPresence(opts.registry, ports.onConnection)

  const aedes = await Aedes.createBroker({
    persistence: opts.persistence,
    // Devices must say who they are soon after opening a socket (mqtt.connectTimeoutSeconds).
    connectTimeout: Math.round(config.connectTimeoutSeconds * 1000),
    // Incoming QoS 2 messages held until PUBREL, per connection; more closes the connection.
    maxInflightInbound: config.maxInflightQos2,
    // A subscriber that stops reading holds aedes' delivery slots until its socket drains;
    // past this it is disconnected (aedes' own default is 60 s).
    drainTimeout: Math.round(config.drainTimeoutSeconds * 1000),
    ...createAccessHooks({
      config,
      authenticator: opts.authenticator,
      onPublish: ports.onPublish,
      observer: opts.observer,
      sessions,
      retained: createRetainedCap(config.maxRetainedPerDevice)
    })
  })

  const commands = createCommandChannel((topic, payload) => new Promise<void>((resolve, reject) => {
    aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (err?: Error) => { err === undefined || err === null ? resolve() : reject(err) })
  }))
  const subscribed = (client: Client, filters: Iterable<string>): void => {
    const s = sessions.get(client)
    if (s === undefined || client.closed) return
    commands.subscribed(client, s.deviceId, filters)
  }

  aedes.on('subscribe', (subscriptions, client) => {
    // Refused filters arrive with qos 128 (SUBACK failure).
    subscribed(client, subscriptions.filter((sub) => (sub.qos as number) !== 128).map((sub) => sub.topic))
  })
  // aedes reports which message a PUBACK settles only for persistent sessions: for a clean
  // session it keeps no outgoing record, and `packet` is undefined.
  aedes.on('ack', (packet: unknown, client) => {
    const s = client === null ? undefined : sessions.get(client)
    const topic = (packet as { topic?: unknown } | undefined)?.topic
    if (s !== undefined && typeof topic === 'string') commands.acked(s.deviceId, topic)
  })

  aedes.on('clientReady', (client) => {
    const s = sessions.get(client)
    if (s === undefined) return
    // A persistent session comes back with its subscriptions already in place.
    subscribed(client, subscribedFilters(client))
    presence.opened(client, s.deviceId)
  })
  aedes.on('clientDisconnect', (client) => {
    const s = sessions.get(client)
    if (s === undefined) return
    commands.closed(client, s.deviceId)
    presence.closed(client, s.deviceId)
  })

  return {
    aedes,
    commands: commands.channel,
    disconnect: (deviceId) => {
      for (const c of registeredClients(aedes)) {
        if (sessions.get(c)?.deviceId === deviceId) c.close()
      }
    },
    close: () => new Promise<void>((resolve) => { aedes.close(() => resolve()) })
  }
}
