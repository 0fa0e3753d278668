import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import { isValidFilter, topicMatches } from '../core/topic-match.js'

// Retained messages for operators: list them by topic filter and clear one, through aedes'
// persistence API (storeRetained, createRetainedStreamCombi), which aedes' in-memory
// persistence and aedes-persistence-level both implement: whatever engine holds them, this
// reads and clears exactly what aedes delivers to new subscribers.
//
// aedes stores a retained message as the PUBLISH packet (aedes-packet: topic, payload, qos,
// and the publisher's clientId when the packet carried one), with no time. stampRetained
// wraps the persistence's storeRetained so each stored message also carries the time the
// gateway received it (noted when authorizePublish let it through; aedes stores it only after
// the PUBACK) or, for the gateway's own, stored it. Both persistences keep every field of
// the packet (memory: a shallow copy; level: msgpack of the object), and aedes sends a
// retained message to a subscriber as a fresh packet of the known fields only
// (lib/handlers/subscribe.js), so the extra field never reaches the wire.

export interface RetainedMessage {
  topic: string
  /** Payload size. */
  bytes: number
  qos: number
  /** The MQTT client id that published it; null for the gateway's own ($SYS) or unknown ones. */
  clientId: string | null
  /** When the gateway received it (RFC 3339); null for messages stored before times were kept. */
  time: string | null
}

export interface RetainedMessages {
  /** The retained messages whose topics match `filter` (MQTT rules, `$` topics only by explicit filters), by topic, at most `limit`. */
  list: (filter: string, limit: number) => Promise<RetainedMessage[]>
  /** Clears the retained message on `topic` without sending anything to subscribers; the cleared message, or undefined when there was none. */
  clear: (topic: string) => Promise<RetainedMessage | undefined>
}

/** The part of an aedes persistence used here (aedes-persistence's documented interface). */
interface RetainedStore {
  storeRetained: (packet: StoredPacket) => Promise<void>
  createRetainedStreamCombi: (patterns: string[]) => AsyncIterable<StoredPacket>
}

interface StoredPacket {
  cmd?: string
  topic: string
  payload: Buffer | Uint8Array | string
  qos?: number
  retain?: boolean
  clientId?: string
  /** Set by stampRetained: milliseconds since the epoch. */
  storedAt?: number
}

function asStore (persistence: unknown): RetainedStore {
  const p = persistence as Partial<RetainedStore> | undefined
  if (typeof p?.storeRetained !== 'function' || typeof p.createRetainedStreamCombi !== 'function') {
    throw new Error('the aedes persistence has no storeRetained/createRetainedStreamCombi')
  }
  return p as RetainedStore
}

export interface RetainedStamps {
  /** A retained publish on `topic` was received at `at` and let through; aedes stores it next. */
  received: (topic: string, at: number) => void
}

/**
 * Makes the persistence stamp every retained message it stores with the time it was
 * received (or, when none was noted, stored). One noted time per topic: the publish aedes
 * stores next on that topic is the one noted last.
 */
export function stampRetained (persistence: unknown, clock: Clock): RetainedStamps {
  const store = asStore(persistence)
  const original = store.storeRetained.bind(store)
  const noted = new Map<string, number>()
  store.storeRetained = async (packet) => {
    const at = noted.get(packet.topic) ?? clock.now()
    noted.delete(packet.topic)
    // An empty payload deletes; anything else is stored as given, plus the time.
    await original(packet.payload.length === 0 ? packet : { ...packet, storedAt: at })
  }
  return { received: (topic, at) => { noted.set(topic, at) } }
}

function describe (p: StoredPacket): RetainedMessage {
  const bytes = typeof p.payload === 'string' ? Buffer.byteLength(p.payload) : p.payload.length
  return {
    topic: p.topic,
    bytes,
    qos: p.qos ?? 0,
    clientId: typeof p.clientId === 'string' ? p.clientId : null,
    time: typeof p.storedAt === 'number' ? new Date(p.storedAt).toISOString() : null
  }
}

/** A valid MQTT topic name to clear: no wildcards, no U+0000, not empty. */
export function assertTopicName (topic: string): void {
  if (topic.length === 0 || topic.length > 65535 || /[+#\0]/.test(topic)) {
    throw new GridgateError('MQTT_TOPIC_INVALID', `'${topic.slice(0, 80)}' is not an MQTT topic name (non-empty, no '+', '#' or U+0000)`, { details: { topic: topic.slice(0, 80) } })
  }
}

export function assertTopicFilter (filter: string): void {
  if (!isValidFilter(filter) || filter.includes('\0')) {
    throw new GridgateError('MQTT_TOPIC_INVALID', `'${filter.slice(0, 80)}' is not an MQTT topic filter`, { details: { filter: filter.slice(0, 80) } })
  }
}

const byTopic = (a: RetainedMessage, b: RetainedMessage): number => a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0

export function createRetainedMessages (persistence: unknown, onCleared?: (message: RetainedMessage) => void): RetainedMessages {
  const store = asStore(persistence)
  return {
    async list (filter, limit) {
      assertTopicFilter(filter)
      // The smallest `limit` topics, without holding every match: sort and cut at 2 × limit.
      let found: RetainedMessage[] = []
      for await (const p of store.createRetainedStreamCombi([filter])) {
        // The persistences' matchers do not apply [MQTT-4.7.2-1] ('#' reaching '$SYS/...').
        if (!topicMatches(filter, p.topic)) continue
        found.push(describe(p))
        if (found.length >= 2 * limit) found = found.sort(byTopic).slice(0, limit)
      }
      return found.sort(byTopic).slice(0, limit)
    },
    async clear (topic) {
      assertTopicName(topic)
      let existing: RetainedMessage | undefined
      for await (const p of store.createRetainedStreamCombi([topic])) {
        if (p.topic === topic) existing = describe(p)
      }
      if (existing === undefined) return undefined
      await store.storeRetained({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 0, retain: true })
      onCleared?.(existing)
      return existing
    }
  }
}
