import { EventEmitter } from 'node:events'
import { commandTopic } from '../core/device-topic.js'
import { topicMatches } from '../core/topic-match.js'

// The broker side of commands: which devices can be sent a command now (a connection of the
// device subscribed to its commands topic), and which sent messages the device acknowledged.
// Connections are opaque keys here; broker.ts feeds in aedes' events.

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

/** The channel plus the inputs broker.ts drives it with. */
export interface CommandChannelFeed {
  channel: CommandChannel
  /** A connection of the device holds these (granted) filters: new SUBSCRIBEs or a restored session's. */
  subscribed: (conn: object, deviceId: string, filters: Iterable<string>) => void
  /** A connection of the device closed. */
  closed: (conn: object, deviceId: string) => void
  /** The device acknowledged a message the gateway sent on `topic`. */
  acked: (deviceId: string, topic: string) => void
}

/** True when a subscription to `filter` receives `deviceId`'s commands (any name, any id). */
export function coversCommands (deviceId: string, filter: string): boolean {
  // A probe topic: a filter that matches it covers the device's command topics.
  return topicMatches(filter, commandTopic(deviceId, 'probe', 'probe'))
}

export function createCommandChannel (publish: CommandChannel['publish']): CommandChannelFeed {
  const ready = new Map<string, Set<object>>() // device id -> connections subscribed to their commands
  const signals = new EventEmitter()
  return {
    channel: {
      publish,
      isReady: (deviceId) => (ready.get(deviceId)?.size ?? 0) > 0,
      onReady: (listener) => { signals.on('ready', listener) },
      onAcked: (listener) => { signals.on('acked', listener) }
    },
    subscribed (conn, deviceId, filters) {
      for (const f of filters) {
        if (!coversCommands(deviceId, f)) continue
        let set = ready.get(deviceId)
        if (set === undefined) ready.set(deviceId, set = new Set())
        if (set.has(conn)) return // once per connection, however many filters cover it
        set.add(conn)
        signals.emit('ready', deviceId)
        return
      }
    },
    closed (conn, deviceId) {
      const r = ready.get(deviceId)
      r?.delete(conn)
      if (r?.size === 0) ready.delete(deviceId)
    },
    acked (deviceId, topic) {
      signals.emit('acked', deviceId, topic)
    }
  }
}
