import type { Client } from 'aedes'

// Which devices are connected: ONE state per connection, and everything that changes it
// (connect, takeover, DISCONNECT, a dropped socket, keep-alive expiry, an error, revocation,
// shutdown) passes through one pure state machine. Its effects are the only thing that moves
// the connected gauge, the registry's connected/lastSeen and the `system` topic's
// device.connected / device.disconnected, so the three always agree: per device, exactly one
// device.disconnected follows each device.connected, in order, and at most one connection
// of a device is live at a time.
//
// Why not aedes' events alone: aedes 1.2 emits 'clientDisconnect' for a connection that a
// takeover closed before it was ever 'clientReady', and when an old connection is still
// closing while a new one of the same id registers, the old one's close deletes the NEW
// one from aedes' client map (lib/client.js, close -> unregisterClient by id), so that one
// never gets a 'clientDisconnect' at all. Counting aedes' events per device drove the
// gauge negative and left devices "connected" with no socket. Here a connection is live
// from 'clientReady' until the first of its ends (aedes' 'clientDisconnect' or its socket's
// 'close', whichever comes first; the others are ignored), and a connection becoming ready
// while an older one of its device is still live takes that one over (it is closed).
//
// The machine knows connections only as opaque keys (aedes Client objects in the broker,
// plain objects in tests) and holds no clock and does no I/O.

/** Event Grid's MQTT disconnection reasons (Microsoft.EventGrid.MQTTClientSessionDisconnected). */
export type DisconnectionReason =
  | 'ClientInitiatedDisconnect' // a DISCONNECT packet
  | 'ConnectionLost' // the socket dropped, or the keep-alive ran out
  | 'SessionTakenOver' // a new connection with the same client id ([MQTT-3.1.4-2])
  | 'ClientAuthenticationError' // the device was deleted (its credential revoked)
  | 'ClientAuthorizationError' // a publish outside the client's permissions
  | 'ClientError' // a malformed or unsupported packet
  | 'QuotaExceeded' // a payload, retained-topic or QoS 2 in-flight limit
  | 'SessionOverflow' // the client stopped reading (drain timeout)
  | 'ServerError' // the gateway could not write the message
  | 'ServerInitiatedDisconnect' // the gateway is stopping
  | 'NodeLost' // gridgate's own: the cluster node holding the connection stopped heartbeating (broker.ts)

export type PresenceInput<C> =
  /** The connection passed authentication as this device (aedes has not CONNACKed it yet). */
  | { kind: 'authenticated', conn: C, deviceId: string }
  /** aedes' 'clientReady': CONNACK sent, the connection is usable. */
  | { kind: 'ready', conn: C, transport: string }
  /** The connection is gone or going; `cause` when the shell saw why (DISCONNECT, an error). */
  | { kind: 'ended', conn: C, cause?: DisconnectionReason }
  /** The device was deleted: its connections are closed. */
  | { kind: 'revoked', deviceId: string }
  /** The gateway stops: every live connection is reported gone, and nothing connects after. */
  | { kind: 'shutdown' }

export type PresenceEffect<C> =
  | { kind: 'connected', conn: C, deviceId: string, transport: string, live: number }
  | { kind: 'disconnected', conn: C, deviceId: string, transport: string, reason: DisconnectionReason, live: number }
  /** The shell must close this connection (it was taken over or revoked). */
  | { kind: 'close', conn: C }

export interface PresenceMachine<C> {
  apply: (input: PresenceInput<C>) => Array<PresenceEffect<C>>
  /** Live connections over all devices: what the gauge shows. */
  live: () => number
  /** The device's live connection, if it has one. */
  liveOf: (deviceId: string) => C | undefined
}

interface Connection {
  deviceId: string
  /** Set when the connection became ready: it is live then. */
  transport?: string
}

interface DeviceState<C> {
  live?: C
  pending: Set<C>
}

export function createPresenceMachine<C> (): PresenceMachine<C> {
  const conns = new Map<C, Connection>()
  const devices = new Map<string, DeviceState<C>>()
  let liveCount = 0
  let stopped = false

  const deviceState = (id: string): DeviceState<C> => {
    let d = devices.get(id)
    if (d === undefined) devices.set(id, d = { pending: new Set() })
    return d
  }
  const forgetIfIdle = (id: string, d: DeviceState<C>): void => {
    if (d.live === undefined && d.pending.size === 0) devices.delete(id)
  }
  /** Takes a live connection out of the state and says it is gone. */
  const drop = (conn: C, c: Connection, d: DeviceState<C>, reason: DisconnectionReason): PresenceEffect<C> => {
    conns.delete(conn)
    d.live = undefined
    liveCount--
    return { kind: 'disconnected', conn, deviceId: c.deviceId, transport: c.transport ?? 'unknown', reason, live: liveCount }
  }

  return {
    apply (input) {
      switch (input.kind) {
        case 'authenticated': {
          if (stopped || conns.has(input.conn)) return []
          conns.set(input.conn, { deviceId: input.deviceId })
          deviceState(input.deviceId).pending.add(input.conn)
          return []
        }
        case 'ready': {
          const c = conns.get(input.conn)
          // Unknown: never authenticated, or it ended before aedes reported it ready.
          if (c === undefined || c.transport !== undefined) return []
          const d = deviceState(c.deviceId)
          const effects: Array<PresenceEffect<C>> = []
          if (d.live !== undefined) {
            const old = d.live
            effects.push(drop(old, conns.get(old) as Connection, d, 'SessionTakenOver'), { kind: 'close', conn: old })
          }
          d.pending.delete(input.conn)
          c.transport = input.transport
          d.live = input.conn
          liveCount++
          effects.push({ kind: 'connected', conn: input.conn, deviceId: c.deviceId, transport: input.transport, live: liveCount })
          return effects
        }
        case 'ended': {
          const c = conns.get(input.conn)
          if (c === undefined) return []
          const d = deviceState(c.deviceId)
          if (c.transport === undefined) {
            conns.delete(input.conn)
            d.pending.delete(input.conn)
            forgetIfIdle(c.deviceId, d)
            return []
          }
          // Closed without a reason of its own while a newer connection of the device was being
          // made: aedes closes the old one when the new one registers ([MQTT-3.1.4-2]).
          const reason = input.cause ?? (d.pending.size > 0 ? 'SessionTakenOver' : 'ConnectionLost')
          const effect = drop(input.conn, c, d, reason)
          forgetIfIdle(c.deviceId, d)
          return [effect]
        }
        case 'revoked': {
          const d = devices.get(input.deviceId)
          if (d === undefined) return []
          const effects: Array<PresenceEffect<C>> = []
          if (d.live !== undefined) {
            const conn = d.live
            effects.push(drop(conn, conns.get(conn) as Connection, d, 'ClientAuthenticationError'), { kind: 'close', conn })
          }
          for (const conn of d.pending) {
            conns.delete(conn)
            effects.push({ kind: 'close', conn })
          }
          devices.delete(input.deviceId)
          return effects
        }
        case 'shutdown': {
          stopped = true
          const effects: Array<PresenceEffect<C>> = []
          for (const d of devices.values()) {
            if (d.live !== undefined) effects.push(drop(d.live, conns.get(d.live) as Connection, d, 'ServerInitiatedDisconnect'))
          }
          conns.clear()
          devices.clear()
          return effects
        }
      }
    },
    live: () => liveCount,
    liveOf: (deviceId) => devices.get(deviceId)?.live
  }
}

/** Why aedes closed a connection, from the error it closed it with (aedes' 'clientError'). */
export function reasonOfError (err: { message?: string, code?: unknown } | undefined): DisconnectionReason {
  const code = typeof err?.code === 'string' ? err.code : undefined
  switch (code) {
    case 'MQTT_NOT_AUTHORIZED': return 'ClientAuthorizationError'
    case 'PAYLOAD_TOO_LARGE':
    case 'MQTT_RETAINED_LIMIT': return 'QuotaExceeded'
    case 'STORAGE_WRITE_FAILED': return 'ServerError'
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'ECONNABORTED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH': return 'ConnectionLost'
  }
  const message = err?.message ?? ''
  if (message === 'keep alive timeout') return 'ConnectionLost'
  if (message === 'drain timeout' || message === 'Client queue limit reached') return 'SessionOverflow'
  if (message.startsWith('maxInflightInbound exceeded')) return 'QuotaExceeded'
  return 'ClientError'
}

export function transportOf (client: Client): string {
  const conn = client.conn as { encrypted?: boolean }
  if (client.req !== undefined) return client.req.socket && (client.req.socket as { encrypted?: boolean }).encrypted === true ? 'wss' : 'ws'
  return conn.encrypted === true ? 'tls' : 'tcp'
}
