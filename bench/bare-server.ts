import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

// The HTTP baseline: a bare node:http server that reads the whole request body into one
// Buffer (as gridgate does before decoding it) and answers 200 `{}`, parsing nothing.
// Started as a child by bench/http-publish.ts; prints the same "listening" line as gridgate.

const reply = Buffer.from('{}')

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  req.on('end', () => {
    Buffer.concat(chunks)
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': reply.length })
    res.end(reply)
  })
})
// Fastify's default, so idle keep-alive connections live equally long on both servers.
server.keepAliveTimeout = 72_000

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  process.stdout.write(JSON.stringify({ msg: 'listening', listeners: { http: `http://127.0.0.1:${port}` } }) + '\n')
})

const stop = (): void => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
