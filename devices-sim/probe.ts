import { connect as netConnect } from 'node:net'
import { describeNetworkError, SimError } from './errors.js'

// The quick "is anything there" before devices are registered and workers connect: one TCP
// connection to the broker's host and port.

/** Resolves once a TCP connection to the broker's host and port opens; MQTT_UNREACHABLE otherwise. */
export async function probeBroker (url: string, timeoutMs = 5000): Promise<void> {
  const u = new URL(url)
  await new Promise<void>((resolve, reject) => {
    const socket = netConnect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), timeout: timeoutMs })
    socket.once('connect', () => { socket.destroy(); resolve() })
    socket.once('timeout', () => { socket.destroy(); reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })) })
    socket.once('error', reject)
  }).catch((err: unknown) => {
    throw new SimError('MQTT_UNREACHABLE', `cannot reach the MQTT broker at ${url}: ${describeNetworkError(err)}`)
  })
}
