import { TLSSocket } from 'node:tls'
import type { Client } from 'aedes'
import type { Clock } from '../core/clock.js'
import type { Registry } from '../registry/devices.js'
import { afterFailure, delayBeforeAttempt, type BackoffPolicy, type FailureRecord } from './auth-backoff.js'

// Who a connecting client is. A device proves it with username = client id = device id and
// its password, or with a client certificate from the configured CA whose CN is its id.
// Wrong user and wrong password get the same CONNACK (4) after the same work.

export type Outcome =
  | { ok: true, deviceId: string, anonymous: boolean, attributes: Record<string, string>, method: 'password' | 'certificate' | 'anonymous' }
  | { ok: false, returnCode: 4 | 5, reason: string }

export interface Authenticator {
  check: (client: Client, username: string | undefined, password: Buffer | undefined) => Promise<Outcome>
}

const MAX_TRACKED_ADDRESSES = 10_000

/** The TLS socket under a client: the connection itself (mqtts) or under its WebSocket (wss). */
export function tlsSocketOf (client: Client): TLSSocket | undefined {
  if (client.conn instanceof TLSSocket) return client.conn
  const s = client.req?.socket
  return s instanceof TLSSocket ? s : undefined
}

export function addressOf (client: Client): string {
  const conn = client.conn as { remoteAddress?: string }
  return conn.remoteAddress ?? client.req?.socket.remoteAddress ?? 'unknown'
}

export function createAuthenticator (opts: { registry: Registry, clock: Clock, allowAnonymous: boolean, backoff: BackoffPolicy }): Authenticator {
  const failures = new Map<string, FailureRecord>()
  const wait = (ms: number): Promise<void> => new Promise((resolve) => { opts.clock.setTimer(ms, resolve) })

  function fail (address: string, reason: string, returnCode: 4 | 5 = 4): Outcome {
    failures.set(address, afterFailure(failures.get(address), opts.clock.now(), opts.backoff))
    if (failures.size > MAX_TRACKED_ADDRESSES) failures.delete(failures.keys().next().value as string)
    return { ok: false, returnCode, reason }
  }

  return {
    async check (client, username, password) {
      // Failures count per (address, username): guessing one device's password is slowed,
      // while other devices behind the same address (NAT, a gateway host) still connect at once.
      const address = `${addressOf(client)}\u0000${username ?? ''}`
      const delay = delayBeforeAttempt(failures.get(address), opts.clock.now(), opts.backoff)
      if (delay > 0) await wait(delay)

      const tls = tlsSocketOf(client)
      if (tls?.authorized === true && username === undefined) {
        const cn = (tls.getPeerCertificate() as { subject?: { CN?: string } }).subject?.CN
        const device = cn === undefined ? undefined : await opts.registry.get(cn)
        if (device === undefined || cn !== client.id) return fail(address, `certificate CN '${cn ?? ''}' is not the client id or not a registered device`)
        failures.delete(address)
        return { ok: true, deviceId: device.id, anonymous: false, attributes: device.attributes, method: 'certificate' }
      }
      if (username === undefined && password === undefined) {
        if (!opts.allowAnonymous) return fail(address, 'anonymous clients are not allowed', 5)
        return { ok: true, deviceId: client.id, anonymous: true, attributes: {}, method: 'anonymous' }
      }
      // The username must be the client id: one identity per connection.
      const device = await opts.registry.authenticate(username ?? '', password ?? Buffer.alloc(0))
      if (device === undefined || username !== client.id) return fail(address, 'bad username or password')
      failures.delete(address)
      return { ok: true, deviceId: device.id, anonymous: false, attributes: device.attributes, method: 'password' }
    }
  }
}
