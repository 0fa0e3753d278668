import { readFile, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ENV_OVERRIDES } from './config/env.js'
import type { Config } from './config/schema.js'
import { isGridgateError } from './core/errors.js'

// What `gridgate start` says when it cannot start: one line that names what is wrong and
// what changes it (the listener, its port and the variable or config key; the locked data
// directory and who holds it), never a stack trace. Exit code 2 for a bad config or command
// line, 1 for what the machine refused.

export interface StartupFailure {
  /** One line, without the `gridgate: ` prefix. */
  line: string
  exitCode: 1 | 2
}

export interface StartupContext {
  config: Config
  /** The config file as given on the command line (or the default one). */
  configFile: string
}

interface ListenerField { name: string, path: readonly [string, string] }

// The listeners by the config field of their port; their host is `http.host` or `mqtt.host`.
const LISTENERS: readonly ListenerField[] = [
  { name: 'HTTP listener', path: ['http', 'port'] },
  { name: 'MQTT listener', path: ['mqtt', 'port'] },
  { name: 'MQTT over WebSocket listener', path: ['mqtt', 'wsPort'] },
  { name: 'MQTT over TLS listener', path: ['mqtt', 'tlsPort'] },
  { name: 'MQTT over secure WebSocket listener', path: ['mqtt', 'wssPort'] }
]

/** The environment variable that overrides a config field, from the one table of them. */
export function envVariableOf (path: readonly string[]): string | undefined {
  return Object.entries(ENV_OVERRIDES).find(([, o]) => o.path.join('.') === path.join('.'))?.[0]
}

/** "GRIDGATE_HTTP_PORT or http.port in FILE": how a user changes a field. */
function howToChange (path: readonly string[], configFile: string): string {
  const variable = envVariableOf(path)
  const key = `${path.join('.')} in ${configFile}`
  return variable === undefined ? key : `${variable} or ${key}`
}

function valueAt (config: Config, path: readonly string[]): unknown {
  let node: unknown = config
  for (const key of path) node = (node as Record<string, unknown> | undefined)?.[key]
  return node
}

type ErrnoError = NodeJS.ErrnoException & { address?: string, port?: number, hostname?: string }

/** The error and its causes, outermost first. */
function chain (err: unknown): unknown[] {
  const out: unknown[] = []
  for (let e = err; e !== undefined && e !== null && out.length < 10; e = (e as { cause?: unknown }).cause) out.push(e)
  return out
}

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'not a directory',
  EISDIR: 'is a directory'
}

/** A short reason for an I/O error: its errno in words, without Node's "ENOENT: ..., open '...'" text. */
export function reasonOf (err: unknown): string {
  const code = (err as ErrnoError).code
  if (code !== undefined && REASONS[code] !== undefined) return REASONS[code]
  return firstLine(err)
}

function firstLine (err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.split('\n')[0] ?? message
}

/** Who holds a POSIX lock on `file`, from /proc/locks (Linux); undefined when it cannot tell. */
export async function lockHolder (file: string): Promise<{ pid: number, command?: string } | undefined> {
  try {
    const { ino } = await stat(file)
    const locks = await readFile('/proc/locks', 'utf8')
    for (const line of locks.split('\n')) {
      // "1: POSIX  ADVISORY  WRITE 4671 fe:00:2150557 0 EOF"; "->" lines are waiters.
      const m = /^\d+:\s+(?:POSIX|FLOCK|OFDLCK)\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)\s/.exec(line)
      if (m === null || Number(m[2]) !== ino) continue
      const pid = Number(m[1])
      let command: string | undefined
      try {
        command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((s) => s.length > 0).join(' ')
        if (command.length > 120) command = command.slice(0, 117) + '...'
      } catch { /* another user's process, or gone */ }
      return { pid, command }
    }
  } catch { /* not Linux, or no such file */ }
  return undefined
}

async function lockedLine (dataDir: string, lockError: unknown, configFile: string): Promise<string> {
  const file = /lock (\S+LOCK)\b/.exec(firstLine(lockError))?.[1] ?? join(dataDir, 'db', 'LOCK')
  const holder = await lockHolder(file)
  const who = holder === undefined
    ? 'another process'
    : holder.pid === process.pid
      ? `this process (pid ${holder.pid})`
      : `another process (pid ${holder.pid}${holder.command === undefined ? '' : `: ${holder.command}`})`
  return `the data directory ${dataDir} is in use by ${who}; stop that gateway, or give this one its own directory with ${howToChange(['dataDir'], configFile)}`
}

function listenLine (err: ErrnoError, ctx: StartupContext): string | undefined {
  const { config, configFile } = ctx
  const byPort = LISTENERS.find((l) => err.port !== undefined && err.port !== 0 && valueAt(config, l.path) === err.port)
  const address = err.address ?? err.hostname
  const section = byPort?.path[0] ?? (address === config.http.host ? 'http' : address === config.mqtt.host ? 'mqtt' : undefined)
  const what = byPort?.name ?? (section === 'http' ? 'HTTP listener' : section === 'mqtt' ? 'MQTT listeners' : 'listener')
  const host = address ?? (section === undefined ? '?' : String(valueAt(config, [section, 'host'])))
  const portChange = byPort === undefined ? 'its port in the config' : howToChange(byPort.path, configFile)
  const hostChange = section === undefined ? 'http.host or mqtt.host' : howToChange([section, 'host'], configFile)
  switch (err.code) {
    case 'EADDRINUSE':
      return `port ${String(err.port)} on ${host} is already in use, so the ${what} cannot listen there; choose another port with ${portChange} (0 picks a free one)`
    case 'EACCES':
      return `the ${what} is not permitted to listen on port ${String(err.port)} of ${host} (ports below 1024 need privileges); choose another port with ${portChange}`
    case 'EADDRNOTAVAIL':
      return `the ${what} cannot listen on ${host}: it is not an address of this machine; change it with ${hostChange}`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the ${what} cannot listen on ${host}: no such host; change it with ${hostChange}`
  }
  return undefined
}

/** Turns an error of start-up (after the config was loaded) into one line and an exit code. */
export async function describeStartupError (err: unknown, ctx: StartupContext): Promise<StartupFailure> {
  const errors = chain(err)
  if (isGridgateError(err) && err.code === 'CONFIG_INVALID') return { line: `${ctx.configFile}: ${err.message}`, exitCode: 2 }
  const locked = errors.find((e) => (e as ErrnoError).code === 'LEVEL_LOCKED')
  if (locked !== undefined) return { line: `cannot start: ${await lockedLine(resolve(ctx.config.dataDir), locked, ctx.configFile)}`, exitCode: 1 }
  for (const e of errors) {
    const io = e as ErrnoError
    if (io.syscall === 'listen' || io.syscall === 'getaddrinfo' || io.code === 'EADDRINUSE') {
      const line = listenLine(io, ctx)
      if (line !== undefined) return { line: `cannot start: ${line}`, exitCode: 1 }
    }
  }
  // TLS material that was read but cannot be used (start-up checks the files; this is the rest).
  const tls = errors.find((e) => /^ERR_OSSL_|^ERR_SSL_/.test(String((e as ErrnoError).code)))
  if (tls !== undefined) return { line: `cannot start: ${ctx.configFile}: /mqtt/tls: the certificate or key cannot be used: ${firstLine(tls)}`, exitCode: 2 }
  const file = errors.find((e) => typeof (e as ErrnoError).path === 'string' && (e as ErrnoError).code !== undefined) as ErrnoError | undefined
  if (file !== undefined) {
    const path = file.path as string
    const inData = resolve(path).startsWith(resolve(ctx.config.dataDir))
    const hint = inData ? `; the data directory is ${resolve(ctx.config.dataDir)} (${howToChange(['dataDir'], ctx.configFile)})` : ''
    return { line: `cannot start: ${file.syscall ?? 'access'} ${path}: ${reasonOf(file)}${hint}`, exitCode: 1 }
  }
  const level = errors.find((e) => (e as ErrnoError).code === 'LEVEL_DATABASE_NOT_OPEN')
  if (level !== undefined) {
    const cause = errors[errors.indexOf(level) + 1]
    return { line: `cannot start: the database in ${resolve(ctx.config.dataDir)} does not open: ${firstLine(cause ?? level)}`, exitCode: 1 }
  }
  return { line: `cannot start: ${errors.map(firstLine).join(': ')}`, exitCode: 1 }
}
