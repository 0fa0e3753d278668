import { createRequire } from 'node:module'
import type { Readable } from 'node:stream'
import { TopicMatchCache } from '../../core/match-cache.js'
import { nothingQueued } from '../../core/nothing-queued.js'
import type { BinarySublevel } from './db.js'

// aedes' session persistence on the embedded store: aedes-persistence-level, told which clients
// have anything stored. aedes asks the persistence about every client that connects or goes
// (its subscriptions to clean, its queued messages, its will, its QoS 2 packets), and
// aedes-persistence-level answers each question with a LevelDB read or iterator, made on the
// calling thread: when 5,000 devices with clean sessions came back at once that was about a
// fifth of the ingest thread's time, for reads that found nothing. So the client ids that have
// stored state are kept in memory (read from the keys at start, added by every write that
// stores something for a client), and a client outside that set gets its empty answer at once.
// A client stays in the set once it is there (its answers then come from LevelDB as before).

const requireHere = createRequire(import.meta.url)
const requireLevel = createRequire(requireHere.resolve('aedes-persistence-level'))

interface Client { id: string }
interface Sub { clientId: string }

/** aedes-persistence-level's asynchronous class (asyncPersistence.js), as far as it is overridden here. */
interface AsyncPersistence {
  setup (broker: unknown): Promise<void>
  addSubscriptions (client: Client, subs: unknown[]): Promise<void>
  removeSubscriptions (client: Client, topics: string[]): Promise<void>
  outgoingEnqueueCombi (subs: Sub[], packet: unknown): Promise<void>
  subscriptionsByTopic (topic: string): Promise<unknown[]>
  subscriptionsByClient (client: Client): Promise<unknown[]>
  cleanSubscriptions (client: Client): Promise<void>
  outgoingEnqueue (sub: Sub, packet: unknown): Promise<void>
  outgoingUpdate (client: Client, packet: unknown): Promise<void>
  outgoingClearMessageId (client: Client, packet: unknown): Promise<unknown>
  outgoingStream (client: Client): Readable
  incomingStorePacket (client: Client, packet: unknown): Promise<void>
  incomingGetPacket (client: Client, packet: unknown): Promise<unknown>
  incomingDelPacket (client: Client, packet: unknown): Promise<void>
  cleanIncoming (client: Client): Promise<void>
  putWill (client: Client, packet: unknown): Promise<void>
  getWill (client: Client): Promise<unknown>
  delWill (client: Client): Promise<unknown>
}
type AsyncPersistenceClass = new (db: BinarySublevel) => AsyncPersistence

const AsyncLevelPersistence = requireLevel('./asyncPersistence.js') as AsyncPersistenceClass
const { CallBackPersistence } = requireLevel('aedes-persistence/callBackPersistence.js') as {
  CallBackPersistence: new (factory: () => AsyncPersistence) => CallbackSide
}
interface CallbackSide {
  asyncPersistence: AsyncPersistence
  outgoingStream (client: Client): Readable
}

/** aedes-persistence-level's key prefixes that name a client: `{prefix}{encodeURIComponent(id)}` then ':' or the end. */
export const CLIENT_PREFIXES = ['subscriptions:', 'outgoing:', 'outgoing-id:', 'incoming:', 'will:'] as const

/** The client id a key of aedes-persistence-level names, or undefined for keys that name none (retained messages). */
export function clientOfKey (key: string): string | undefined {
  for (const prefix of CLIENT_PREFIXES) {
    if (!key.startsWith(prefix)) continue
    const end = key.indexOf(':', prefix.length)
    try {
      return decodeURIComponent(key.slice(prefix.length, end === -1 ? undefined : end))
    } catch {
      return undefined
    }
  }
  return undefined
}

const NO_SUCH_PACKET = 'no such packet' // aedes-persistence-level's own message
const NOTHING_TO_DO = Promise.resolve()

class IndexedLevelPersistence extends AsyncLevelPersistence {
  /** Clients that have, or had, something stored. */
  private readonly stored = new Set<string>()
  /**
   * aedes asks for the offline sessions subscribed to the topic of every QoS 1 publish;
   * the trie changes only in addSubscriptions and removeSubscriptions (synchronously, before
   * their write), which forget every answer first.
   */
  private readonly byTopic = new TopicMatchCache<Promise<unknown[]>>()

  constructor (private readonly db: BinarySublevel) {
    super(db)
  }

  override async setup (broker: unknown): Promise<void> {
    await super.setup(broker)
    for (const prefix of CLIENT_PREFIXES) {
      // The range of aedes-persistence-level's prefixRange: ':' swapped for the next byte.
      for await (const key of this.db.keys({ gte: prefix, lt: `${prefix.slice(0, -1)};` })) {
        const id = clientOfKey(key)
        if (id !== undefined) this.stored.add(id)
      }
    }
  }

  override async addSubscriptions (client: Client, subs: unknown[]): Promise<void> {
    this.stored.add(client.id)
    this.byTopic.forget()
    await super.addSubscriptions(client, subs)
  }

  override async removeSubscriptions (client: Client, topics: string[]): Promise<void> {
    this.byTopic.forget()
    await super.removeSubscriptions(client, topics)
  }

  // Every QoS 1 publish passes its offline subscribers here, almost always none.
  override outgoingEnqueueCombi (subs: Sub[], packet: unknown): Promise<void> {
    return subs.length === 0 ? NOTHING_TO_DO : super.outgoingEnqueueCombi(subs, packet)
  }

  // The settled promise itself is kept: awaiting it again gives the same (never mutated) array.
  override subscriptionsByTopic (topic: string): Promise<unknown[]> {
    return this.byTopic.get(topic, (t) => super.subscriptionsByTopic(t))
  }

  override async subscriptionsByClient (client: Client): Promise<unknown[]> {
    return this.stored.has(client.id) ? await super.subscriptionsByClient(client) : []
  }

  override async cleanSubscriptions (client: Client): Promise<void> {
    if (this.stored.has(client.id)) await super.cleanSubscriptions(client)
  }

  // outgoingEnqueueCombi enqueues through this method.
  override async outgoingEnqueue (sub: Sub, packet: unknown): Promise<void> {
    this.stored.add(sub.clientId)
    await super.outgoingEnqueue(sub, packet)
  }

  override async outgoingUpdate (client: Client, packet: unknown): Promise<void> {
    this.stored.add(client.id)
    await super.outgoingUpdate(client, packet)
  }

  override async outgoingClearMessageId (client: Client, packet: unknown): Promise<unknown> {
    return this.stored.has(client.id) ? await super.outgoingClearMessageId(client, packet) : undefined
  }

  /** Whether the client has, or had, something stored. */
  hasStored (id: string): boolean {
    return this.stored.has(id)
  }

  override async incomingStorePacket (client: Client, packet: unknown): Promise<void> {
    this.stored.add(client.id)
    await super.incomingStorePacket(client, packet)
  }

  override async incomingGetPacket (client: Client, packet: unknown): Promise<unknown> {
    if (!this.stored.has(client.id)) throw new Error(NO_SUCH_PACKET)
    return await super.incomingGetPacket(client, packet)
  }

  override async incomingDelPacket (client: Client, packet: unknown): Promise<void> {
    if (this.stored.has(client.id)) await super.incomingDelPacket(client, packet)
  }

  override async cleanIncoming (client: Client): Promise<void> {
    if (this.stored.has(client.id)) await super.cleanIncoming(client)
  }

  override async putWill (client: Client, packet: unknown): Promise<void> {
    this.stored.add(client.id)
    await super.putWill(client, packet)
  }

  override async getWill (client: Client): Promise<unknown> {
    return this.stored.has(client.id) ? await super.getWill(client) : undefined
  }

  override async delWill (client: Client): Promise<unknown> {
    return this.stored.has(client.id) ? await super.delWill(client) : undefined
  }
}

/**
 * aedes' view of the persistence: aedes-persistence's callback interface, whose outgoingStream
 * wraps the async one's stream in another (Readable.from). For a client with nothing stored it
 * returns a nothing-queued stream itself, unwrapped, so that aedes' CONNECT skips its pipeline
 * (broker/empty-queue.ts).
 */
class IndexedCallbackPersistence extends CallBackPersistence {
  override outgoingStream (client: Client): Readable {
    return (this.asyncPersistence as IndexedLevelPersistence).hasStored(client.id) ? super.outgoingStream(client) : nothingQueued()
  }
}

/** The aedes persistence (aedes-persistence's callback interface) over this sublevel. */
export function levelMqttPersistence (db: BinarySublevel): unknown {
  return new IndexedCallbackPersistence(() => new IndexedLevelPersistence(db))
}
