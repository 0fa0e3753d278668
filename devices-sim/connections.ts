import { SimError } from './errors.js'
import type { Settings } from './options.js'
import type { ConnectSummary } from './protocol.js'

// What the workers' connection attempts came to: how many devices connected, which were
// refused (by CONNACK code) or could not reach the broker, and whether the run can go on.

const CONNACK_NAMES: Record<string, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad username or password',
  5: 'not authorized'
}

export const connackName = (code: string): string => `CONNACK ${code}${CONNACK_NAMES[code] === undefined ? '' : ` (${CONNACK_NAMES[code] as string})`}`

export interface Connections {
  connected: number
  /** Refused CONNECTs by CONNACK return code. */
  refusedByCode: Record<string, number>
  /** Devices that never got a connection (socket or TLS errors, timeouts). */
  unreachable: number
  /** Refused and unreachable together. */
  refusedCount: number
  firstError: string | undefined
  /** `n × CONNACK c (name), m × no connection`. */
  refusedText: string
}

/** Sums the workers' summaries. */
export function sumConnections (summaries: readonly ConnectSummary[]): Connections {
  const refusedByCode: Record<string, number> = {}
  for (const x of summaries) for (const [code, n] of Object.entries(x.refused)) refusedByCode[code] = (refusedByCode[code] ?? 0) + n
  const unreachable = summaries.reduce((a, x) => a + x.unreachable, 0)
  const refusedText = [
    ...Object.entries(refusedByCode).map(([c, n]) => `${n} × ${connackName(c)}`),
    ...(unreachable > 0 ? [`${unreachable} × no connection`] : [])
  ].join(', ')
  return {
    connected: summaries.reduce((a, x) => a + x.connected, 0),
    refusedByCode,
    unreachable,
    refusedCount: Object.values(refusedByCode).reduce((a, b) => a + b, 0) + unreachable,
    firstError: summaries.find((x) => x.firstError !== undefined)?.firstError,
    refusedText
  }
}

/** Throws when no device connected: MQTT_UNREACHABLE when none got through at all, NO_DEVICE_CONNECTED when refused. */
export function requireSomeConnected (c: Connections, s: Settings): void {
  if (c.connected > 0) return
  if (c.unreachable > 0 && Object.keys(c.refusedByCode).length === 0) {
    const tlsHint = (s.transport === 'tls' || s.transport === 'wss') && s.ca === null && /CERT|SIGNATURE|SELF_SIGNED|certificate/i.test(c.firstError ?? '') ? ' (a private CA? pass --ca FILE)' : ''
    throw new SimError('MQTT_UNREACHABLE', `no device could connect to ${s.mqtt}: ${c.firstError ?? 'no connection'}${tlsHint}`)
  }
  const staleHint = s.devicesFile !== null && c.refusedByCode['4'] !== undefined ? ` (stale passwords in ${s.devicesFile}? delete it to register afresh)` : ''
  throw new SimError('NO_DEVICE_CONNECTED', `no device could connect to ${s.mqtt}: ${c.refusedText}${staleHint}`)
}

/** The warning when some devices could not connect, or undefined. */
export function refusedWarning (c: Connections, devices: number): string | undefined {
  if (c.refusedCount === 0) return undefined
  return `${c.refusedCount} of ${devices} devices could not connect: ${c.refusedText}; first: ${c.firstError ?? ''}`
}
