import type { Aedes, Client } from 'aedes'

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
