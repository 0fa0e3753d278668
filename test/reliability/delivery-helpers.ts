import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createConnection, type AddressInfo, type Socket } from 'node:net'
import { spawnGateway, type ChildGateway } from '../helpers/child.js'
import { tempDir } from '../helpers/tmp.js'

// Helpers of the delivery, HTTP and permission reliability cases (cases-delivery.ts).

export const KEY = 'reliability-key-0123456789'

/** Resident set size of a process in bytes (Linux /proc), or 0 when it is gone. */
export async function rssOf (pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const m = /VmRSS:\s+(\d+) kB/.exec(status)
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

export function mib (bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MiB`
}

export interface Hook {
  server: Server
  url: string
  close: () => Promise<void>
}

/**
 * A webhook receiver on 127.0.0.1 that consents to the validation handshake and hands every
 * other request to `onPost` (which must answer it, or not, as the case wants).
 */
export async function startHook (onPost: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void, opts: { readBody?: boolean } = {}): Promise<Hook> {
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      const origin = req.headers['webhook-request-origin']
      if (typeof origin === 'string') res.setHeader('WebHook-Allowed-Origin', origin)
      res.writeHead(200).end()
      return
    }
    if (opts.readBody === false) {
      onPost(req, res, Buffer.alloc(0))
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => { onPost(req, res, Buffer.concat(chunks)) })
    req.on('error', () => {})
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return {
    server,
    url: `http://127.0.0.1:${port}/hook`,
    close: async () => {
      server.closeAllConnections()
      server.close()
      await once(server, 'close').catch(() => {})
    }
  }
}

export function pushSub (endpointUrl: string, push: Record<string, unknown> = {}, destination: Record<string, unknown> = {}): unknown {
  return { properties: { deliveryConfiguration: { deliveryMode: 'Push', push: { ...push, destination: { endpointType: 'WebHook', properties: { endpointUrl, ...destination } } } } } }
}

export function queueSub (queue: Record<string, unknown> = {}): unknown {
  return { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue } } }
}

/** Runs the cleanups in reverse order, each even when an earlier one failed. */
export class Cleanup {
  private readonly fns: Array<() => unknown> = []
  add (fn: () => unknown): void { this.fns.push(fn) }
  async run (): Promise<void> {
    while (this.fns.length > 0) {
      try { await this.fns.pop()?.() } catch { /* keep cleaning */ }
    }
  }
}

/** A child gateway (`gridgate start --config FILE`) with its own temp dataDir, cleaned up by `cleanup`. */
export async function startChild (cleanup: Cleanup, configYaml: string, env: Record<string, string> = {}): Promise<ChildGateway> {
  const dir = await tempDir('gridgate-rel-delivery-')
  cleanup.add(dir.remove)
  const file = join(dir.path, 'config.yaml')
  await writeFile(file, configYaml, 'utf8')
  const child = await spawnGateway({
    args: ['start', '--config', file],
    env: { GRIDGATE_DATA_DIR: join(dir.path, 'data'), GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn', ...env }
  })
  cleanup.add(async () => await child.kill('SIGKILL'))
  return child
}

// A raw MQTT 3.1.1 client: byte-exact topics (NUL, look-alike Unicode, empty) that mqtt.js
// would refuse to send.

function mqttBytes (s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

function frame (first: number, body: Buffer): Buffer {
  const len: number[] = []
  let n = body.length
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    len.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from([first, ...len]), body])
}

export interface RawConnect { clientId: string, username?: string, password?: string, will?: { topic: string | Buffer, qos: number }, cleanSession?: boolean }

export function connectPacket (c: RawConnect): Buffer {
  let flags = c.cleanSession === false ? 0 : 0x02 // clean session unless asked otherwise
  if (c.username !== undefined) flags |= 0x80
  if (c.password !== undefined) flags |= 0x40
  if (c.will !== undefined) flags |= 0x04 | (c.will.qos << 3)
  const parts = [mqttBytes('MQTT'), Buffer.from([4, flags, 0, 30]), mqttBytes(c.clientId)]
  if (c.will !== undefined) parts.push(mqttBytes(c.will.topic), mqttBytes('{"gone":true}'))
  if (c.username !== undefined) parts.push(mqttBytes(c.username))
  if (c.password !== undefined) parts.push(mqttBytes(c.password))
  return frame(0x10, Buffer.concat(parts))
}

export function publishPacket (topic: string | Buffer, qos: 0 | 1, id = 1): Buffer {
  const parts = [mqttBytes(topic)]
  if (qos > 0) parts.push(Buffer.from([id >> 8, id & 0xff]))
  parts.push(Buffer.from('{"x":1}'))
  return frame(0x30 | (qos << 1), Buffer.concat(parts))
}

export function subscribePacket (filter: string | Buffer, id = 1): Buffer {
  return frame(0x82, Buffer.concat([Buffer.from([id >> 8, id & 0xff]), mqttBytes(filter), Buffer.from([1])]))
}

export interface RawPacket { type: number, body: Buffer }

/** One raw MQTT connection: what came back, and whether the broker closed it. */
export class RawMqtt {
  readonly packets: RawPacket[] = []
  closed = false
  private buf = Buffer.alloc(0)
  private readonly waiters = new Set<() => void>()

  private constructor (readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d])
      for (;;) {
        let len = 0
        let mul = 1
        let i = 1
        let complete = false
        for (; i < this.buf.length && i <= 4; i++) {
          const b = this.buf[i] as number
          len += (b & 0x7f) * mul
          mul *= 128
          if ((b & 0x80) === 0) { complete = true; i++; break }
        }
        if (!complete || this.buf.length < i + len) break
        this.packets.push({ type: (this.buf[0] as number) >> 4, body: this.buf.subarray(i, i + len) })
        this.buf = this.buf.subarray(i + len)
      }
      this.wake()
    })
    socket.on('close', () => { this.closed = true; this.wake() })
    socket.on('error', () => {})
  }

  private wake (): void { for (const w of this.waiters) w() }

  static async open (url: string): Promise<RawMqtt> {
    const { hostname, port } = new URL(url)
    const socket = createConnection(Number(port), hostname)
    await once(socket, 'connect')
    return new RawMqtt(socket)
  }

  send (b: Buffer): void { if (!this.socket.destroyed) this.socket.write(b) }

  /** Resolves true once `check` holds (checked on every packet and on close), false after `ms`. */
  async until (check: () => boolean, ms: number): Promise<boolean> {
    if (check()) return true
    return await new Promise<boolean>((resolve) => {
      const done = (ok: boolean): void => { clearTimeout(timer); this.waiters.delete(w); resolve(ok) }
      const w = (): void => { if (check()) done(true) }
      const timer = setTimeout(() => done(check()), ms)
      this.waiters.add(w)
    })
  }

  /** CONNACK return code, or -1 when the connection closed without one. */
  async connack (c: RawConnect, ms = 5000): Promise<number> {
    this.send(connectPacket(c))
    await this.until(() => this.closed || this.packets.some((p) => p.type === 2), ms)
    const p = this.packets.find((p) => p.type === 2)
    return p === undefined ? -1 : p.body[1] as number
  }

  close (): void { this.socket.destroy() }
}

/**
 * POSTs a body with node:http and resolves with the answer even when the server answers (and
 * closes) before the body is all sent, as it should for a body over its limit; fetch would
 * report that as EPIPE instead of the answer.
 */
export async function postEarlyAnswer (url: string, body: string, headers: Record<string, string>): Promise<{ status: number, code?: string }> {
  return await new Promise((resolve) => {
    let settled = false
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = ''
      res.on('data', (d: Buffer) => { text += d.toString() })
      res.on('error', () => {})
      res.on('end', () => {
        settled = true
        let code: string | undefined
        try { code = (JSON.parse(text) as { error?: { code?: string } }).error?.code } catch { code = undefined }
        resolve({ status: res.statusCode ?? 0, code })
      })
    })
    req.on('error', () => { if (!settled) setTimeout(() => { if (!settled) resolve({ status: 0 }) }, 1000) })
    req.end(body)
  })
}
