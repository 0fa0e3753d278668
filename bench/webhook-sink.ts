import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'

// The webhook receiver of the delivery bench (bench/delivery.ts), run as a child process:
// consents to the CloudEvents validation handshake (OPTIONS), answers every POST 200 with an
// empty body as soon as it has read it, and counts per URL path the requests, the events
// (one `"seq":N` per bench event, found with Buffer.indexOf, nothing parsed) and the
// distinct values of `seq`, so duplicates show. Counts are read over the IPC channel:
// `{ sink: id, op: 'stats' }` → `{ sink: id, loopActiveMs, paths: { [path]: PathStats } }`;
// `{ sink: id, op: 'forget', path }` drops a path's counters (and its memory).

export interface PathStats {
  requests: number
  events: number
  /** Events whose seq was seen before on this path. */
  duplicates: number
  distinct: number
  minSeq: number
  maxSeq: number
  /** Bodies without any `"seq":` (counted as one event each). */
  unparsed: number
}

interface PathState extends PathStats {
  /** One bit per seq seen. */
  seen: Uint8Array
}

const SEQ = Buffer.from('"seq":')
const paths = new Map<string, PathState>()

function stateOf (path: string): PathState {
  let s = paths.get(path)
  if (s === undefined) {
    s = { requests: 0, events: 0, duplicates: 0, distinct: 0, minSeq: Number.POSITIVE_INFINITY, maxSeq: -1, unparsed: 0, seen: new Uint8Array(1 << 16) }
    paths.set(path, s)
  }
  return s
}

function record (s: PathState, seq: number): void {
  s.events++
  const byte = seq >>> 3
  if (byte >= s.seen.length) {
    let size = s.seen.length
    while (size <= byte) size *= 2
    const grown = new Uint8Array(size)
    grown.set(s.seen)
    s.seen = grown
  }
  const bit = 1 << (seq & 7)
  if (((s.seen[byte] as number) & bit) !== 0) {
    s.duplicates++
  } else {
    s.seen[byte] = (s.seen[byte] as number) | bit
    s.distinct++
  }
  if (seq < s.minSeq) s.minSeq = seq
  if (seq > s.maxSeq) s.maxSeq = seq
}

function count (path: string, body: Buffer): void {
  const s = stateOf(path)
  s.requests++
  let found = 0
  let i = body.indexOf(SEQ)
  while (i !== -1) {
    let j = i + SEQ.length
    let n = 0
    let digits = 0
    for (let c = body[j]; c !== undefined && c >= 48 && c <= 57; c = body[++j]) {
      n = n * 10 + c - 48
      digits++
    }
    if (digits > 0) {
      record(s, n)
      found++
    }
    i = body.indexOf(SEQ, j)
  }
  if (found === 0) {
    s.events++
    s.unparsed++
  }
}

const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (chunk: Buffer) => { chunks.push(chunk) })
  req.on('end', () => {
    if (req.method === 'OPTIONS') {
      const origin = req.headers['webhook-request-origin']
      res.writeHead(200, { 'webhook-allowed-origin': typeof origin === 'string' ? origin : '*', 'content-length': 0 })
      res.end()
      return
    }
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    count(q === -1 ? url : url.slice(0, q), chunks.length === 1 ? chunks[0] as Buffer : Buffer.concat(chunks))
    res.writeHead(200, { 'content-length': 0 })
    res.end()
  })
})
// Fastify's default, as in bench/bare-server.ts.
server.keepAliveTimeout = 72_000

function stats (): Record<string, PathStats> {
  const out: Record<string, PathStats> = {}
  for (const [path, { seen: _seen, ...s }] of paths) out[path] = s
  return out
}

if (typeof process.send === 'function') {
  process.on('message', (m: unknown) => {
    const msg = m as { sink?: unknown, op?: unknown, path?: unknown } | null
    if (msg === null || typeof msg !== 'object' || typeof msg.sink !== 'number') return
    if (msg.op === 'forget' && typeof msg.path === 'string') paths.delete(msg.path)
    process.send?.({ sink: msg.sink, loopActiveMs: performance.eventLoopUtilization().active, paths: stats() })
  })
  // The channel alone must not keep the sink alive.
  process.channel?.unref()
}

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
