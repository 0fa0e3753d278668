import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// Child processes (the servers under test): started with `node --import tsx`, ready when
// they print a JSON line with "msg":"listening" on stdout, always killed in the end.

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export interface Child {
  name: string
  proc: ChildProcess
  pid: number
  listeners: Record<string, string>
  /** The last part of what the child wrote on stderr (for error messages). */
  stderr: () => string
  /** How it ended (exit code or signal), or undefined while it runs. */
  exitStatus: () => string | undefined
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  stop: (graceMs?: number) => Promise<void>
}

const running = new Set<ChildProcess>()

/** Kills every child still running, synchronously (exit and signal paths). */
export function killAllChildrenSync (): void {
  for (const proc of running) {
    try { proc.kill('SIGKILL') } catch { /* already gone */ }
  }
  running.clear()
}

/** The environment without GRIDGATE_* overrides, so only the bench config applies. */
function cleanEnv (): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('GRIDGATE_')) env[k] = v
  }
  return env
}

export interface ChildOptions {
  /** Node options placed after `--import tsx` (so a further `--import x.ts` is transpiled too). */
  nodeArgs?: string[]
  /** Opens an IPC channel (advanced serialization): `proc.send` and `proc.on('message')`. */
  ipc?: boolean
  /** Raises the soft open-files limit to this through `bash -c 'ulimit -n N; exec node ...'`. */
  openFiles?: number
}

/** The soft limit on open files of this process (Linux /proc/self/limits), or undefined. */
export function openFilesLimit (pid: number | 'self' = 'self'): number | undefined {
  try {
    const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
    return soft === undefined ? undefined : soft === 'unlimited' ? Infinity : Number(soft)
  } catch {
    return undefined
  }
}

/** The Node options `npm start` gives the gateway (package.json), so the bench measures the same process. */
export const GATEWAY_NODE_ARGS = ['--max-semi-space-size=16', '--v8-pool-size=2']

export async function startChild (name: string, args: string[], timeoutMs = 30_000, options: ChildOptions = {}): Promise<Child> {
  const gateway = args[0] === 'src/cli.ts' ? GATEWAY_NODE_ARGS : []
  const argv = [...gateway, '--import', 'tsx', ...(options.nodeArgs ?? []), ...args]
  const stdio: Array<'ignore' | 'pipe' | 'ipc'> = ['ignore', 'pipe', 'pipe', ...(options.ipc === true ? ['ipc' as const] : [])]
  const spawnOptions = { cwd: ROOT, env: cleanEnv(), stdio, serialization: 'advanced' as const }
  const limit = openFilesLimit()
  const proc = options.openFiles !== undefined && limit !== undefined && limit < options.openFiles
    ? spawn('bash', ['-c', `ulimit -n ${options.openFiles} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, process.execPath, ...argv], spawnOptions)
    : spawn(process.execPath, argv, spawnOptions)
  running.add(proc)
  let err = ''
  let out = ''
  let ready = false
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => { running.delete(proc); resolve() })
  })
  proc.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-8192) })
  const stop = async (graceMs = 5000): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(timer)
  }
  try {
    const listeners = await new Promise<Record<string, string>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: no "listening" line within ${timeoutMs} ms; stderr: ${err}`)), timeoutMs)
      proc.stdout?.on('data', (d: Buffer) => {
        // Keep reading stdout for the child's whole life so its pipe never fills up.
        if (ready) return
        out += d.toString()
        const lines = out.split('\n')
        out = lines.pop() ?? ''
        for (const line of lines) {
          if (!line.includes('"msg":"listening"')) continue
          ready = true
          clearTimeout(timer)
          resolve((JSON.parse(line) as { listeners: Record<string, string> }).listeners)
          return
        }
      })
      void exited.then(() => {
        clearTimeout(timer)
        reject(new Error(`${name} exited (${String(proc.exitCode ?? proc.signalCode)}) before listening; stderr: ${err}`))
      })
    })
    const exitStatus = (): string | undefined => proc.exitCode !== null || proc.signalCode !== null ? String(proc.exitCode ?? proc.signalCode) : undefined
    return { name, proc, pid: proc.pid ?? -1, listeners, stderr: () => err, exitStatus, stop }
  } catch (e) {
    await stop(1000)
    throw e
  }
}
