import type { Aedes, Client } from 'aedes'
import { nextPacketId, onClientPacket } from './aedes-internals.js'
import { encodePublish } from './publish-packet.js'
import { parseSharedFilter, shareTopic, type Share, type SharedGroups } from './shared-groups.js'

// Delivery for shared subscriptions, on the node that holds the members' connections. aedes 1.2
// has no shared subscriptions (moscajs/aedes#228), so gridgate dispatches them itself:
// - authorizeSubscribe checks `$share/{group}/{filter}` against the permissions on the inner
//   filter and calls join(); aedes keeps the subscription under its literal `$share/...` name,
//   which no topic matches, so aedes delivers nothing on it and sends no retained messages for
//   it (MQTT 5 §4.8.2), and a persistent session brings it back through authorizeSubscribe.
// - Every message the broker publishes (its 'publish' event: after authorizePublish's durable
//   append and the PUBACK, which this never touches) goes, for each share whose filter matches
//   it, to one member in turn (SharedGroups.turn), skipping members whose window of
//   unacknowledged QoS 1 messages is full, whose socket is full, or whose subscribe denies
//   cover the topic. When no member can take it, it waits in the share's queue (oldest dropped
//   past maxQueued) until a PUBACK, a drained socket or a new member.
// - Messages go out at the lower of the message's and the member's QoS, as PUBLISH packets
//   written here, outside aedes' session state: their PUBACKs are read from the client's packets,
//   and when a member's connection closes, its unacknowledged QoS 1 messages go back to the
//   front of their share's queue for another member (not DUP: DUP is per connection).

export interface SharedSubscriptions {
  /** `client` subscribed to `share` (from authorizeSubscribe, after the permission check). */
  join: (client: Client, share: Share, qos: 0 | 1) => void
  /** Starts dispatching the broker's messages. */
  attach: (aedes: Aedes) => void
  /** Stops dispatching; the broker is closing. */
  close: () => void
}

export interface SharedSubscriptionsOptions {
  groups: SharedGroups
  /** This gateway process in SharedGroups. */
  node: string
  /** QoS 1 messages sent to one member and not yet acknowledged; a member with this many is skipped. */
  inflightWindow: number
  /** Messages one share holds while no member can take them; past it the oldest are dropped. */
  maxQueued: number
  /** Whether a message on `topic` may go to the client (its subscribe denies). */
  mayReceive: (client: Client, topic: string) => boolean
  /** Messages of a share that were dropped: its queue was full, or no member may receive them. */
  dropped?: (share: string, messages: number, reason: 'queue full' | 'no member') => void
  /** SharedGroups failed; the messages stay queued. */
  failed?: (err: unknown) => void
}

interface Message {
  topic: string
  payload: Buffer
  qos: 0 | 1
}

interface InFlight {
  share: Share
  message: Message
}

interface Connection {
  id: string
  client: Client
  /** Its shares, by `$share/...` topic. */
  shares: Map<string, Share>
  /** Sent QoS 1 messages by packet identifier, in the order they were sent. */
  inflight: Map<number, InFlight>
  congested: boolean
  stop: () => void
}

interface Queue {
  share: Share
  pending: Message[]
  pumping: boolean
}

export function createSharedSubscriptions (opts: SharedSubscriptionsOptions): SharedSubscriptions {
  const { groups, node } = opts
  const connections = new Map<string, Connection>()
  const byClient = new WeakMap<Client, Connection>()
  const queues = new Map<string, Queue>()
  let sequence = 0
  let closed = false

  const fail = (err: unknown): void => { opts.failed?.(err) }

  function queueOf (share: Share): Queue {
    const key = shareTopic(share)
    let q = queues.get(key)
    if (q === undefined) queues.set(key, q = { share, pending: [], pumping: false })
    return q
  }

  function connectionOf (client: Client): Connection {
    let conn = byClient.get(client)
    if (conn !== undefined) return conn
    const onClose = (): void => { gone(created) }
    const stopPackets = onClientPacket(client, (packet) => {
      if (packet.cmd === 'puback' && packet.messageId !== undefined) acked(created, packet.messageId)
    })
    client.conn.once('close', onClose)
    const created: Connection = {
      id: `${node}:${++sequence}`,
      client,
      shares: new Map(),
      inflight: new Map(),
      congested: false,
      stop: () => { stopPackets(); client.conn.removeListener('close', onClose) }
    }
    conn = created
    connections.set(conn.id, conn)
    byClient.set(client, conn)
    return conn
  }

  function pumpShares (conn: Connection): void {
    for (const key of conn.shares.keys()) {
      const q = queues.get(key)
      if (q !== undefined) void pump(q)
    }
  }

  function acked (conn: Connection, messageId: number): void {
    const f = conn.inflight.get(messageId)
    if (f === undefined) return // one of aedes' own deliveries
    conn.inflight.delete(messageId)
    const q = queues.get(shareTopic(f.share))
    if (q !== undefined) void pump(q)
    pumpShares(conn)
  }

  function gone (conn: Connection): void {
    if (connections.get(conn.id) !== conn) return
    connections.delete(conn.id)
    byClient.delete(conn.client)
    conn.stop()
    for (const share of conn.shares.values()) groups.leave(share, conn.id).catch(fail)
    // Unacknowledged QoS 1 messages go to another member, ahead of what waits, in sent order.
    const back = new Map<string, { share: Share, messages: Message[] }>()
    for (const f of conn.inflight.values()) {
      const key = shareTopic(f.share)
      let b = back.get(key)
      if (b === undefined) back.set(key, b = { share: f.share, messages: [] })
      b.messages.push(f.message)
    }
    conn.inflight.clear()
    if (closed) return
    for (const { share, messages } of back.values()) {
      const q = queueOf(share)
      q.pending.unshift(...messages)
      void pump(q)
    }
  }

  type Choice = { conn: Connection, qos: 0 | 1 } | 'busy' | 'nobody'

  function choose (members: Awaited<ReturnType<SharedGroups['turn']>>, message: Message): Choice {
    let live = false
    for (const m of members) {
      if (m.node !== node) continue // delivery to another node's members comes with the cluster
      const conn = connections.get(m.id)
      if (conn === undefined || conn.client.closed || !opts.mayReceive(conn.client, message.topic)) continue
      live = true
      // Not yet connected: a persistent session's share, restored before its CONNACK.
      if (!conn.client.connected || conn.congested) continue
      const qos: 0 | 1 = message.qos === 1 && m.qos === 1 ? 1 : 0
      if (qos === 1 && conn.inflight.size >= opts.inflightWindow) continue
      return { conn, qos }
    }
    return live ? 'busy' : 'nobody'
  }

  function send (conn: Connection, share: Share, message: Message, qos: 0 | 1): void {
    let messageId: number | undefined
    if (qos === 1) {
      do messageId = nextPacketId(conn.client)
      while (conn.inflight.has(messageId))
      conn.inflight.set(messageId, { share, message })
    }
    const socket = conn.client.conn
    if (!socket.write(encodePublish({ topic: message.topic, payload: message.payload, qos, messageId }))) {
      conn.congested = true
      socket.once('drain', () => {
        conn.congested = false
        pumpShares(conn)
      })
    }
  }

  async function pump (q: Queue): Promise<void> {
    if (q.pumping || closed) return
    q.pumping = true
    const key = shareTopic(q.share)
    try {
      while (q.pending.length > 0) {
        const members = await groups.turn(q.share)
        if (closed) break
        if (members.length === 0) {
          opts.dropped?.(key, q.pending.length, 'no member')
          q.pending.length = 0
          break
        }
        const message = q.pending[0] as Message
        const choice = choose(members, message)
        if (choice === 'busy') break // an ack, a drain or a new member pumps again
        q.pending.shift()
        if (choice === 'nobody') opts.dropped?.(key, 1, 'no member')
        else send(choice.conn, q.share, message, choice.qos)
      }
    } catch (err) {
      fail(err)
    } finally {
      q.pumping = false
      if (q.pending.length === 0 && queues.get(key) === q) queues.delete(key)
    }
  }

  function published (topic: string, payload: Buffer | string, qos: number): void {
    if (closed) return
    const shares = groups.matching(topic)
    if (shares.length === 0) return
    const message: Message = { topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: qos >= 1 ? 1 : 0 }
    for (const share of shares) {
      const q = queueOf(share)
      q.pending.push(message)
      if (q.pending.length > opts.maxQueued) {
        q.pending.shift()
        opts.dropped?.(shareTopic(share), 1, 'queue full')
      }
      void pump(q)
    }
  }

  return {
    join (client, share, qos) {
      if (closed || client.closed) return
      const conn = connectionOf(client)
      conn.shares.set(shareTopic(share), share)
      groups.join(share, { id: conn.id, clientId: client.id, node, qos }).then(() => pump(queueOf(share)), fail)
    },
    attach (aedes) {
      aedes.on('publish', (packet) => { published(packet.topic, packet.payload, packet.qos) })
      aedes.on('unsubscribe', (topics, client) => {
        const conn = byClient.get(client)
        if (conn === undefined) return
        for (const topic of topics) {
          const share = parseSharedFilter(topic)
          if (share === undefined || share === 'invalid') continue
          // Messages in flight to it stay its own: it may still acknowledge them.
          if (conn.shares.delete(topic)) groups.leave(share, conn.id).catch(fail)
        }
      })
      aedes.on('clientReady', (client) => {
        const conn = byClient.get(client)
        if (conn !== undefined) pumpShares(conn)
      })
    },
    close () {
      closed = true
      for (const conn of connections.values()) conn.stop()
      connections.clear()
      queues.clear()
    }
  }
}
