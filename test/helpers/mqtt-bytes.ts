import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { within } from './wait.js'

// MQTT 3.1.1 packets as bytes, for tests where the exact bytes on the wire matter (what a
// client library would never send, or a CONNACK byte to check), over a raw TCP socket.

function remainingLength (n: number): number[] {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return out
}

function utf8 (s: string): Buffer {
  const b = Buffer.from(s, 'utf8')
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

export interface ConnectFields {
  clientId: string
  clean: boolean
  username?: string
  password?: string
  keepaliveSeconds?: number
  /** 4: MQTT 3.1.1 ('MQTT'); 3: MQTT 3.1 ('MQIsdp'). */
  protocolLevel?: 3 | 4
}

/** A CONNECT packet, byte for byte (§3.1). */
export function connectPacket (f: ConnectFields): Buffer {
  const level = f.protocolLevel ?? 4
  const flags = (f.username === undefined ? 0 : 0x80) | (f.password === undefined ? 0 : 0x40) | (f.clean ? 0x02 : 0)
  const keepalive = f.keepaliveSeconds ?? 60
  const body = Buffer.concat([
    utf8(level === 4 ? 'MQTT' : 'MQIsdp'),
    Buffer.from([level, flags, keepalive >> 8, keepalive & 0xff]),
    utf8(f.clientId),
    ...(f.username === undefined ? [] : [utf8(f.username)]),
    ...(f.password === undefined ? [] : [utf8(f.password)])
  ])
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(body.length)]), body])
}

export const DISCONNECT = Buffer.from([0xe0, 0x00])

export interface RawMqtt {
  socket: Socket
  /** Every byte received so far. */
  received: () => Buffer
  /** Resolves when the server has closed the connection (or it errored). */
  closed: Promise<void>
}

/** A raw TCP connection to an mqtt:// URL, or TLS to an mqtts:// one (with `tls` options). */
export async function rawConnection (url: string, tls: ConnectionOptions = {}): Promise<RawMqtt> {
  const { protocol, hostname, port } = new URL(url)
  const socket: Socket = protocol === 'mqtts:'
    ? tlsConnect({ host: hostname, port: Number(port), ...tls })
    : netConnect({ host: hostname, port: Number(port) })
  let data = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => { data = Buffer.concat([data, chunk]) })
  const closed = new Promise<void>((resolve) => { socket.once('close', () => resolve()) })
  socket.on('error', () => {})
  const ready = protocol === 'mqtts:' ? 'secureConnect' : 'connect'
  await within(new Promise<void>((resolve, reject) => { socket.once(ready, resolve); socket.once('error', reject) }), { timeoutMs: 5_000, what: `a connection to ${url}` })
  return { socket, received: () => data, closed }
}

/** The CONNACK's bytes once they arrived: [0x20, 0x02, sessionPresent, returnCode]. */
export async function connackOf (raw: RawMqtt, timeoutMs = 10_000): Promise<{ bytes: number[], sessionPresent: number, returnCode: number }> {
  const arrived = new Promise<void>((resolve, reject) => {
    const check = (): void => { if (raw.received().length >= 4) { raw.socket.off('data', check); resolve() } }
    raw.socket.on('data', check)
    check()
    void raw.closed.then(() => { if (raw.received().length < 4) reject(new Error(`closed after ${raw.received().length} bytes, before a whole CONNACK`)) })
  })
  await within(arrived, { timeoutMs, what: 'a CONNACK' })
  const bytes = [...raw.received().subarray(0, 4)]
  return { bytes, sessionPresent: bytes[2] as number, returnCode: bytes[3] as number }
}
