import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { stringify } from 'yaml'
import { spawnGateway, type ChildGateway } from './child.js'
import { tempDir } from './tmp.js'

// A cluster of gateway nodes for tests: N `gridgate start` child processes (child.ts, from
// dist/) on the `redis` engine, all on one redis-server and key prefix, every listener on port 0.
// Each node's URLs and node id come from its `listening` line. The caller starts the
// redis-server (redis.ts) and stops what this returns.

export interface ClusterNodeProcess extends ChildGateway {
  /** The node id from its `listening` line. */
  node: string
}

export interface TestCluster {
  nodes: ClusterNodeProcess[]
  key: string
  /** The config file every node was started with (for starting one more by hand). */
  configFile: string
  /** Stops every node still running (SIGTERM, then SIGKILL for one that does not stop) and removes their directories. */
  stop: () => Promise<void>
}

export interface ClusterOptions {
  redisUrl: string
  keyPrefix: string
  /** Merged into every node's config file (cluster timings, client groups, …). */
  config?: Record<string, unknown>
}

const KEY = 'cluster-test-key-0123456789'

function nodeIdOf (stdout: string): string {
  for (const line of stdout.split('\n')) {
    if (!line.includes('"msg":"listening"')) continue
    const node = (JSON.parse(line) as { node?: unknown }).node
    if (typeof node === 'string') return node
  }
  throw new Error('the listening line names no node (is the engine redis?)')
}

/** Starts `count` nodes at once and waits for every `listening` line. */
export async function startCluster (count: number, opts: ClusterOptions): Promise<TestCluster> {
  const dir = await tempDir('gridgate-cluster-')
  const config = {
    log: { level: 'warn' },
    // The telemetry worker is not what these nodes are for: less CPU on a shared machine.
    telemetry: { enabled: false },
    ...opts.config,
    storage: { engine: 'redis' },
    redis: { url: opts.redisUrl, keyPrefix: opts.keyPrefix }
  }
  const file = join(dir.path, 'cluster.yaml')
  await writeFile(file, stringify(config))
  const started = await Promise.allSettled(Array.from({ length: count }, async (_, i) => await spawnGateway({
    args: ['start', '--config', file],
    env: { GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_DATA_DIR: join(dir.path, `node-${i + 1}`) },
    timeoutMs: 45_000
  })))
  const nodes: ClusterNodeProcess[] = []
  for (const s of started) if (s.status === 'fulfilled') nodes.push(Object.assign(s.value, { node: nodeIdOf(s.value.stdout()) }))
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map(async (n) => {
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) return
      const timer = setTimeout(() => n.proc.kill('SIGKILL'), 15_000)
      await n.kill('SIGTERM')
      clearTimeout(timer)
    }))
    await dir.remove()
  }
  const failed = started.find((s) => s.status === 'rejected')
  if (failed !== undefined) {
    await stop()
    throw (failed as PromiseRejectedResult).reason
  }
  return { nodes, key: KEY, configFile: file, stop }
}
