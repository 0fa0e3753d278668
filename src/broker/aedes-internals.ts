import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Aedes, Client } from 'aedes'
import type { TopicMatcher } from '../core/match-cache.js'

// The only place gridgate reads aedes state that has no public API (aedes 1.2.0). Each read
// says why no public way exists; an aedes upgrade checks this file, and nothing else in
// src/ may reach past aedes' typed surface.

/**
 * The clients this aedes instance has registered (past CONNECT, until they close).
 *
 * aedes has no public way to list clients or look one up by id: asked for one, the
 * maintainers answered that applications must track clients themselves
 * (https://github.com/moscajs/aedes/issues/350), and the answer given for a lookup by id
 * is the undocumented `aedes.clients` map, keyed by client id
 * (https://github.com/moscajs/aedes/issues/173). aedes uses that map itself to take over a
 * client id (aedes.js, registerClient), so it holds exactly the clients a disconnect must
 * reach, including one that is still between authenticate and 'clientReady'.
 */
export function registeredClients (aedes: Aedes): Client[] {
  return Object.values((aedes as unknown as { clients: Record<string, Client> }).clients)
}

/**
 * The topic filters a client is subscribed to now, including the ones a persistent session
 * brought back at CONNECT.
 *
 * aedes emits 'subscribe' only for SUBSCRIBE packets, never for restored subscriptions
 * (https://github.com/moscajs/aedes/pull/121, "Don't emit subscribe on restoring client
 * subs"; kept by the refactor in https://github.com/moscajs/aedes/pull/408), and the Client
 * type has no subscriptions. aedes keeps them in `client.subscriptions`, filter ->
 * subscription (lib/client.js), filled before 'clientReady'.
 */
export function subscribedFilters (client: Client): string[] {
  return Object.keys((client as unknown as { subscriptions?: Record<string, unknown> }).subscriptions ?? {})
}

/**
 * Whether the client ended its connection with a DISCONNECT packet (rather than dropping it).
 *
 * aedes emits no event for DISCONNECT: its handler sets `client._disconnected` and destroys
 * the socket (lib/handlers/index.js), and uses the flag itself to skip the will
 * (lib/client.js, close). Presence reads it to tell ClientInitiatedDisconnect from
 * ConnectionLost.
 */
export function sentDisconnect (client: Client): boolean {
  return (client as unknown as { _disconnected?: boolean })._disconnected === true
}

/**
 * Gives a connecting client the id it is known by from now on, during authenticate.
 *
 * aedes has no hook that assigns a client id: for a zero-length one it makes up
 * `aedes_{uuid}` in lib/handlers/connect.js (init) and then reads `client.id` in every later
 * step of CONNECT (fetchSubs, registerClient, which takes over an older connection with the
 * same id) and afterwards. authenticate runs before all of them, so an id set there is the
 * one aedes registers, exactly as its own assignment is. The typed `id` is read-only.
 */
export function assignClientId (client: Client, id: string): void {
  (client as unknown as { id: string }).id = id
}

/**
 * The aedes persistence instance: the one passed in, or the in-memory one aedes made itself
 * when none was (aedes.js: `this.persistence = opts.persistence || memory()`), so that the
 * retained-message API reaches the store aedes really uses on either engine. The Aedes type
 * does not declare the property.
 */
export function persistenceOf (aedes: Aedes): unknown {
  return (aedes as unknown as { persistence: unknown }).persistence
}

/**
 * Puts a live connection back into aedes' client map when aedes deleted it by mistake.
 *
 * aedes 1.2 unregisters a closing client by id, not by identity (lib/client.js, close:
 * `if (broker.clients[that.id] && that._authorized) broker.unregisterClient(that)`), so an
 * older connection that finishes closing after a newer one of the same id registered deletes
 * the NEW one from `aedes.clients` (the map of issue 173 above). The newer connection then
 * is not taken over by the next CONNECT with its id ([MQTT-3.1.4-2]) and aedes.close() does
 * not close it. Called after 'clientDisconnect' with the connection presence knows is live;
 * does nothing when the id's slot is taken (by this client or another one).
 */
export function restoreRegistration (aedes: Aedes, client: Client): void {
  const state = aedes as unknown as { clients: Record<string, Client>, connectedClients: number }
  if (client.closed || state.clients[client.id] !== undefined) return
  state.clients[client.id] = client
  state.connectedClients++ // as registerClient counts it; the wrong unregister took one off
}

/**
 * Calls `listener` with every MQTT packet the client sends, as parsed, before aedes handles
 * it; returns the function that stops it. Shared subscriptions use it for the PUBACKs of the
 * messages they send themselves.
 *
 * aedes reports a PUBACK only as its 'ack' event, with the message its persistence kept for
 * it, and a clean session keeps none: the event then carries `undefined`, not even the packet
 * identifier (lib/handlers/puback.js). The parser is `client._parser`, an mqtt-packet Parser
 * whose 'packet' event aedes itself listens to (lib/client.js); further listeners see the
 * same packets in the same order.
 */
export function onClientPacket (client: Client, listener: (packet: { cmd: string, messageId?: number }) => void): () => void {
  const parser = (client as unknown as { _parser: NodeJS.EventEmitter })._parser
  parser.on('packet', listener)
  return () => { parser.removeListener('packet', listener) }
}

/**
 * The next packet identifier for a message sent to `client`, from the same counter aedes uses
 * for its own QoS 1 and 2 deliveries, so the two never hand out the same identifier while both
 * are in flight [MQTT-2.3.1-2].
 *
 * aedes keeps the counter in `client._nextId` and advances it in lib/qos-packet.js (1 to 65535,
 * then 1 again), with no public way to take one.
 */
export function nextPacketId (client: Client): number {
  const c = client as unknown as { _nextId: number }
  const id = c._nextId
  c._nextId = id >= 65535 ? 1 : id + 1
  return id
}

type CloseFn = (this: Client & { broker: Aedes }, done?: unknown) => void
type Deferrer = (close: (done: () => void) => void) => void
const closeDeferrers = new WeakMap<Aedes, Deferrer>()
let closePatched = false

/**
 * Lets `defer` choose when `aedes` tears down a client whose connection ended by itself, so
 * that a thousand sockets that close in one poll of the event loop are not all torn down in
 * that one turn (they held the ingest loop for 150–310 ms, README "What limits").
 *
 * aedes tears a client down synchronously in `Client.close` (lib/client.js: unsubscribing
 * each of its filters, unregistering it, its will), called with no arguments from the
 * socket's 'end' and stream.finished listeners, bound when the client is made, and from its
 * error handler; no option or hook reaches it, and lib/client.js is not among aedes'
 * package exports, so it is loaded by file. The patch is on aedes' Client class, once per
 * process: a close with a callback (aedes' takeover of a client id, aedes.close()) waits for
 * it and runs at once; the others go through the `defer` of their broker, when it has one,
 * which gets the close to start and, through its `done`, hears when aedes has finished it
 * (its callback, called at the end of the teardown's asynchronous part; the arguments of the
 * listeners that call close this way are not callbacks and are dropped, as aedes drops them).
 * Close is idempotent in aedes (`closed`), so one that runs late after another is a no-op.
 */
export async function deferClientClose (aedes: Aedes, defer: Deferrer): Promise<void> {
  closeDeferrers.set(aedes, defer)
  if (closePatched) return
  const file = join(dirname(createRequire(import.meta.url).resolve('aedes')), 'lib', 'client.js')
  const mod = await import(pathToFileURL(file).href) as { default: { prototype: { close: CloseFn } } }
  if (closePatched) return
  closePatched = true
  const proto = mod.default.prototype
  const close = proto.close
  proto.close = function (this: Client & { broker: Aedes }, done?: unknown) {
    const d = typeof done === 'function' ? undefined : closeDeferrers.get(this.broker)
    if (d === undefined) close.call(this, done)
    else d((finished) => { close.call(this, finished) })
  }
}

/**
 * The subscription trie of aedes' message emitter (`aedes.mq`), if it has the usual one.
 *
 * aedes routes every publish through `mq.emit`, and mqemitter (and mqemitter-redis, built on
 * it) matches the topic against `_matcher`, a qlobber trie changed only by `add`, `remove` and
 * `clear` (mqemitter.js: on, removeListener, removeAllListeners); neither has a public way to
 * reach it or to cache its matches. broker.ts wraps it with core/match-cache.ts.
 */
export function emitterMatcher (aedes: Aedes): TopicMatcher | undefined {
  const m = (aedes as unknown as { mq?: { _matcher?: Partial<TopicMatcher> } }).mq?._matcher
  return typeof m?.match === 'function' && typeof m.add === 'function' && typeof m.remove === 'function' ? m as TopicMatcher : undefined
}
