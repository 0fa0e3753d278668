import type { AedesOptions, Client } from 'aedes'
import type { Config } from '../config/schema.js'
import { parseDeviceTopic } from '../core/device-topic.js'
import { compileClientGroups } from '../core/client-groups.js'
import { GridgateError, isGridgateError } from '../core/errors.js'
import type { Authenticator } from './authenticate.js'
import { createPolicy, type ClientPermissions, type Policy, type PolicyIdentity } from './permissions.js'
import type { BrokerObserver, BrokerPorts } from './ports.js'
import { parseReplayFilter, REPLAY_PREFIX } from './replay-filter.js'
import type { Replays } from './replay.js'
import type { RetainedCap } from './retained-cap.js'
import type { SharedSubscriptions } from './shared-dispatch.js'
import { parseSharedFilter } from './shared-groups.js'

// aedes' access hooks: who a client is (preConnect, authenticate), what it may publish
// (authorizePublish), subscribe to (authorizeSubscribe, where `$share/...` and `$replay/...`
// subscriptions are taken over, shared-dispatch.ts and replay.ts) and receive (authorizeForward:
// its subscribe denies).
//
// aedes 1.2 writes the QoS 1 PUBACK *before* its `published` hook (lib/handlers/publish.js),
// and only authorizePublish runs ahead of it, so the durable append happens inside
// authorizePublish, through the injected onPublish port. An error from that hook closes the
// connection, so it is used only for permission violations, oversized payloads, the retained
// cap and failed writes (no PUBACK then). authorizePublish runs for every device message.

/** An authenticated connection: set by authenticate, read by every other part of the broker. */
export interface Session {
  deviceId: string
  /** Replaced when the client's attributes change (broker.ts). */
  permissions: ClientPermissions
  /** Its client groups (none for an anonymous client). */
  groups: string[]
  /** What the permissions were compiled from. */
  identity: PolicyIdentity
}

export interface AccessHooksOptions {
  config: Pick<Config['mqtt'], 'permissions' | 'anonymousPermissions' | 'maxPayloadBytes' | 'maxRetainedPerDevice'>
  authenticator: Authenticator
  onPublish: BrokerPorts['onPublish']
  observer: BrokerObserver
  /** Filled here at authenticate; owned by the broker. */
  sessions: WeakMap<Client, Session>
  retained: RetainedCap
  /** Client groups and permission bindings; without it, mqtt.permissions alone (no groups, no denies). */
  policy?: Policy
  /** Where `$share/...` subscriptions go; without it they are refused. */
  shared?: Pick<SharedSubscriptions, 'join'>
  /** Where `$replay/...` subscriptions go; without it they are refused. */
  replay?: Pick<Replays, 'start'>
}

export type AccessHooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>

export function createAccessHooks (opts: AccessHooksOptions): AccessHooks {
  const { config, observer, sessions, retained, onPublish } = opts
  const policy = opts.policy ?? createPolicy({ ...config, permissionBindings: [], groups: compileClientGroups({}) })
  // A will's topic, from CONNECT to authenticate, where it is checked against the permissions.
  const wills = new WeakMap<Client, { topic: string } | undefined>()

  return {
    preConnect (client, packet, done) {
      wills.set(client, packet.will === undefined || packet.will === null ? undefined : { topic: packet.will.topic })
      done(null, true)
    },

    authenticate (client, username, password, done) {
      opts.authenticator.check(client, username, password).then((outcome) => {
        if (!outcome.ok) {
          observer.refused('MQTT_BAD_CREDENTIALS', client.id, outcome.reason)
          done(Object.assign(new Error(outcome.reason), { returnCode: outcome.returnCode }), null)
          return
        }
        const identity: PolicyIdentity = { id: outcome.deviceId, username, attributes: outcome.attributes, anonymous: outcome.anonymous }
        const { groups, permissions } = policy.resolve(identity)
        const will = wills.get(client)
        if (will !== undefined && !permissions.canPublish(will.topic)) {
          observer.refused('MQTT_NOT_AUTHORIZED', outcome.deviceId, `will on '${will.topic}'`)
          done(Object.assign(new Error('will topic not allowed'), { returnCode: 5 as const }), null)
          return
        }
        sessions.set(client, { deviceId: outcome.deviceId, permissions, groups, identity })
        done(null, true)
      }, (err: unknown) => {
        // The store could not answer (STORAGE_UNAVAILABLE while it is unreachable): CONNACK 3.
        if (isGridgateError(err) && err.code === 'STORAGE_UNAVAILABLE') observer.refused(err.code, client.id, err.message)
        done(Object.assign(new Error((err as Error).message), { returnCode: 3 as const }), null)
      })
    },

    authorizePublish (client, packet, done) {
      let deviceId: string
      if (client === null) {
        // A will, published by the broker after its device went away; its topic was
        // checked against the device's permissions at connect.
        const topic = parseDeviceTopic(packet.topic)
        if (topic === undefined) { done(null); return }
        deviceId = topic.deviceId
      } else {
        const session = sessions.get(client)
        if (session === undefined) { done(new Error('not authenticated')); return }
        deviceId = session.deviceId
        if (packet.payload.length > config.maxPayloadBytes) {
          observer.refused('PAYLOAD_TOO_LARGE', deviceId, `${packet.payload.length} bytes on '${packet.topic}'`)
          done(new GridgateError('PAYLOAD_TOO_LARGE', `payload of ${packet.payload.length} bytes is over ${config.maxPayloadBytes}`))
          return
        }
        if (!session.permissions.canPublish(packet.topic)) {
          observer.refused('MQTT_NOT_AUTHORIZED', deviceId, `publish to '${packet.topic}'`)
          done(new GridgateError('MQTT_NOT_AUTHORIZED', `publish to '${packet.topic}' is not allowed`))
          return
        }
        if (packet.retain && !retained.allow(deviceId, packet.topic, packet.payload.length === 0)) {
          observer.refused('MQTT_RETAINED_LIMIT', deviceId, `retained on '${packet.topic}'`)
          done(new GridgateError('MQTT_RETAINED_LIMIT', `more than ${config.maxRetainedPerDevice} retained topics`))
          return
        }
      }
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload
      const started = performance.now()
      onPublish({ deviceId, mqttTopic: packet.topic, payload, qos: packet.qos, retain: packet.retain }).then(() => {
        observer.handled?.((performance.now() - started) / 1000)
        done(null)
      }, (err: unknown) => {
        // STORAGE_UNAVAILABLE while the store is unreachable (it may or may not have taken the write)
        const code = isGridgateError(err) && err.code === 'STORAGE_UNAVAILABLE' ? err.code : 'STORAGE_WRITE_FAILED'
        observer.refused(code, deviceId, (err as Error).message)
        done(err as Error) // no PUBACK: the device retransmits after reconnecting
      })
    },

    authorizeSubscribe (client, subscription, done) {
      const session = sessions.get(client)
      const refuse = (why = ''): void => {
        observer.refused('MQTT_NOT_AUTHORIZED', session?.deviceId ?? client.id, `subscribe to '${subscription.topic}'${why}`)
        done(null, null) // SUBACK 0x80 for this filter; the connection stays
      }
      // `$replay/{topic}/{position}[/{subject filter}]`: the permissions apply to the whole filter.
      const replay = parseReplayFilter(subscription.topic)
      if (replay !== undefined) {
        if (session === undefined || replay === 'invalid' || opts.replay === undefined || !session.permissions.canSubscribe(subscription.topic)) { refuse(); return }
        // Replays are delivered at most at QoS 1 (replay.ts).
        const qos = subscription.qos === 0 ? 0 : 1
        opts.replay.start(client, subscription.topic, replay, qos).then((outcome) => {
          if (outcome === 'started') done(null, { ...subscription, qos })
          else refuse(outcome === 'no topic' ? `: no topic '${replay.topic}'` : ': too many replays on one connection')
        }, (err: unknown) => { refuse(`: ${(err as Error).message}`) })
        return
      }
      // `$share/{group}/{filter}`: the permissions apply to the filter inside.
      const share = parseSharedFilter(subscription.topic)
      const filter = share === undefined || share === 'invalid' ? subscription.topic : share.filter
      if (session === undefined || share === 'invalid' || (share !== undefined && opts.shared === undefined) || !session.permissions.canSubscribe(filter)) {
        refuse()
        return
      }
      if (share !== undefined) {
        // Shared subscriptions are delivered at most at QoS 1 (shared-dispatch.ts).
        const qos = subscription.qos === 0 ? 0 : 1
        opts.shared?.join(client, share, qos)
        done(null, { ...subscription, qos })
        return
      }
      done(null, subscription)
    },

    // Every message aedes delivers to a client. Only a client with subscribe denies is checked:
    // its filter may overlap a deny ('+/+' with 'test/nosubscribe' denied).
    authorizeForward (client, packet) {
      // Replayed events are written by replay.ts, never routed by aedes: a message published
      // or retained on `$replay/...` reaches no one.
      if (packet.topic.startsWith(REPLAY_PREFIX)) return null
      const session = sessions.get(client)
      if (session === undefined || !session.permissions.filtersDeliveries || session.permissions.canReceive(packet.topic)) return packet
      return null
    }
  }
}
