import { once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import type { Writable } from 'node:stream'
import { createServer as createTlsServer } from 'node:tls'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'
import { countPackets, headerWalker, meterWrites, type TrafficCounters } from './traffic.js'

// The four MQTT transports. WebSockets use ws 8 directly with createWebSocketStream, as
// aedes' own examples do: websocket-stream would pull in ws 3.x with known DoS advisories.

export interface TlsMaterial {
  cert: Buffer
  key: Buffer
  /** CA for device client certificates; without it no certificate is asked for. */
  ca?: Buffer
}

export interface ListenerOptions {
  host: string
  port: number
  wsPort: number
  tlsPort: number
  wssPort: number
  tls?: TlsMaterial
  /** Largest WebSocket message accepted (the MQTT payload limit plus headers). */
  maxWsPayload: number
  /** Largest MQTT packet (remaining length) accepted; a larger declared length closes the connection at once. */
  maxPacketBytes?: number
  /** Open sockets over all listeners (0 = no limit); more are destroyed on arrival. */
  maxConnections: number
  /** Open sockets per remote address (0 = no limit). */
  maxConnectionsPerAddress: number
  /** Counts packets and bytes both ways (for $SYS); nothing is counted without it. */
  traffic?: TrafficCounters
}

interface Readable { read: (size?: number) => unknown, destroy: () => void }

/**
 * Watches the fixed headers of the MQTT packets flowing through `stream.read` (aedes pulls
 * its bytes with read()) and destroys the stream as soon as a packet declares a remaining
 * length over `max`, so a declared 256 MB packet is cut after its first bytes instead of
 * being buffered by the parser until it is complete. Costs a few steps per packet. With
 * `traffic`, the packets and bytes read are counted on the way.
 */
export function guardPacketSize (stream: Readable, max: number, traffic?: TrafficCounters): void {
  const count = traffic === undefined ? undefined : countPackets(traffic, 'received')
  const walk = headerWalker((type, length) => {
    if (length > max) return false
    count?.(type)
    return true
  })
  const read = stream.read.bind(stream)
  stream.read = (size?: number): unknown => {
    const chunk = read(size)
    if (!Buffer.isBuffer(chunk)) return chunk
    if (traffic !== undefined) traffic.bytesReceived += chunk.length
    if (!walk(chunk)) {
      stream.destroy()
      return null
    }
    return chunk
  }
}

/** The guard and, with `traffic`, the write-side count, on one client stream. */
function instrument (stream: Readable & Pick<Writable, 'write'>, opts: ListenerOptions): void {
  if (opts.maxPacketBytes !== undefined || opts.traffic !== undefined) guardPacketSize(stream, opts.maxPacketBytes ?? Number.POSITIVE_INFINITY, opts.traffic)
  if (opts.traffic !== undefined) meterWrites(stream as unknown as Parameters<typeof meterWrites>[0], opts.traffic)
}

export interface MqttListeners {
  urls: Record<string, string>
  close: () => Promise<void>
}

const WS_PATH = '/mqtt'

function urlOf (scheme: string, server: Server | HttpServer, path = ''): string {
  const a = server.address() as AddressInfo
  const host = a.address === '0.0.0.0' || a.address === '::' ? '127.0.0.1' : a.family === 'IPv6' ? `[${a.address}]` : a.address
  return `${scheme}://${host}:${a.port}${path}`
}

async function listen (server: Server | HttpServer, host: string, port: number): Promise<void> {
  server.listen(port, host)
  await once(server, 'listening')
}

export async function startMqttListeners (aedes: Aedes, opts: ListenerOptions): Promise<MqttListeners> {
  const servers: Array<Server | HttpServer> = []
  const sockets: WebSocketServer[] = []
  const urls: Record<string, string> = {}
  const tlsOptions = opts.tls === undefined
    ? undefined
    : { cert: opts.tls.cert, key: opts.tls.key, ca: opts.tls.ca, requestCert: opts.tls.ca !== undefined, rejectUnauthorized: false }

  const withWebSocket = (server: HttpServer): void => {
    const wss = new WebSocketServer({ server, path: WS_PATH, maxPayload: opts.maxWsPayload })
    wss.on('connection', (ws, req) => {
      const stream = createWebSocketStream(ws)
      stream.on('error', () => ws.terminate())
      instrument(stream, opts)
      aedes.handle(stream, req)
    })
    sockets.push(wss)
  }

  // Open sockets of every server, so close() does not wait on clients that never leave.
  const open = new Set<{ destroy: () => void }>()
  const perAddress = new Map<string, number>()
  const maxTotal = opts.maxConnections
  const maxPerAddress = opts.maxConnectionsPerAddress
  const track = <S extends Server | HttpServer>(server: S): S => {
    // Ahead of the server's own listener, so a refused socket never reaches aedes.
    server.prependListener('connection', (socket: { destroy: () => void, once: (e: string, f: () => void) => void, setNoDelay?: (on: boolean) => void, remoteAddress?: string }) => {
      const address = socket.remoteAddress ?? 'unknown'
      const fromAddress = perAddress.get(address) ?? 0
      if ((maxTotal > 0 && open.size >= maxTotal) || (maxPerAddress > 0 && fromAddress >= maxPerAddress)) {
        socket.destroy() // over the connection limits: closed before any byte is read
        return
      }
      // MQTT is request/response (PUBLISH/PUBACK): Nagle plus delayed ACKs would add ~40 ms stalls.
      socket.setNoDelay?.(true)
      open.add(socket)
      perAddress.set(address, fromAddress + 1)
      socket.once('close', () => {
        open.delete(socket)
        const n = (perAddress.get(address) ?? 1) - 1
        if (n > 0) perAddress.set(address, n)
        else perAddress.delete(address)
      })
    })
    servers.push(server)
    return server
  }

  const close = async (): Promise<void> => {
    for (const wss of sockets) {
      for (const ws of wss.clients) ws.terminate()
      wss.close()
    }
    await Promise.all(servers.map(async (s) => {
      if (!s.listening) return
      const closed = once(s, 'close')
      s.close()
      for (const socket of open) socket.destroy()
      await closed
    }))
  }

  try {
    const handle = (socket: Socket): void => {
      if (socket.destroyed) return // refused by the connection limits
      instrument(socket, opts)
      aedes.handle(socket)
    }
    const tcp = track(createNetServer({ allowHalfOpen: true }, handle))
    await listen(tcp, opts.host, opts.port)
    urls.mqtt = urlOf('mqtt', tcp)

    const ws = track(createHttpServer())
    withWebSocket(ws)
    await listen(ws, opts.host, opts.wsPort)
    urls.ws = urlOf('ws', ws, WS_PATH)

    if (tlsOptions !== undefined) {
      const tls = track(createTlsServer({ ...tlsOptions, allowHalfOpen: true }, handle))
      await listen(tls, opts.host, opts.tlsPort)
      urls.mqtts = urlOf('mqtts', tls)

      const wss = track(createHttpsServer(tlsOptions))
      withWebSocket(wss)
      await listen(wss, opts.host, opts.wssPort)
      urls.wss = urlOf('wss', wss, WS_PATH)
    }
  } catch (err) {
    await close()
    throw err
  }
  return { urls, close }
}
