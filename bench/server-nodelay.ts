import { Server as HttpServer } from 'node:http'
import net from 'node:net'

// Preloaded into the servers of the commands bench (`node --import tsx --import
// ./bench/server-nodelay.ts ...`, IPC channel open). It changes nothing until asked: it
// only remembers the sockets that plain net.Servers accept (the MQTT listeners of gridgate
// and bench/bare-aedes.ts; HTTP servers are left alone, Node already turns Nagle off on
// theirs). On `{ nodelay: id, on: boolean }` it turns Nagle's algorithm off (on: true) or
// back on (on: false) on every such socket, and on those accepted later, and answers
// `{ nodelay: id, sockets: n }`. Neither gridgate nor aedes sets noDelay by itself, so
// `on: false` is the server as shipped.

const sockets = new Set<net.Socket>()
let noDelay = false

type Emit = (this: net.Server, event: string | symbol, ...args: unknown[]) => boolean
const proto = net.Server.prototype as unknown as { emit: Emit }
const emit = proto.emit
proto.emit = function (event, ...args) {
  if (event === 'connection' && !(this instanceof HttpServer)) {
    const socket = args[0] as net.Socket
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    if (noDelay) socket.setNoDelay(true)
  }
  return emit.call(this, event, ...args)
}

if (typeof process.send === 'function') {
  process.on('message', (m: unknown) => {
    const req = m as { nodelay?: unknown, on?: unknown } | null
    if (req === null || typeof req !== 'object' || typeof req.nodelay !== 'number') return
    noDelay = req.on === true
    for (const s of sockets) s.setNoDelay(noDelay)
    process.send?.({ nodelay: req.nodelay, sockets: sockets.size })
  })
  // The channel alone must not keep the server alive (it exits on SIGTERM as usual).
  process.channel?.unref()
}
