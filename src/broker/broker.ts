// First: they change how aedes' MQTT codec, loaded with aedes, allocates, and what its CONNECT
// costs (see each).
import './quiet-debug.js'
import './bl-reads.js'
import './empty-queue.js'
import { Aedes, type Client } from 'aedes'
import type { Config } from '../config/schema.js'
import { systemClock, type Clock, type TimerHandle } from '../core/clock.js'
import { compileClientGroups, type ClientGroups } from '../core/client-groups.js'
import { uuidGenerator } from '../core/ids.js'
import type { ClusterSignals } from '../core/signals.js'
import { rememberMatches } from '../core/match-cache.js'
import { createTurnBudget } from '../core/turn-budget.js'
import { createTurnPacer } from '../core/turn-pacer.js'
import type { Registry } from '../registry/devices.js'
import { createAccessHooks, type Session } from './access-hooks.js'
import { deferClientClose, emitterMatcher, persistenceOf, registeredClients, restoreRegistration, sentDisconnect, subscribedFilters } from './aedes-internals.js'
import type { Authenticator } from './authenticate.js'
import { withClientIdRule } from './client-id.js'
import { createCommandChannel, type CommandChannel } from './command-channel.js'
import { createPolicy } from './permissions.js'
import type { BrokerObserver, BrokerPorts, ConnectionDetails } from './ports.js'
import { createPresenceMachine, reasonOfError, transportOf, type DisconnectionReason, type PresenceEffect } from './presence.js'
import { createRetainedMessages, stampRetained, type RetainedMessages } from './retained.js'
import { createRetainedCap } from './retained-cap.js'
import { createReplays, type ReplayLog, type ReplayObserver } from './replay.js'
import { createSharedSubscriptions } from './shared-dispatch.js'
import { createInProcessSharedGroups, parseSharedFilter, type SharedGroups } from './shared-groups.js'
import { gridgateVersion, startSysPublisher, SYS_PREFIX, type SysPublisher } from './sys-topics.js'
import { createTrafficCounters, type TrafficCounters } from './traffic.js'

// aedes with gridgate's parts plugged in: the access hooks (access-hooks.ts) behind the
// zero-length client id rule (client-id.ts), the retained cap (retained-cap.ts), command
// readiness and acknowledgements (command-channel.ts) and presence (presence.ts). This file
// only wires aedes' options and events to them; aedes state without a public API is read
// through aedes-internals.ts.
//
// Presence across the nodes of a cluster: the machine of presence.ts decides what happens to
// THIS node's connections (and the gauge); each of its effects then goes, in order per device,
// through the shared presence record (registry/presence.ts), and the `system` event is written
// by whoever removed a connection's record: the record is compare-and-deleted, so each
// connection gets exactly one device.connected and one device.disconnected cluster-wide.
//   - live here: claim the record; when it replaced another connection's (on this node or
//     another), write that one's device.disconnected (SessionTakenOver) first, then this
//     one's device.connected, and tell the other node to close it (a signal; aedes' own
//     $SYS/+/new/clients does too)
//   - ended here: release the record if it still names this connection, and only then write
//     device.disconnected
//   - deleted (DELETE /devices on any node): that node removes the record and writes the
//     event; every node closes the device's connections (a signal)
//   - a dead node (its heartbeat expired): every node's sweep releases its records one by one
//     (NodeLost); the compare-and-delete lets only one of them write each event
// Signals are at most once (core/signals.ts), so every sweep interval each node also compares
// its connections with the records naming it: a connection whose record is gone or names
// another connection was taken over, revoked or swept, and is closed (without an event: its
// end was written by whoever removed the record); a record naming this node with no live
// connection (a release that failed) is released, with its event.

export type { DevicePublish, BrokerPorts, BrokerObserver } from './ports.js'
export type { CommandChannel } from './command-channel.js'
export type { RetainedMessage, RetainedMessages } from './retained.js'

export interface Broker {
  aedes: Aedes
  commands: CommandChannel
  /** The retained messages aedes holds, for operators (retained.ts). */
  retained: RetainedMessages
  /** What the listeners count for $SYS; undefined when mqtt.sysIntervalSeconds is 0. */
  traffic?: TrafficCounters
  /** Closes every connection of a device (e.g. when it is deleted). */
  disconnect: (deviceId: string) => void
  /**
   * The node is about to stop: other nodes are not to sweep its connections' records while its
   * heartbeat is gone and its connections are still open (close() ends them, as
   * ServerInitiatedDisconnect).
   */
  leave: () => Promise<void>
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
  /** Stamps retained messages; the system clock when absent. */
  clock?: Clock
  /** mqtt.clientGroups compiled (the same as HTTP shows); compiled from `config` when absent. */
  clientGroups?: ClientGroups
  /** Shared subscription membership; in this process when absent. */
  sharedGroups?: SharedGroups
  /**
   * aedes' message emitter (its `mq`): in-process when absent; on a cluster, one shared by every
   * node (mqemitter-redis), so a message published on any node reaches subscribers on all.
   */
  mq?: unknown
  /** This gateway's node id in the cluster (shared subscription members name it); random when absent. */
  node?: string
  /** Signals to and from the other nodes (takeovers, revocations, device changes); none when absent. */
  signals?: ClusterSignals
  /**
   * The reconciliation of this node's connections with the presence records, and the sweep of
   * dead nodes' records, every `intervalMs` on the clock (a node that never announced itself is
   * swept `startupGraceMs` after its first record). Off when absent: a cluster of one has
   * nothing to reconcile.
   */
  presenceSweep?: { intervalMs: number, startupGraceMs: number }
  /** The namespace topics `$replay/...` subscriptions read (replay.ts); refused when absent. */
  replay?: { log: ReplayLog, observer?: ReplayObserver }
}

/**
 * Connection teardowns: a turn's time for starting them, and how many may be under way (each
 * goes on in callbacks for about 0.3 ms of CPU after it starts); the rest wait.
 */
const TEARDOWN_BUDGET_MS = 2
const TEARDOWNS_IN_FLIGHT = 16
/**
 * CONNECTs of a reconnect storm: each goes on through aedes' connect steps for about 0.3 ms of
 * CPU in later turns; released so that a turn stays near this length (turn-pacer.ts).
 */
const CONNECT_PACING = { targetTurnMs: 10, initial: 32, min: 16, max: 64, step: 8 }

export async function createBroker (opts: BrokerOptions): Promise<Broker> {
  const { config, ports } = opts
  const clock = opts.clock ?? systemClock
  const sessions = new WeakMap<Client, Session>()
  const presence = createPresenceMachine<Client>()
  const nodeId = opts.node ?? uuidGenerator.next()
  const registry = opts.registry
  // Each connection's id in the presence records, and the connections by id (for takeover signals).
  const connIds = new WeakMap<Client, string>()
  const byConnId = new Map<string, Client>()
  // This node's live connections whose record was written, with the claim's number (reconcile()).
  const claimed = new Map<string, { client: Client, deviceId: string, n: number }>()
  let claims = 0
  // Connections a newer one on another node took over: their record is left for that node's
  // claim to replace, so it writes device.disconnected and device.connected in order (unless
  // it never does: reconcile() releases the record after a while).
  const takenByAnother = new WeakSet<Client>()
  const handedOver = new Map<string, { deviceId: string, at: number }>()
  // Presence steps of a device, one after the other: its events are written in order.
  const chains = new Map<string, Promise<void>>()
  /** Returns the step's end (it never rejects: a failure is reported). */
  const inOrder = (deviceId: string, step: () => Promise<void>): Promise<void> => {
    const run = (chains.get(deviceId) ?? Promise.resolve()).then(step).catch((err: unknown) => opts.observer.presenceError?.(err, deviceId))
    chains.set(deviceId, run)
    void run.then(() => { if (chains.get(deviceId) === run) chains.delete(deviceId) })
    return run
  }
  const signal = (s: { kind: string, deviceId: string, [field: string]: unknown }): void => {
    opts.signals?.publish({ ...s, from: nodeId }).catch((err: unknown) => opts.observer.presenceError?.(err, String(s.deviceId)))
  }
  const event = (deviceId: string, connected: boolean, details: ConnectionDetails): void => {
    ports.onConnection(deviceId, connected, details, presence.live())
  }
  // Why a connection is closing, when aedes said so before it closed (first one wins).
  const causes = new WeakMap<Client, DisconnectionReason>()
  let mostLive = 0 // $SYS/broker/clients/maximum
  /** `steps`, when given, receives the end of each presence step the effects start. */
  const apply = (effects: Array<PresenceEffect<Client>>, steps?: Array<Promise<void>>): void => {
    for (const e of effects) {
      if (e.kind === 'close') continue
      mostLive = Math.max(mostLive, e.live)
      ports.onLive?.(e.kind === 'connected', e.transport, e.live)
      const connection = connIds.get(e.conn) ?? uuidGenerator.next()
      if (e.kind === 'connected') {
        const { deviceId, transport, conn } = e
        const record = { deviceId, node: nodeId, connection, transport, since: clock.now() }
        inOrder(deviceId, async () => {
          let prev
          try {
            prev = await registry.connected(record)
          } catch (err) {
            // Not recorded, so not live for the cluster: the device reconnects and is recorded then.
            conn.close()
            throw err
          }
          if (prev !== undefined && prev.connection !== connection) {
            event(deviceId, false, { transport: prev.transport, disconnectionReason: 'SessionTakenOver' })
            if (prev.node !== nodeId) signal({ kind: 'takeover', deviceId, node: prev.node, connection: prev.connection })
          }
          // Unless it ended meanwhile (its release is queued behind this step).
          if (presence.liveOf(deviceId) === conn) claimed.set(connection, { client: conn, deviceId, n: ++claims })
          event(deviceId, true, { transport })
        })
      } else {
        const { deviceId, transport, reason } = e
        claimed.delete(connection)
        if (takenByAnother.has(e.conn)) {
          handedOver.set(connection, { deviceId, at: clock.now() })
          continue
        }
        const step = inOrder(deviceId, async () => {
          if (await registry.disconnected(deviceId, nodeId, connection) !== undefined) event(deviceId, false, { transport, disconnectionReason: reason })
        })
        steps?.push(step)
      }
    }
    // After the events: closing runs aedes' close, which reports back here (a no-op by then).
    for (const e of effects) if (e.kind === 'close') e.conn.close()
  }
  /**
   * The first end signal of a connection (aedes' clientDisconnect or its socket's close);
   * resolves when the presence steps it started have ended.
   */
  const ended = async (client: Client): Promise<void> => {
    const s = sessions.get(client)
    if (s === undefined) return
    const id = connIds.get(client)
    if (id !== undefined && byConnId.get(id) === client) byConnId.delete(id)
    commands.closed(client, s.deviceId)
    const steps: Array<Promise<void>> = []
    apply(presence.apply({ kind: 'ended', conn: client, cause: sentDisconnect(client) ? 'ClientInitiatedDisconnect' : causes.get(client) }), steps)
    await Promise.all(steps)
  }
  // Client groups, permission bindings and `$share/...` (permissions.ts, shared-dispatch.ts).
  const policy = createPolicy({ ...config, groups: opts.clientGroups ?? compileClientGroups(config.clientGroups) })
  const shared = createSharedSubscriptions({
    groups: opts.sharedGroups ?? createInProcessSharedGroups(),
    node: nodeId,
    inflightWindow: config.sharedSubscriptions.inflightWindow,
    maxQueued: config.sharedSubscriptions.maxQueued,
    mayReceive: (client, topic) => sessions.get(client)?.permissions.canReceive(topic) ?? false,
    dropped: opts.observer.sharedDropped
  })
  const replays = opts.replay === undefined
    ? undefined
    : createReplays({
      log: opts.replay.log,
      ...config.replay,
      receiveCheck: (client) => {
        const p = sessions.get(client)?.permissions
        return p === undefined ? () => false : p.filtersDeliveries ? (topic: string) => p.canReceive(topic) : undefined
      },
      observer: opts.replay.observer
    })
  const retainedCap = createRetainedCap(config.maxRetainedPerDevice)
  const accessHooks = withClientIdRule(createAccessHooks({
    config,
    authenticator: opts.authenticator,
    onPublish: ports.onPublish,
    observer: opts.observer,
    sessions,
    retained: retainedCap,
    policy,
    shared,
    replay: replays
  }), opts.observer)

  // A connection taken over by a newer one on another node: aedes closes it when the other
  // node's $SYS/{id}/new/clients arrives (its closeSameClients). Registered before aedes
  // registers its own handler, so the reason is known when the close reports back.
  const made: { aedes?: Aedes } = {}
  if (opts.mq !== undefined) {
    (opts.mq as { on: (topic: string, fn: (packet: { topic: string, payload: Buffer }, cb: () => void) => void) => void }).on('$SYS/+/new/clients', (packet, cb) => {
      const a = made.aedes
      const c = a === undefined || packet.topic.split('/')[1] === a.id ? undefined : registeredClients(a).find((x) => x.id === packet.payload.toString())
      if (c !== undefined) { because(c, 'SessionTakenOver'); takenByAnother.add(c) }
      cb()
    })
  }
  // Sockets that close together (a network drop, a load balancer restart) all end in one poll
  // of the event loop; their teardown, aedes' and presence's (about 0.3 ms each), runs a few
  // milliseconds per turn so that publishes go on being acknowledged meanwhile.
  const teardown = createTurnBudget({ budgetMs: TEARDOWN_BUDGET_MS, maxInFlight: TEARDOWNS_IN_FLIGHT, onError: (err) => opts.observer.teardownError?.(err) })
  // Devices that come back together (after that drop) send their CONNECTs in a few polls; the
  // steps aedes takes for each (its setImmediate, authentication, persistence, presence, the
  // CONNACK) would all run in the same turns. A CONNECT is paced from its packet, not from its
  // socket, so sockets that send nothing hold up no one.
  const connects = createTurnPacer({ ...CONNECT_PACING, onError: (err) => opts.observer.connectError?.(err) })
  const aedes = await Aedes.createBroker({
    persistence: opts.persistence,
    ...(opts.mq === undefined ? {} : { mq: opts.mq }),
    // Devices must say who they are soon after opening a socket (mqtt.connectTimeoutSeconds).
    connectTimeout: Math.round(config.connectTimeoutSeconds * 1000),
    // Incoming QoS 2 messages held until PUBREL, per connection; more closes the connection.
    maxInflightInbound: config.maxInflightQos2,
    // A subscriber that stops reading holds aedes' delivery slots until its socket drains;
    // past this it is disconnected (aedes' own default is 60 s).
    drainTimeout: Math.round(config.drainTimeoutSeconds * 1000),
    ...accessHooks,
    preConnect (client, packet, done) {
      accessHooks.preConnect(client, packet, (err, ok) => { connects.add(() => { done(err, ok) }) })
    },
    authenticate (client, username, password, done) {
      accessHooks.authenticate(client, username, password, (err, ok) => {
        const s = sessions.get(client)
        if (err === null && ok === true && s !== undefined && !client.closed) {
          // From here presence follows the connection to its end, whichever way it goes.
          // A flat string: crypto.randomUUID's is a tree of some 14 concatenations, kept per connection.
          const id = uuidGenerator.next()
          connIds.set(client, id)
          byConnId.set(id, client)
          presence.apply({ kind: 'authenticated', conn: client, deviceId: s.deviceId })
          client.conn.once('close', () => { teardown.run((done) => { void ended(client).then(done) }) })
        }
        done(err, ok)
      })
    },
    authorizePublish (client, packet, done) {
      if (!packet.retain) { accessHooks.authorizePublish(client, packet, done); return }
      // aedes stores a retained message as the packet, which keeps a `clientId` it carries
      // (aedes-packet), and stores it after this hook and the PUBACK: GET /retained says who
      // published it and when it arrived.
      const at = clock.now()
      if (client !== null) (packet as { clientId?: string }).clientId = client.id
      accessHooks.authorizePublish(client, packet, (err) => {
        if (err === null || err === undefined) stamps.received(packet.topic, at)
        done(err)
      })
    },
    authorizeForward (client, packet) {
      // aedes' own $SYS/{brokerId}/... (heartbeat, and every client's connects, disconnects
      // and subscriptions) goes to no client: $SYS/broker/... (sys-topics.ts) is what a
      // client with a $SYS grant gets.
      if (packet.topic.startsWith('$SYS/') && !packet.topic.startsWith(SYS_PREFIX)) return null
      // On a cluster every node publishes its own $SYS/broker/... values into the shared
      // emitter: a client gets live values of the node it is connected to only (a retained
      // value sent at SUBSCRIBE carries no broker and is whichever node stored it last).
      if (packet.topic.startsWith(SYS_PREFIX) && typeof packet.brokerId === 'string' && packet.brokerId !== aedes.id) return null
      return accessHooks.authorizeForward(client, packet)
    }
  })
  made.aedes = aedes
  // Every publish matches its topic against the subscriptions; devices repeat their topics.
  const matcher = emitterMatcher(aedes)
  if (matcher !== undefined) rememberMatches(matcher)
  await deferClientClose(aedes, teardown.run)
  const persistence = persistenceOf(aedes)
  const stamps = stampRetained(persistence, clock)
  // A retained message cleared over HTTP frees its topic under the publisher's retained cap.
  const retained = createRetainedMessages(persistence, (m) => { if (m.clientId !== null) retainedCap.allow(m.clientId, m.topic, true) })
  // $SYS/broker/... values retained by an earlier run are stale (or the statistics are off now).
  for (const m of await retained.list(`${SYS_PREFIX}#`, 10_000)) await retained.clear(m.topic)
  const started = clock.now()
  const traffic = config.sysIntervalSeconds > 0 ? createTrafficCounters() : undefined
  let mostHeap = 0
  let sysQueue = Promise.resolve()
  const sys: SysPublisher | undefined = traffic === undefined
    ? undefined
    : startSysPublisher({
      clock,
      intervalSeconds: config.sysIntervalSeconds,
      stats: () => {
        const heap = process.memoryUsage().heapUsed
        mostHeap = Math.max(mostHeap, heap)
        return { version: gridgateVersion(), uptimeSeconds: (clock.now() - started) / 1000, clientsConnected: presence.live(), clientsMaximum: mostLive, ...traffic, heapCurrent: heap, heapMaximum: mostHeap }
      },
      // One after the other: aedes numbers each message when it is published and a client
      // drops one numbered below the last it got (dedupe in lib/client.js), while a retained
      // message reaches subscribers only after its store write, which may finish out of order.
      publish: (m) => {
        sysQueue = sysQueue.then(async () => await new Promise<void>((resolve) => {
          aedes.publish({ cmd: 'publish', topic: m.topic, payload: Buffer.from(m.payload), qos: 0, retain: true, dup: false }, () => resolve())
        }))
      }
    })

  shared.attach(aedes)
  replays?.attach(aedes)
  // A device's attributes changed: its connections get permissions and groups compiled anew;
  // one holding a subscription it may no longer have is closed (it reconnects and is refused).
  const stopWatching = opts.registry.onAttributesChanged((device, remote) => {
    if (!remote) signal({ kind: 'device', deviceId: device.id })
    for (const c of registeredClients(aedes)) {
      const s = sessions.get(c)
      if (s === undefined || s.deviceId !== device.id || s.identity.anonymous) continue
      s.identity = { ...s.identity, attributes: device.attributes }
      const resolved = policy.resolve(s.identity)
      s.permissions = resolved.permissions
      s.groups = resolved.groups
      const lost = subscribedFilters(c).find((f) => {
        const share = parseSharedFilter(f)
        return !s.permissions.canSubscribe(share === undefined || share === 'invalid' ? f : share.filter)
      })
      if (lost !== undefined) {
        opts.observer.refused('MQTT_NOT_AUTHORIZED', s.deviceId, `subscription '${lost}' after an attribute change`)
        c.close()
      }
    }
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
    if (s === undefined || client.closed) return // closing already: its end is on its way
    // A persistent session comes back with its subscriptions already in place.
    subscribed(client, subscribedFilters(client))
    apply(presence.apply({ kind: 'ready', conn: client, transport: transportOf(client) }))
  })
  const because = (client: Client | null, reason: DisconnectionReason): void => {
    if (client !== null && !causes.has(client)) causes.set(client, reason)
  }
  aedes.on('keepaliveTimeout', (client) => because(client, 'ConnectionLost'))
  aedes.on('clientError', (client, err) => because(client, reasonOfError(err as Error & { code?: unknown })))
  aedes.on('clientDisconnect', (client) => {
    void ended(client)
    // aedes may have unregistered the device's live connection in this one's stead.
    const s = sessions.get(client)
    const live = s === undefined ? undefined : presence.liveOf(s.deviceId)
    if (live !== undefined && live !== client && live.id === client.id) restoreRegistration(aedes, live)
  })

  /** Closes this node's connections of a deleted device (their ends are written only if their records are still there). */
  const revokeHere = (deviceId: string): void => {
    apply(presence.apply({ kind: 'revoked', deviceId }))
    for (const c of registeredClients(aedes)) {
      if (sessions.get(c)?.deviceId === deviceId) c.close()
    }
  }
  const stopSignals = opts.signals?.subscribe((s) => {
    if (s.from === nodeId || typeof s.deviceId !== 'string') return
    const deviceId = s.deviceId
    switch (s.kind) {
      case 'takeover': {
        const c = s.node === nodeId && typeof s.connection === 'string' ? byConnId.get(s.connection) : undefined
        if (c !== undefined) { because(c, 'SessionTakenOver'); takenByAnother.add(c); c.close() }
        break
      }
      case 'revoke': revokeHere(deviceId); break
      case 'device': registry.refresh(deviceId).catch((err: unknown) => opts.observer.presenceError?.(err, deviceId)); break
    }
  })

  /** This node's connections against the records naming it (see the top of this file). */
  const reconcile = async (handoverMs: number): Promise<void> => {
    const before = claims
    const held = await registry.presence.ofNode(nodeId)
    for (const [connection, h] of handedOver) {
      if (held.get(h.deviceId) !== connection) handedOver.delete(connection) // replaced, as it should be
    }
    for (const [connection, c] of claimed) {
      if (c.n > before || chains.has(c.deviceId) || held.get(c.deviceId) === connection) continue
      claimed.delete(connection)
      c.client.close()
    }
    for (const [deviceId, connection] of held) {
      if (chains.has(deviceId) || claimed.has(connection) || byConnId.has(connection)) continue
      const handover = handedOver.get(connection)
      if (handover !== undefined && clock.now() - handover.at < handoverMs) continue
      handedOver.delete(connection)
      inOrder(deviceId, async () => {
        const removed = await registry.disconnected(deviceId, nodeId, connection)
        if (removed !== undefined) event(deviceId, false, { transport: removed.transport, disconnectionReason: handover === undefined ? 'ConnectionLost' : 'SessionTakenOver' })
      })
    }
  }
  /** Releases the records of nodes whose heartbeat expired; each event is written by one node only. */
  const sweepDead = async (graceMs: number): Promise<void> => {
    for (const dead of await registry.presence.orphans(graceMs)) {
      if (dead === nodeId) continue // this node's heartbeat lapsed: the others sweep it, reconcile() closes what they took
      for (const [deviceId, connection] of await registry.presence.ofNode(dead)) {
        inOrder(deviceId, async () => {
          const removed = await registry.disconnected(deviceId, dead, connection)
          if (removed !== undefined) event(deviceId, false, { transport: removed.transport, disconnectionReason: 'NodeLost' })
        })
      }
    }
  }
  let sweepTimer: TimerHandle | undefined
  let sweeping: Promise<void> = Promise.resolve()
  let stopped = false
  const sweepEvery = (cfg: { intervalMs: number, startupGraceMs: number }): void => {
    sweepTimer = clock.setTimer(cfg.intervalMs, () => {
      sweeping = (async () => {
        try { await reconcile(Math.max(1000, 10 * cfg.intervalMs)) } catch (err) { opts.observer.presenceError?.(err, '') }
        try { await sweepDead(cfg.startupGraceMs) } catch (err) { opts.observer.presenceError?.(err, '') }
      })().then(() => { if (!stopped) sweepEvery(cfg) })
    })
  }
  if (opts.presenceSweep !== undefined) sweepEvery(opts.presenceSweep)

  return {
    aedes,
    commands: commands.channel,
    retained,
    traffic,
    disconnect: (deviceId) => {
      revokeHere(deviceId)
      // After this node's own releases: a record still there names another node's connection.
      inOrder(deviceId, async () => {
        const removed = await registry.revoked(deviceId)
        if (removed !== undefined) event(deviceId, false, { transport: removed.transport, disconnectionReason: 'ClientAuthenticationError' })
      })
      signal({ kind: 'revoke', deviceId })
    },
    leave: async () => { await registry.presence.leaving(nodeId) },
    close: async () => {
      stopped = true
      sweepTimer?.cancel()
      await sweeping
      stopSignals?.()
      await new Promise<void>((resolve) => {
        stopWatching()
        sys?.stop()
        shared.close()
        replays?.close()
        teardown.flush()
        connects.flush()
        apply(presence.apply({ kind: 'shutdown' }))
        aedes.close(() => resolve())
      })
      // The shutdown's releases and events, before the stores close.
      await Promise.all([...chains.values()])
    }
  }
}
