import { createServer, type AddressInfo, type Socket } from 'node:net'
import { Aedes, type AuthorizePublishHandler } from 'aedes'
import { Level } from 'level'

// The MQTT baselines: aedes as its README starts it, `Aedes.createBroker()` with the default
// in-memory persistence, on a TCP listener, with an authenticate hook that lets everyone in
// and no other hooks (so QoS 1 PUBACKs go out as soon as a publish is parsed). Started as a
// child by bench/mqtt-ingest.ts; prints the same "listening" line as gridgate.
//
// `--durable DIR`: the same broker made durable in the least a durable broker can do, the
// floor for a gateway that acknowledges only what is on disk: an authorizePublish hook queues
// each publish's payload, and one write at a time puts everything queued as ONE LevelDB record
// (classic-level, `sync: true`, the gateway's 64 MiB write buffer) and only then lets aedes send
// the PUBACKs. No CloudEvent, no authorisation, no offsets, no telemetry.

const dirAt = process.argv.indexOf('--durable')
const durableDir = dirAt > 0 ? process.argv[dirAt + 1] : undefined

function durableHook (dir: string): { hook: AuthorizePublishHandler, close: () => Promise<void> } {
  const db = new Level<string, Buffer>(dir, { valueEncoding: 'buffer', writeBufferSize: 64 * 1_048_576 })
  let queue: Array<[Buffer, (err?: Error | null) => void]> = []
  let writing = false
  let seq = 0
  const run = async (): Promise<void> => {
    if (writing) return
    writing = true
    while (queue.length > 0) {
      const batch = queue
      queue = []
      const value = Buffer.concat(batch.map(([payload]) => payload))
      let error: Error | null = null
      try {
        await db.put(String(seq++).padStart(12, '0'), value, { sync: true } as never)
      } catch (err) {
        error = err as Error
      }
      for (const [, done] of batch) done(error)
    }
    writing = false
  }
  return {
    hook: (_client, packet, done) => {
      queue.push([packet.payload as Buffer, done])
      if (queue.length === 1 && !writing) setImmediate(() => { void run() })
    },
    close: async () => { await db.close() }
  }
}

const durable = durableDir === undefined ? undefined : durableHook(durableDir)
const aedes = await Aedes.createBroker({
  authenticate: (_client, _username, _password, done) => { done(null, true) },
  ...(durable === undefined ? {} : { authorizePublish: durable.hook })
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
    server.close(() => { void (durable?.close() ?? Promise.resolve()).finally(() => process.exit(0)) })
  })
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
