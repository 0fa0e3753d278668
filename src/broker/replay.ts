import { setImmediate as nextTurn } from 'node:timers/promises'
import type { Aedes, Client } from 'aedes'
import { isGridgateError } from '../core/errors.js'
import { nextPacketId, onClientPacket } from './aedes-internals.js'
import { encodePublish } from './publish-packet.js'
import { deniableTopic, keepsSubject, replayTopic, REPLAY_PREFIX, type ReplayFilter } from './replay-filter.js'

// Replay over MQTT (replay-filter.ts has the form): a subscription to `$replay/{topic}/{position}`
// gets the namespace topic's events from that position, then live ones as they are appended.
// Each subscription has a reader of its own on the node holding the connection:
// - authorizeSubscribe checks the permissions on the whole `$replay/...` filter and calls
//   start(); aedes keeps the subscription under its literal name, which no published topic
//   matches (authorizeForward drops anything published on `$replay/...`), so aedes itself
//   delivers nothing on it, as with `$share/...` (shared-dispatch.ts).
// - The reader starts sending once the SUBACK is out (aedes' 'subscribe' event; 'clientReady'
//   for a persistent session's subscription brought back at CONNECT, which starts again from
//   the position in its filter). It reads the log a batch at a time, in the background, and
//   writes each event (the CloudEvent JSON as stored) as a PUBLISH on `$replay/{topic}/{offset}`
//   at the lower of the subscription's QoS and 1. At most `inflightWindow` QoS 1 messages are
//   unacknowledged: the next waits for a PUBACK, and nothing is read meanwhile. A full socket
//   also stops it until it drains. So a reader holds one batch at most (up to 100 events, about
//   1 MiB: the batch is sized to the events it reads), and a slow client slows only itself.
// - At the end of the log it waits for the log's append notices (TopicLog.onAppend, which on a
//   shared engine hears every node's appends), then reads on from its cursor; and it looks
//   again every pollMs, in case a notice was lost.
// - UNSUBSCRIBE, a new SUBSCRIBE of the same filter (which starts it over) or the connection's
//   end stops it; its unacknowledged messages are not sent again: the position is the
//   client's to keep (the offset is the last level of every message's topic).

/** The part of the namespace-topic port (log/types.ts TopicLog) a replay reads through. */
export interface ReplayLog {
  getTopic: (name: string) => Promise<{ firstOffset: number, nextOffset: number } | undefined>
  read: (topic: string, from: { offset: number } | { time: number }, limit: number) => Promise<{ records: Array<{ offset: number, bytes: Buffer }>, nextOffset: number }>
  onAppend: (listener: (topic: string, nextOffset: number) => void) => () => void
}

export interface ReplayObserver {
  /** Events sent to replay subscribers, by namespace topic. */
  replayed?: (topic: string, messages: number) => void
  /** A reader could not read its topic: it stops when the topic is gone, else it tries again. */
  failed?: (err: unknown, clientId: string, filter: string, stopped: boolean) => void
}

export interface ReplaysOptions {
  log: ReplayLog
  /** QoS 1 messages sent on one replay subscription and not yet acknowledged. */
  inflightWindow: number
  /** Replay subscriptions one connection may hold at once; more get SUBACK 0x80. */
  maxPerConnection: number
  /**
   * Whether the client may receive a topic of the replay namespace (its subscribe denies), or
   * undefined when it has no denies; asked once per batch, as permissions change with attributes.
   */
  receiveCheck?: (client: Client) => ((topic: string) => boolean) | undefined
  observer?: ReplayObserver
  /** The most events read at once (fewer when they are large: about `batchBytes` a read). */
  batchEvents?: number
  batchBytes?: number
  /** Wait before reading again after a failed read. */
  retryMs?: number
  /** How often readers at the end of their topic look again without a notice (notices may be lost). */
  pollMs?: number
}

export type StartOutcome = 'started' | 'no topic' | 'too many'

export interface Replays {
  /** `client` subscribed to `filter` (after the permission check); the SUBACK is refused unless 'started'. */
  start: (client: Client, filter: string, replay: ReplayFilter, qos: 0 | 1) => Promise<StartOutcome>
  /** Starts following aedes' subscribe, unsubscribe and clientReady events. */
  attach: (aedes: Aedes) => void
  close: () => void
}

interface Reader {
  filter: string
  replay: ReplayFilter
  conn: Connection
  qos: 0 | 1
  /** Where the next read starts: an offset, or the time of the first read. */
  from: { offset: number } | { time: number }
  /** Events the next read asks for: sized to the events seen, so a batch is about batchBytes. */
  limit: number
  /** Read and not yet sent, in order. */
  buffer: Array<{ offset: number, bytes: Buffer }>
  inflight: Set<number>
  /** The SUBACK is out: it may send. */
  ready: boolean
  running: boolean
  /** An append notice came during the current read. */
  notified: boolean
  stopped: boolean
  retry?: NodeJS.Timeout
}

interface Connection {
  client: Client
  readers: Map<string, Reader>
  congested: boolean
  stop: () => void
}

const DEFAULT_BATCH = 100
const DEFAULT_BATCH_BYTES = 1_048_576
/** The first read of a replay, before it knows how large the topic's events are (events are up to 16 MiB). */
const FIRST_READ = 10
const DEFAULT_RETRY_MS = 1000
// A Redis notice is at most once (pub/sub): a lost one would hold a reader until the next append.
const DEFAULT_POLL_MS = 5000

export function createReplays (opts: ReplaysOptions): Replays {
  const batch = opts.batchEvents ?? DEFAULT_BATCH
  const batchBytes = opts.batchBytes ?? DEFAULT_BATCH_BYTES
  const retryMs = opts.retryMs ?? DEFAULT_RETRY_MS
  const byClient = new WeakMap<Client, Connection>()
  const connections = new Set<Connection>()
  const byTopic = new Map<string, Set<Reader>>()
  let closed = false

  const poll = setInterval(() => {
    for (const readers of byTopic.values()) for (const r of readers) void run(r)
  }, opts.pollMs ?? DEFAULT_POLL_MS)
  poll.unref()
  const stopAppends = opts.log.onAppend((topic) => {
    const readers = byTopic.get(topic)
    if (readers === undefined) return
    for (const r of readers) {
      r.notified = true
      void run(r)
    }
  })

  function connectionOf (client: Client): Connection {
    const known = byClient.get(client)
    if (known !== undefined) return known
    const onClose = (): void => { gone(conn) }
    const stopPackets = onClientPacket(client, (packet) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return
      for (const r of conn.readers.values()) {
        if (r.inflight.delete(packet.messageId)) { void run(r); return }
      }
    })
    client.conn.once('close', onClose)
    const conn: Connection = {
      client,
      readers: new Map(),
      congested: false,
      stop: () => { stopPackets(); client.conn.removeListener('close', onClose) }
    }
    byClient.set(client, conn)
    connections.add(conn)
    return conn
  }

  function stop (r: Reader): void {
    if (r.stopped) return
    r.stopped = true
    if (r.retry !== undefined) clearTimeout(r.retry)
    if (r.conn.readers.get(r.filter) === r) r.conn.readers.delete(r.filter)
    const set = byTopic.get(r.replay.topic)
    set?.delete(r)
    if (set?.size === 0) byTopic.delete(r.replay.topic)
    r.buffer.length = 0
  }

  function gone (conn: Connection): void {
    if (!connections.delete(conn)) return
    byClient.delete(conn.client)
    conn.stop()
    for (const r of [...conn.readers.values()]) stop(r)
  }

  function canSend (r: Reader): boolean {
    // Not `client.connected`: aedes sets it after steps of CONNECT that may finish after the
    // client's first SUBSCRIBE was handled (with persistence on LevelDB, under load).
    return r.ready && !r.conn.congested && (r.qos === 0 || r.inflight.size < opts.inflightWindow)
  }

  function send (r: Reader, record: { offset: number, bytes: Buffer }): void {
    let messageId: number | undefined
    if (r.qos === 1) {
      do messageId = nextPacketId(r.conn.client)
      while (r.inflight.has(messageId))
      r.inflight.add(messageId)
    }
    const conn = r.conn
    const socket = conn.client.conn
    if (!socket.write(encodePublish({ topic: replayTopic(r.replay.topic, record.offset), payload: record.bytes, qos: r.qos, messageId }))) {
      conn.congested = true
      socket.once('drain', () => {
        conn.congested = false
        for (const other of conn.readers.values()) void run(other)
      })
    }
  }

  function subjectOf (bytes: Buffer): string | undefined {
    try {
      const subject = (JSON.parse(bytes.toString('utf8')) as { subject?: unknown }).subject
      return typeof subject === 'string' ? subject : undefined
    } catch {
      return undefined
    }
  }

  /** The events of a batch this subscription is to get: its subject filter, and the client's subscribe denies. */
  function keep (r: Reader, records: Array<{ offset: number, bytes: Buffer }>): Array<{ offset: number, bytes: Buffer }> {
    const mayReceive = opts.receiveCheck?.(r.conn.client)
    const filtered = r.replay.subject !== undefined && r.replay.subject !== '#'
    if (!filtered && mayReceive === undefined) return records // no event to parse
    return records.filter((rec) => {
      const subject = subjectOf(rec.bytes)
      return keepsSubject(r.replay, subject) && (mayReceive === undefined || mayReceive(deniableTopic(r.filter, subject)))
    })
  }

  /** Sends what it holds while it may, reads the next batch when it holds nothing; one run at a time per reader. */
  async function run (r: Reader): Promise<void> {
    if (r.running || r.stopped || closed) return
    r.running = true
    try {
      // `stopped` and `closed` change while a read is awaited.
      // eslint-disable-next-line no-unmodified-loop-condition
      while (!r.stopped && !closed) {
        let sent = 0
        while (r.buffer.length > 0 && canSend(r)) {
          send(r, r.buffer.shift() as { offset: number, bytes: Buffer })
          sent++
        }
        if (sent > 0) opts.observer?.replayed?.(r.replay.topic, sent)
        if (r.buffer.length > 0 || !r.ready) break // a PUBACK, a drain or the SUBACK runs it again
        r.notified = false
        const result = await opts.log.read(r.replay.topic, r.from, r.limit)
        if (r.stopped || closed) break
        r.from = { offset: result.nextOffset }
        if (result.records.length > 0) {
          const average = result.records.reduce((n, rec) => n + rec.bytes.length, 0) / result.records.length
          r.limit = Math.max(1, Math.min(batch, Math.floor(batchBytes / Math.max(1, average))))
        }
        r.buffer = keep(r, result.records)
        // At the end of the log: an append notice runs it again (or already came during the read).
        if (result.records.length === 0 && !r.notified) break
        // One batch per turn of the event loop: a replay never holds up ingest, even on an
        // engine whose reads complete without I/O.
        await nextTurn()
      }
    } catch (err) {
      if (r.stopped || closed) return // the log closed under it: the gateway is stopping
      const gone = isGridgateError(err) && err.code === 'TOPIC_NOT_FOUND'
      opts.observer?.failed?.(err, r.conn.client.id, r.filter, gone)
      if (gone) stop(r)
      else r.retry = setTimeout(() => { r.retry = undefined; void run(r) }, retryMs)
    } finally {
      r.running = false
    }
  }

  function readyAll (conn: Connection, filters?: readonly string[]): void {
    for (const r of conn.readers.values()) {
      if (r.ready || (filters !== undefined && !filters.includes(r.filter))) continue
      r.ready = true
      void run(r)
    }
  }

  return {
    async start (client, filter, replay, qos) {
      if (closed || client.closed) return 'started' // its close follows; nothing to send
      const current = byClient.get(client)?.readers
      const others = current === undefined ? 0 : current.size - (current.has(filter) ? 1 : 0)
      if (others >= opts.maxPerConnection) return 'too many'
      const topic = await opts.log.getTopic(replay.topic)
      if (topic === undefined) return 'no topic'
      if (closed || client.closed) return 'started'
      const p = replay.position
      const from = p.kind === 'time' ? { time: p.time } : { offset: p.kind === 'offset' ? p.offset : p.kind === 'latest' ? topic.nextOffset : 0 }
      const conn = connectionOf(client)
      const old = conn.readers.get(filter)
      if (old !== undefined) stop(old)
      const r: Reader = { filter, replay, conn, qos, from, limit: Math.min(FIRST_READ, batch), buffer: [], inflight: new Set(), ready: false, running: false, notified: false, stopped: false }
      conn.readers.set(filter, r)
      let set = byTopic.get(replay.topic)
      if (set === undefined) byTopic.set(replay.topic, set = new Set())
      set.add(r)
      return 'started'
    },
    attach (aedes) {
      aedes.on('subscribe', (subscriptions, client) => {
        const conn = byClient.get(client)
        if (conn === undefined) return
        readyAll(conn, subscriptions.filter((s) => (s.qos as number) !== 128 && s.topic.startsWith(REPLAY_PREFIX)).map((s) => s.topic))
      })
      aedes.on('clientReady', (client) => {
        const conn = byClient.get(client)
        if (conn !== undefined) readyAll(conn)
      })
      aedes.on('unsubscribe', (topics, client) => {
        const conn = byClient.get(client)
        if (conn === undefined) return
        for (const topic of topics) {
          const r = conn.readers.get(topic)
          if (r !== undefined) stop(r)
        }
      })
    },
    close () {
      closed = true
      clearInterval(poll)
      stopAppends()
      for (const conn of [...connections]) gone(conn)
    }
  }
}
