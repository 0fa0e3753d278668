import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes } from 'aedes'

// The MQTT baseline: aedes as its README starts it, `Aedes.createBroker()` with the default
// in-memory persistence, on a TCP listener, with an authenticate hook that lets everyone in
// and no other hooks (so QoS 1 PUBACKs go out as soon as a publish is parsed). Started as a
// child by bench/mqtt-ingest.ts; prints the same "listening" line as gridgate.

const aedes = await Aedes.createBroker({
  authenticate: (_client, _username, _password, done) => { done(null, true) }
})

const sockets = new Set<Socket>()
const server = createServer((socket) => {
  sockets.add(socket)
  socket.once('close', () => sockets.delete(socket))
  aedes.handle(socket)
})

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(JSON.stringify({ msg: 'listening', listeners: { mqtt: `mqtt://127.0.0.1:${port}` } }) + '\n')
})

const stop = (): void => {
  aedes.close(() => {
    for (const s of sockets) s.destroy()
    server.close(() => process.exit(0))
  })
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
