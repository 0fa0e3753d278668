import { readFileSync } from 'node:fs'
import type { Clock, TimerHandle } from '../core/clock.js'

// $SYS statistics in Mosquitto's layout (mosquitto(8), "Broker status"): every
// mqtt.sysIntervalSeconds the broker publishes its counters under $SYS/broker/..., retained
// and at QoS 0 as Mosquitto does, so a client that subscribes gets the current values at
// once. As in Mosquitto, a topic is published again only when its value changed (uptime
// always changes), and the static version topic only once per start. Only clients with a
// subscribe grant on these topics see them (none by default; [MQTT-4.7.2-1]: '#' and '+/...'
// never reach '$' topics).
//
// aedes publishes its own `$SYS/{brokerId}/...` topics (heartbeat, new/clients,
// disconnect/clients, new/subscribes: the latter three name every client and its
// subscriptions); broker.ts does not forward those to any client.

export const SYS_PREFIX = '$SYS/broker/'

export interface SysStats {
  version: string
  uptimeSeconds: number
  /** Live (authenticated, CONNACKed) connections now. */
  clientsConnected: number
  /** The most live connections at any time since start. */
  clientsMaximum: number
  /** MQTT packets of any type, and bytes, since start (traffic.ts). */
  messagesReceived: number
  messagesSent: number
  publishReceived: number
  publishSent: number
  bytesReceived: number
  bytesSent: number
  /** The JS heap in use now, and the most seen at an update. */
  heapCurrent: number
  heapMaximum: number
}

export interface SysMessage {
  topic: string
  payload: string
}

/** Every $SYS topic with its payload, Mosquitto's formats: plain decimal text, uptime as "N seconds". */
export function sysValues (s: SysStats): Map<string, string> {
  return new Map<string, string>([
    ['version', `gridgate version ${s.version}`],
    ['uptime', `${Math.floor(s.uptimeSeconds)} seconds`],
    ['clients/connected', String(s.clientsConnected)],
    ['clients/maximum', String(s.clientsMaximum)],
    ['messages/received', String(s.messagesReceived)],
    ['messages/sent', String(s.messagesSent)],
    ['publish/messages/received', String(s.publishReceived)],
    ['publish/messages/sent', String(s.publishSent)],
    ['bytes/received', String(s.bytesReceived)],
    ['bytes/sent', String(s.bytesSent)],
    ['heap/current', String(s.heapCurrent)],
    ['heap/maximum', String(s.heapMaximum)]
  ].map(([name, value]) => [SYS_PREFIX + name, value] as [string, string]))
}

const STATIC = new Set([SYS_PREFIX + 'version'])

/**
 * Pure: the messages of one update. `previous` is what the last update published (undefined
 * for the first, which publishes everything); afterwards only changed values, never the static ones.
 */
export function sysUpdate (stats: SysStats, previous: ReadonlyMap<string, string> | undefined): { messages: SysMessage[], values: Map<string, string> } {
  const values = sysValues(stats)
  const messages: SysMessage[] = []
  for (const [topic, payload] of values) {
    if (previous !== undefined && (STATIC.has(topic) || previous.get(topic) === payload)) continue
    messages.push({ topic, payload })
  }
  return { messages, values }
}

export interface SysPublisher {
  stop: () => void
}

/** Publishes the first update now and the next every `intervalSeconds` on `clock`. */
export function startSysPublisher (opts: { clock: Clock, intervalSeconds: number, stats: () => SysStats, publish: (m: SysMessage) => void }): SysPublisher {
  let previous: Map<string, string> | undefined
  let timer: TimerHandle | undefined
  let stopped = false
  const tick = (): void => {
    if (stopped) return
    const { messages, values } = sysUpdate(opts.stats(), previous)
    previous = values
    for (const m of messages) opts.publish(m)
    timer = opts.clock.setTimer(opts.intervalSeconds * 1000, tick)
  }
  tick()
  return {
    stop: () => {
      stopped = true
      timer?.cancel()
    }
  }
}

let packageVersion: string | undefined
/** gridgate's version, from its package.json (src/ and dist/ both sit one level below it). */
export function gridgateVersion (): string {
  if (packageVersion === undefined) {
    try {
      packageVersion = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version
    } catch {
      packageVersion = 'unknown'
    }
  }
  return packageVersion
}
