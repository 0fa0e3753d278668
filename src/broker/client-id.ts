import type { Client } from 'aedes'
import type { AccessHooks } from './access-hooks.js'
import { assignClientId } from './aedes-internals.js'
import { tlsSocketOf } from './authenticate.js'
import type { BrokerObserver } from './ports.js'

// Zero-length client ids, MQTT 3.1.1 §3.1.3.1 [MQTT-3.1.3-6..9]:
// - clean session 0 with an empty id: CONNACK 0x02 (identifier rejected), then the connection
//   is closed [MQTT-3.1.3-8]; a session needs a name to be found again;
// - clean session 1 with an empty id: accepted, with an id assigned [MQTT-3.1.3-6, -7].
//   gridgate's identity is client id = username = device id, so a client that authenticates
//   gets its authentication name as its id (the username, or the CN of its client
//   certificate), as Mosquitto does with use_username_as_clientid and as Event Grid advises
//   (the client authentication name as the session name). Its permissions (`${client.id}`)
//   then are its own, and a second empty-id connection of the same device takes the first
//   over like any reconnect. An anonymous client (when allowed) keeps the unique id aedes
//   makes up, `aedes_{uuid}`;
// - MQTT 3.1 (protocol level 3) requires 1 to 23 characters: an empty id gets 0x02 there.
// aedes itself accepts an empty id with either clean flag (lib/handlers/connect.js), so the
// rule runs here, ahead of gridgate's authentication.

export interface ConnectId {
  /** The client id as sent in CONNECT (aedes replaces an empty one by the time of authenticate). */
  clientId: string
  clean: boolean
  protocolVersion: number
}

export type IdDecision =
  | { ok: true, /** The id to assign; absent: keep the one the client sent (or aedes made up). */ assign?: string }
  | { ok: false, returnCode: 2, reason: string }

/** Pure: what a CONNECT's client id becomes, given who the client says it is. */
export function decideClientId (connect: ConnectId, who: { username?: string, certificateName?: string }): IdDecision {
  if (connect.clientId !== '') return { ok: true }
  if (connect.protocolVersion < 4) return { ok: false, returnCode: 2, reason: 'MQTT 3.1 requires a client id of 1 to 23 characters' }
  if (!connect.clean) return { ok: false, returnCode: 2, reason: 'a zero-length client id requires clean session 1 [MQTT-3.1.3-8]' }
  const name = who.username ?? who.certificateName
  return name === undefined || name === '' ? { ok: true } : { ok: true, assign: name }
}

/** The CN of a verified client certificate, when the client authenticates with one (no username). */
function certificateName (client: Client, username: string | undefined): string | undefined {
  if (username !== undefined) return undefined
  const tls = tlsSocketOf(client)
  if (tls?.authorized !== true) return undefined
  return (tls.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN
}

/** The access hooks with the zero-length client id rule in front of authentication. */
export function withClientIdRule (hooks: AccessHooks, observer: BrokerObserver): AccessHooks {
  const connects = new WeakMap<Client, ConnectId>()
  return {
    ...hooks,
    preConnect (client, packet, done) {
      connects.set(client, { clientId: packet.clientId, clean: packet.clean !== false, protocolVersion: packet.protocolVersion ?? 4 })
      hooks.preConnect(client, packet, done)
    },
    authenticate (client, username, password, done) {
      const connect = connects.get(client)
      const decision = connect === undefined ? { ok: true as const } : decideClientId(connect, { username, certificateName: certificateName(client, username) })
      if (!decision.ok) {
        observer.refused('MQTT_CLIENT_ID_REJECTED', username ?? '', decision.reason)
        done(Object.assign(new Error(decision.reason), { returnCode: decision.returnCode }), null)
        return
      }
      if (decision.assign !== undefined) assignClientId(client, decision.assign)
      hooks.authenticate(client, username, password, done)
    }
  }
}
