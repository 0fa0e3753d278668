import { GridgateError } from '../core/errors.js'
import type { Authenticator } from './authenticate.js'

// On a shared store (Redis) every MQTT connection writes its session there as it connects, and
// nothing it publishes could be acknowledged: while the store is unreachable, a CONNECT is
// refused before its credentials are checked, with CONNACK 3 (server unavailable, counted as
// STORAGE_UNAVAILABLE), and the client retries with its own back-off.

export function refuseWhileUnavailable (authenticator: Authenticator, available: () => boolean): Authenticator {
  return {
    async check (client, username, password) {
      if (!available()) throw new GridgateError('STORAGE_UNAVAILABLE')
      return await authenticator.check(client, username, password)
    }
  }
}
