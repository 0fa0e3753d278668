import { once } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net'
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
      aedes.handle(stream, req)
    })
    sockets.push(wss)
  }

  // Open sockets of every server, so close() does not wait on clients that never leave.
  const open = new Set<{ destroy: () => void }>()
  const track = <S extends Server | HttpServer>(server: S): S => {
    server.on('connection', (socket: { destroy: () => void, once: (e: string, f: () => void) => void, setNoDelay?: (on: boolean) => void }) => {
      // MQTT is request/response (PUBLISH/PUBACK): Nagle plus delayed ACKs would add ~40 ms stalls.
      socket.setNoDelay?.(true)
      open.add(socket)
      socket.once('close', () => open.delete(socket))
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
    const tcp = track(createNetServer((socket) => aedes.handle(socket)))
    await listen(tcp, opts.host, opts.port)
    urls.mqtt = urlOf('mqtt', tcp)

    const ws = track(createHttpServer())
    withWebSocket(ws)
    await listen(ws, opts.host, opts.wsPort)
    urls.ws = urlOf('ws', ws, WS_PATH)

    if (tlsOptions !== undefined) {
      const tls = track(createTlsServer(tlsOptions, (socket) => aedes.handle(socket)))
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
