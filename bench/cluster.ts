import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomSecret } from '../src/core/ids.js'
import { REDIS_MISSING, redisServerInstalled, startRedisServer, type RedisServer } from '../test/helpers/redis-server.js'

// `npm run cluster`: a local gridgate cluster to try out. Starts a redis-server in a temp dir
// (free port, `--appendonly yes --appendfsync always --save ''`: test/helpers/redis-server.ts)
// and N gateway nodes (`gridgate start` through tsx, storage.engine redis) on distinct ports,
// prints their listeners as a table and the HTTP key they share, and stops everything on
// Ctrl-C (SIGINT or SIGTERM): the nodes first (each withdraws from the node list), then Redis,
// then the temp dir. It sits in bench/ with the other tools that start gateways and a
// redis-server on this machine; it is not shipped.
//
//   npm run cluster                        3 nodes: node-i on HTTP 8080+i, MQTT 1883+i, WS 9000+i
//   npm run cluster -- --nodes 5           5 nodes
//   npm run cluster -- --free-ports        every listener on a free port (port 0)
//
// A node that exits on its own is reported; the others keep running.

const ROOT = fileURLToPath(new URL('..', import.meta.url))

interface Options { nodes: number, freePorts: boolean }

function parseArgs (argv: string[]): Options {
  const opts: Options = { nodes: 3, freePorts: false }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (arg === '--free-ports') opts.freePorts = true
    else if (arg === '--nodes') {
      opts.nodes = Number(argv[++i])
      if (!Number.isInteger(opts.nodes) || opts.nodes < 1 || opts.nodes > 20) throw new Error('--nodes takes 1 to 20')
    } else throw new Error(`unknown argument '${arg ?? ''}' (use --nodes N, --free-ports)`)
  }
  return opts
}

interface Node {
  id: string
  proc: ChildProcess
  listeners?: Record<string, string>
  exited: Promise<number | string>
}

/** Warnings and errors of a node's JSON log (level 40 and up) and anything that is not JSON. */
function worthShowing (line: string): boolean {
  if (line.trim() === '') return false
  try {
    return ((JSON.parse(line) as { level?: number }).level ?? 50) >= 40
  } catch {
    return true
  }
}

function startNode (id: string, i: number, env: Record<string, string>, freePorts: boolean): { node: Node, listening: Promise<void> } {
  const port = (base: number): string => freePorts ? '0' : String(base + i)
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      GRIDGATE_NODE_ID: id,
      GRIDGATE_DATA_DIR: join(env.CLUSTER_DIR as string, id),
      GRIDGATE_HTTP_PORT: port(8080),
      GRIDGATE_MQTT_PORT: port(1883),
      GRIDGATE_MQTT_WS_PORT: port(9000),
      GRIDGATE_MQTTS_PORT: '0',
      GRIDGATE_MQTT_WSS_PORT: '0'
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  const node: Node = { id, proc, exited }
  const listening = new Promise<void>((resolve, reject) => {
    let buffered = ''
    proc.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        if (node.listeners === undefined && line.includes('"msg":"listening"')) {
          node.listeners = (JSON.parse(line) as { listeners: Record<string, string> }).listeners
          resolve()
        } else if (worthShowing(line)) process.stderr.write(`[${id}] ${line}\n`)
      }
    })
    proc.stderr?.on('data', (d: Buffer) => { for (const line of d.toString().split('\n')) if (line.trim() !== '') process.stderr.write(`[${id}] ${line}\n`) })
    void exited.then((code) => reject(new Error(`${id} exited (${code}) before listening`)))
  })
  return { node, listening }
}

function table (nodes: Node[]): string {
  const columns = ['node', 'http', 'mqtt', 'ws']
  const rows = nodes.map((n) => [n.id, n.listeners?.http ?? '', n.listeners?.mqtt ?? '', n.listeners?.ws ?? ''])
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] as string).length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd()
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

async function main (): Promise<void> {
  const opts = parseArgs(process.argv.slice(2))
  if (!redisServerInstalled()) throw new Error(REDIS_MISSING)
  const dir = await mkdtemp(join(tmpdir(), 'gridgate-cluster-'))
  // Printed for pasting into `--key`: never with a leading '-' (core/ids.ts).
  const key = randomSecret(24)
  let redis: RedisServer | undefined
  const nodes: Node[] = []
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      process.stderr.write('\nstopping the nodes and Redis…\n')
      await Promise.all(nodes.map(async (n) => {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) return
        const kill = setTimeout(() => n.proc.kill('SIGKILL'), 15_000)
        n.proc.kill('SIGTERM')
        await n.exited
        clearTimeout(kill)
      }))
      await redis?.stop()
      await rm(dir, { recursive: true, force: true })
    })()
    await stopping
  }
  process.on('SIGINT', () => { void stop().then(() => process.exit(0)) })
  process.on('SIGTERM', () => { void stop().then(() => process.exit(0)) })

  try {
    // Its own process group: Ctrl-C reaches the nodes (they stop themselves) but not Redis,
    // which must outlive them (each withdraws from the node list and closes its connections).
    redis = await startRedisServer({ ownProcessGroup: true })
    process.stderr.write(`redis-server on ${redis.url} (appendonly yes, appendfsync always), temp dir ${dir}\n`)
    const env = { GRIDGATE_STORAGE_ENGINE: 'redis', GRIDGATE_REDIS_URL: redis.url, GRIDGATE_HTTP_KEYS: key, GRIDGATE_LOG_LEVEL: 'warn', CLUSTER_DIR: dir }
    const started = Array.from({ length: opts.nodes }, (_, i) => startNode(`node-${i + 1}`, i + 1, env, opts.freePorts))
    nodes.push(...started.map((s) => s.node))
    await Promise.all(started.map((s) => s.listening))
    for (const n of nodes) {
      void n.exited.then((code) => { if (stopping === undefined) process.stderr.write(`${n.id} exited (${code}); the others keep running\n`) })
    }
    process.stdout.write(`${table(nodes)}\n\nHTTP key (every node): ${key}\n` +
      `  curl -H 'Authorization: SharedAccessKey ${key}' ${nodes[0]?.listeners?.http ?? ''}/cluster/nodes\n` +
      'Ctrl-C stops the cluster.\n')
  } catch (err) {
    await stop()
    throw err
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`cluster: ${(err as Error).message}\n`)
  process.exit(1)
})
