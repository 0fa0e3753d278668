import type { Client } from 'aedes'
import type { Registry } from '../registry/devices.js'
import type { BrokerPorts } from './ports.js'

// Which devices are connected: open connections per device (a device may hold several),
// told to the registry and to the onConnection port on every open and close.

export interface Presence {
  opened: (client: Client, deviceId: string) => void
  closed: (client: Client, deviceId: string) => void
}

export function transportOf (client: Client): string {
  const conn = client.conn as { encrypted?: boolean }
  if (client.req !== undefined) return client.req.socket && (client.req.socket as { encrypted?: boolean }).encrypted === true ? 'wss' : 'ws'
  return conn.encrypted === true ? 'tls' : 'tcp'
}

export function createPresence (registry: Pick<Registry, 'setConnected'>, onConnection: BrokerPorts['onConnection']): Presence {
  const live = new Map<string, number>() // device id -> open connections
  return {
    opened (client, deviceId) {
      live.set(deviceId, (live.get(deviceId) ?? 0) + 1)
      registry.setConnected(deviceId, true)
      onConnection(deviceId, true, { transport: transportOf(client) })
    },
    closed (client, deviceId) {
      const n = (live.get(deviceId) ?? 1) - 1
      if (n > 0) live.set(deviceId, n)
      else live.delete(deviceId)
      registry.setConnected(deviceId, n > 0)
      onConnection(deviceId, false, { transport: transportOf(client) })
    }
  }
}
