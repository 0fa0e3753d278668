import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { DIST } from './build.js'
import { client, type Client } from './http.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ChildGateway extends Client {
  proc: ChildProcess
  listeners: Record<string, string>
  stdout: () => string
  stderr: () => string
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
  kill: (signal?: NodeJS.Signals) => Promise<number | string>
}

export interface SpawnOptions {
  env?: Record<string, string>
  args?: string[]
  /** Runs the command through bash with this prefix, e.g. 'ulimit -f 2048;'. */
  shellPrefix?: string
  key?: string
  timeoutMs?: number
}

export const FREE_PORTS = { GRIDGATE_HTTP_PORT: '0', GRIDGATE_MQTT_PORT: '0', GRIDGATE_MQTT_WS_PORT: '0', GRIDGATE_MQTTS_PORT: '0', GRIDGATE_MQTT_WSS_PORT: '0' }

/**
 * Starts the compiled CLI (dist/, which the flows project builds before its files run) as a
 * child process and returns at once (the caller watches its output).
 */
export function launch (opts: SpawnOptions): ChildProcess {
  const node = [process.execPath, DIST.cli, ...(opts.args ?? ['start'])]
  const env = { ...process.env, ...opts.env }
  if (opts.shellPrefix !== undefined) {
    const quoted = node.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
    return spawn('bash', ['-c', `${opts.shellPrefix} exec ${quoted}`], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  }
  return spawn(node[0] as string, node.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Runs the CLI to its end (for commands and failed starts); listeners get free ports. */
export async function runCli (opts: SpawnOptions): Promise<{ code: number | string, stdout: string, stderr: string }> {
  const proc = launch({ ...opts, env: { ...FREE_PORTS, ...opts.env } })
  let stdout = ''
  let stderr = ''
  proc.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
  const [code, signal] = await once(proc, 'exit') as [number | null, string | null]
  clearTimeout(timer)
  return { code: code ?? signal ?? 'unknown', stdout, stderr }
}

/** Starts `gridgate start` as a child process and waits for its `listening` line. */
export async function spawnGateway (opts: SpawnOptions = {}): Promise<ChildGateway> {
  const proc = launch({ ...opts, env: { ...FREE_PORTS, ...opts.env } })
  let out = ''
  let err = ''
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  })
  const listeners = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`no listening line within deadline; stderr: ${err}`)) }, opts.timeoutMs ?? 30_000)
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString()
      for (const line of out.split('\n')) {
        if (!line.includes('"msg":"listening"')) continue
        clearTimeout(timer)
        resolve((JSON.parse(line) as { listeners: Record<string, string> }).listeners)
        return
      }
    })
    proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`gateway exited (${code}) before listening; stderr: ${err}`)) })
  })
  const http = listeners.http as string
  return {
    ...client(http, opts.key ?? opts.env?.GRIDGATE_HTTP_KEYS?.split(',')[0] ?? ''),
    proc,
    listeners,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: async (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal)
      return await exited
    }
  }
}
