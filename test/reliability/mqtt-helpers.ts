import { readFileSync, readdirSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { spawnGateway, type ChildGateway } from '../helpers/child.js'
import { registerDevice } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import { reached, within } from '../helpers/wait.js'

// Raw MQTT 3.1.1 for the reliability cases: a seeded generator, packet encoders for every
// packet type, mutators that break them in the ways a fuzzer should, raw sockets that
// measure how soon the gateway closes them, and readings of the child's RSS and fds.

// ---------------------------------------------------------------- seeded randomness

export interface Rng {
  seed: number
  next: () => number
  int: (n: number) => number
  pick: <T>(items: readonly T[]) => T
  bytes: (n: number) => Buffer
}

/** mulberry32: small, fast, and the same sequence for the same seed. */
export function rng (seed: number): Rng {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  return {
    seed,
    next,
    int,
    pick: (items) => items[int(items.length)] as (typeof items)[number],
    bytes: (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = int(256); return b }
  }
}

// ---------------------------------------------------------------- MQTT 3.1.1 encoding

export function encodeLength (n: number): Buffer {
  const out: number[] = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0 && out.length < 4)
  return Buffer.from(out)
}

function str (s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length & 0xffff)
  return Buffer.concat([len, b])
}

function u16 (n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n & 0xffff)
  return b
}

export function packet (type: number, flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(type << 4) | (flags & 0x0f)]), encodeLength(body.length), body])
}

export interface ConnectOptions {
  clientId: string
  username?: string
  password?: string
  keepalive?: number
  clean?: boolean
  will?: { topic: string, payload: Buffer, qos?: number, retain?: boolean }
}

export function connectPacket (o: ConnectOptions): Buffer {
  let flags = 0
  if (o.clean !== false) flags |= 0x02
  if (o.will !== undefined) flags |= 0x04 | ((o.will.qos ?? 0) << 3) | (o.will.retain === true ? 0x20 : 0)
  if (o.password !== undefined) flags |= 0x40
  if (o.username !== undefined) flags |= 0x80
  const parts = [str('MQTT'), Buffer.from([4, flags]), u16(o.keepalive ?? 30), str(o.clientId)]
  if (o.will !== undefined) parts.push(str(o.will.topic), str(o.will.payload))
  if (o.username !== undefined) parts.push(str(o.username))
  if (o.password !== undefined) parts.push(str(o.password))
  return packet(1, 0, Buffer.concat(parts))
}

export function publishPacket (topic: string | Buffer, payload: Buffer, qos = 0, messageId = 1, retain = false, dup = false): Buffer {
  const flags = (dup ? 8 : 0) | (qos << 1) | (retain ? 1 : 0)
  return packet(3, flags, Buffer.concat([str(topic), qos > 0 ? u16(messageId) : Buffer.alloc(0), payload]))
}

export const pubackPacket = (id: number): Buffer => packet(4, 0, u16(id))
export const pubrecPacket = (id: number): Buffer => packet(5, 0, u16(id))
export const pubrelPacket = (id: number): Buffer => packet(6, 2, u16(id))
export const pubcompPacket = (id: number): Buffer => packet(7, 0, u16(id))
export const subscribePacket = (id: number, filters: Array<[string, number]>): Buffer =>
  packet(8, 2, Buffer.concat([u16(id), ...filters.flatMap(([f, q]) => [str(f), Buffer.from([q])])]))
export const unsubscribePacket = (id: number, filters: string[]): Buffer => packet(10, 2, Buffer.concat([u16(id), ...filters.map((f) => str(f))]))
export const pingreqPacket = (): Buffer => packet(12, 0, Buffer.alloc(0))
export const disconnectPacket = (): Buffer => packet(14, 0, Buffer.alloc(0))
// Server-to-client packets a client must never send.
export const connackPacket = (): Buffer => packet(2, 0, Buffer.from([0, 0]))
export const subackPacket = (id: number): Buffer => packet(9, 0, Buffer.concat([u16(id), Buffer.from([1])]))
export const unsubackPacket = (id: number): Buffer => packet(11, 0, u16(id))
export const pingrespPacket = (): Buffer => packet(13, 0, Buffer.alloc(0))

/** One valid packet of a random type, for `deviceId` (its own topics, mostly). */
export function validPacket (r: Rng, deviceId: string): Buffer {
  const own = `devices/${deviceId}/telemetry`
  const id = 1 + r.int(65535)
  switch (r.int(15)) {
    case 0: return connectPacket({ clientId: deviceId, username: deviceId, password: 'not-the-password', keepalive: r.int(120) })
    case 1: return publishPacket(own, Buffer.from(JSON.stringify({ t: r.int(100) })), 0)
    case 2: return publishPacket(own, Buffer.from('{"q":1}'), 1, id)
    case 3: return publishPacket(own, r.bytes(r.int(64)), 2, id)
    case 4: return pubackPacket(id)
    case 5: return pubrecPacket(id)
    case 6: return pubrelPacket(id)
    case 7: return pubcompPacket(id)
    case 8: return subscribePacket(id, [[`devices/${deviceId}/commands/#`, r.int(3)]])
    case 9: return unsubscribePacket(id, [`devices/${deviceId}/commands/#`])
    case 10: return pingreqPacket()
    case 11: return disconnectPacket()
    case 12: return connackPacket()
    case 13: return subackPacket(id)
    default: return r.pick([unsubackPacket(id), pingrespPacket()])
  }
}

export const MUTATIONS = [
  'bitflip', 'truncate', 'inflate-length', 'qos3', 'bad-flags', 'nul-topic', 'wildcard-topic',
  'deep-topic', 'max-length', 'random-bytes', 'bad-protocol', 'reserved-type', 'length-overflow', 'junk-tail'
] as const
export type Mutation = (typeof MUTATIONS)[number]

/** A broken packet: `name` says how it was broken, for the failure report. */
export function mutatedPacket (r: Rng, deviceId: string): { name: Mutation, bytes: Buffer } {
  const name = r.pick(MUTATIONS)
  const base = validPacket(r, deviceId)
  const own = `devices/${deviceId}/telemetry`
  let bytes: Buffer
  switch (name) {
    case 'bitflip': {
      bytes = Buffer.from(base)
      for (let i = 1 + r.int(4); i > 0; i--) {
        const at = r.int(bytes.length)
        bytes[at] = (bytes[at] as number) ^ (1 << r.int(8))
      }
      break
    }
    case 'truncate': bytes = base.subarray(0, r.int(base.length)); break
    case 'inflate-length': {
      // the declared remaining length is larger than what follows
      let at = 1
      while (at < base.length && ((base[at] as number) & 0x80) !== 0) at++
      const body = base.subarray(at + 1)
      bytes = Buffer.concat([base.subarray(0, 1), encodeLength(body.length + 1 + r.int(1000)), body])
      break
    }
    case 'qos3': bytes = packet(3, 0x06 | r.int(2) | (r.int(2) << 3), Buffer.concat([str(own), u16(1), Buffer.from('x')])); break
    case 'bad-flags': bytes = Buffer.concat([Buffer.from([((base[0] as number) & 0xf0) | (1 + r.int(15))]), base.subarray(1)]); break
    case 'nul-topic': bytes = publishPacket(`${own}\u0000x`, Buffer.from('{}'), r.int(2), 1); break
    case 'wildcard-topic': bytes = publishPacket(r.pick([`${own}/#`, 'devices/+/telemetry', '#', '+', `${own}/+/x`]), Buffer.from('{}'), r.int(2), 1); break
    case 'deep-topic': bytes = publishPacket(`${own}/${'a/'.repeat(200 + r.int(800))}z`, Buffer.from('{}'), r.int(2), 1); break
    case 'max-length': bytes = Buffer.concat([Buffer.from([0x30 | (r.int(3) << 1)]), Buffer.from([0xff, 0xff, 0xff, 0x7f]), r.bytes(r.int(64))]); break
    case 'random-bytes': bytes = r.bytes(1 + r.int(256)); break
    case 'bad-protocol': bytes = packet(1, 0, Buffer.concat([str(r.pick(['MQIsdp', 'MQTX', ''])), Buffer.from([r.int(256), r.int(256)]), u16(10), str('x')])); break
    case 'reserved-type': bytes = packet(r.pick([0, 15]), 0, r.bytes(r.int(16))); break
    case 'length-overflow': bytes = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]); break
    default: bytes = Buffer.concat([base, r.bytes(1 + r.int(32))]); break // junk-tail
  }
  return { name, bytes }
}

// ---------------------------------------------------------------- raw sockets

export interface RawConnection {
  socket: Socket
  opened: number
  /** Resolves with the time the socket closed (ms since epoch). */
  closed: Promise<number>
  /** Every byte received. */
  received: () => Buffer
  /** Resolves once `n` bytes have arrived (false when the socket closed first or the wait ended). */
  waitBytes: (n: number, timeoutMs: number) => Promise<boolean>
  write: (b: Buffer) => boolean
  destroy: () => void
}

export async function rawConnect (url: string, localAddress?: string): Promise<RawConnection> {
  const u = new URL(url)
  const socket = connect({ host: u.hostname, port: Number(u.port), localAddress })
  socket.setNoDelay(true)
  let data = Buffer.alloc(0)
  let wake: () => void = () => {}
  socket.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); wake() })
  socket.on('error', () => {})
  const state = { closed: false }
  const closed = new Promise<number>((resolve) => socket.once('close', () => { state.closed = true; wake(); resolve(Date.now()) }))
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve())
    socket.once('close', () => reject(new Error(`connection to ${url} closed before it opened`)))
  })
  return {
    socket,
    opened: Date.now(),
    closed,
    received: () => data,
    waitBytes: async (n, timeoutMs) => {
      const deadline = Date.now() + timeoutMs
      while (data.length < n && !state.closed && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.max(1, deadline - Date.now()))
          wake = () => { clearTimeout(t); resolve() }
        })
      }
      return data.length >= n
    },
    write: (b) => socket.destroyed ? false : socket.write(b),
    destroy: () => { socket.destroy() }
  }
}

/** Resolves with ms until the socket closes, or undefined when it is still open after `timeoutMs`. */
export async function closedWithin (c: RawConnection, since: number, timeoutMs: number): Promise<number | undefined> {
  const at = await within(c.closed, { timeoutMs, orElse: undefined })
  return at === undefined ? undefined : at - since
}

/** CONNECT with a device's credentials and wait for CONNACK 0; throws otherwise. */
export async function rawLogin (url: string, deviceId: string, password: string, keepalive: number): Promise<RawConnection> {
  const c = await rawConnect(url)
  c.write(connectPacket({ clientId: deviceId, username: deviceId, password, keepalive }))
  const got = await c.waitBytes(4, 10_000)
  const r = c.received()
  if (!got || r[0] !== 0x20 || r[3] !== 0) {
    c.destroy()
    throw new Error(`login of ${deviceId} failed: ${r.toString('hex')}`)
  }
  return c
}

// ---------------------------------------------------------------- the gateway under attack

export interface Target {
  gw: ChildGateway
  pid: number
  mqtt: string
  ws: string
  /** The temp directory (the data dir is under it). */
  dir: string
  stop: () => Promise<void>
}

const KEY = 'reliability-mqtt-key-0123456789'

/** A child gateway with extra YAML config lines under `mqtt:` (indented by the caller). */
export async function startTarget (mqttYaml: string, env: Record<string, string> = {}): Promise<Target> {
  const dir = await tempDir('gridgate-rel-mqtt-')
  let gw: ChildGateway | undefined
  try {
    const config = join(dir.path, 'gridgate.yaml')
    await writeFile(config, `mqtt:\n${mqttYaml}\ntelemetry:\n  enabled: false\n`)
    gw = await spawnGateway({ args: ['start', '--config', config], env: { GRIDGATE_DATA_DIR: join(dir.path, 'data'), GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'error', ...env } })
  } catch (err) {
    await dir.remove()
    throw err
  }
  const child = gw
  return {
    gw: child,
    pid: child.proc.pid as number,
    mqtt: child.listeners.mqtt as string,
    ws: child.listeners.ws as string,
    dir: dir.path,
    stop: async () => {
      await child.kill('SIGKILL')
      await dir.remove()
    }
  }
}

export async function registerMany (gw: ChildGateway, prefix: string, n: number): Promise<Array<{ id: string, password: string }>> {
  const out: Array<{ id: string, password: string }> = []
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`
    out.push({ id, password: await registerDevice(gw, id) })
  }
  return out
}

/** The child's resident set in bytes (0 once it is gone). */
export function rssOf (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch { return 0 }
}

export function fdsOf (pid: number): number {
  try { return readdirSync(`/proc/${pid}/fd`).length } catch { return -1 }
}

export async function metric (gw: ChildGateway, name: string): Promise<number | undefined> {
  const res = await gw.request('GET', '/metrics')
  let sum: number | undefined
  for (const line of res.text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return sum
}

/** Node options for a child whose live heap `liveHeap` can measure: SIGUSR2 writes a heap snapshot into `dir`. */
export const snapshotOptions = (dir: string): Record<string, string> =>
  ({ NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}`.trim() })

/**
 * The child's heap after a full collection: a heap snapshot (SIGUSR2) collects first and
 * blocks the child's thread while it is written, so the metrics request that follows is
 * answered right after it. The snapshot file is deleted.
 */
export async function liveHeap (t: Target, dir: string): Promise<number> {
  const before = new Set(readdirSync(dir))
  t.gw.proc.kill('SIGUSR2')
  let file: string | undefined
  await reached(() => (file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))) !== undefined, { timeoutMs: 5000, everyMs: 25 })
  const heap = await metric(t.gw, 'nodejs_heap_size_used_bytes') ?? 0
  if (file !== undefined) await rm(join(dir, file), { force: true })
  return heap
}

export const alive = (t: Target): boolean => t.gw.proc.exitCode === null && t.gw.proc.signalCode === null

export const mb = (bytes: number): string => `${(bytes / 1_048_576).toFixed(1)} MB`

/** Runs `work(i)` for i in [0, n) with at most `concurrency` at once. */
export async function pool (n: number, concurrency: number, work: (i: number, worker: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async (_, worker) => {
    while (next < n) {
      const i = next++
      await work(i, worker)
    }
  }))
}
