import { once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Aedes } from 'aedes'

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
}

interface Readable { read: (size?: number) => unknown, destroy: () => void }

/**
 * Watches the fixed headers of the MQTT packets flowing through `stream.read` (aedes pulls
 * its bytes with read()) and destroys the stream as soon as a packet declares a remaining
 * length over `max`, so a declared 256 MB packet is cut after its first bytes instead of
 * being buffered by the parser until it is complete. Costs a few steps per packet.
 */
export function guardPacketSize (stream: Readable, max: number): void {
  let skip = 0 // body bytes of the current packet still to pass
  let state = 0 // 0: expecting a packet's first byte; 1..4: reading its length byte n
  let length = 0
  let multiplier = 1
  const read = stream.read.bind(stream)
  stream.read = (size?: number): unknown => {
    const chunk = read(size)
    if (!Buffer.isBuffer(chunk)) return chunk
    let i = 0
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i)
        skip -= n
        i += n
        continue
      }
      const byte = chunk[i++] as number
      if (state === 0) { state = 1; length = 0; multiplier = 1; continue }
      length += (byte & 0x7f) * multiplier
      multiplier *= 128
      if ((byte & 0x80) !== 0 && state < 4) { state++; continue }
      state = 0
      if (length > max) {
        stream.destroy()
        return null
      }
      skip = length
    }
    return chunk
  }
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
      if (opts.maxPacketBytes !== undefined) guardPacketSize(stream, opts.maxPacketBytes)
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
      if (opts.maxPacketBytes !== undefined) guardPacketSize(socket, opts.maxPacketBytes)
      aedes.handle(socket)
    }
    const tcp = track(createNetServer(handle))
    await listen(tcp, opts.host, opts.port)
    urls.mqtt = urlOf('mqtt', tcp)

    const ws = track(createHttpServer())
    withWebSocket(ws)
    await listen(ws, opts.host, opts.wsPort)
    urls.ws = urlOf('ws', ws, WS_PATH)

    if (tlsOptions !== undefined) {
      const tls = track(createTlsServer(tlsOptions, handle))
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
