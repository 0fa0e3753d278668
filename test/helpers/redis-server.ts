import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { tempDir } from './tmp.js'

// A real redis-server for the tests and benchmarks of the `redis` storage engine: started on a
// free port in a temp directory, durable as the README asks a production server to be
// (append-only file, fsync on every write, no RDB snapshots), bound to 127.0.0.1. No vitest
// here, so bench/ can start one too; test/helpers/redis.ts is the per-test-file fixture.

export interface RedisServer {
  url: string
  port: number
  /** Stops it for good and removes its dir. */
  stop: () => Promise<void>
  /**
   * Stops the process and waits for its exit, keeping its port and dir for restart():
   * SIGTERM is a clean shutdown, SIGKILL a crash.
   */
  kill: (signal: 'SIGTERM' | 'SIGKILL') => Promise<void>
  /** Starts it again on the same port and dir (it reads its append-only file back); waits until it answers PING. */
  restart: () => Promise<void>
}

export const REDIS_MISSING = 'redis-server is not installed: the redis storage engine tests need it (Debian/Ubuntu: apt-get install redis-server; .ci/run installs it)'

export function redisServerInstalled (): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address()
      srv.close(() => { typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')) })
    })
  })
}

/** Resolves once the server answers PING with PONG. */
async function ping (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    const done = (ok: boolean): void => { socket.destroy(); resolve(ok) }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.on('data', (d) => { answer += d.toString(); if (answer.includes('\r\n')) done(answer.startsWith('+PONG')) })
    socket.write('PING\r\n')
  })
}

export interface RedisServerOptions {
  /**
   * Runs it in a process group of its own, so a Ctrl-C in the terminal (SIGINT to the whole
   * foreground group) does not stop it before the gateways using it have stopped; the caller
   * stops it (npm run cluster).
   */
  ownProcessGroup?: boolean
}

interface Running {
  child: ChildProcess
  exited: boolean
}

/** One redis-server process on `port` with `dir`, or why it did not answer PING. */
async function launch (port: number, dir: string, opts: RedisServerOptions): Promise<Running | { failed: string }> {
  const child: ChildProcess = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
    '--daemonize', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: opts.ownProcessGroup === true })
  const state: Running = { child, exited: false }
  child.once('exit', () => { state.exited = true })
  let stderr = ''
  child.stderr?.on('data', (d) => { stderr += String(d) })
  const deadline = Date.now() + 10_000
  let up = false
  while (!state.exited && Date.now() < deadline && !(up = await ping(port))) await new Promise((resolve) => setTimeout(resolve, 50))
  if (up && !state.exited) return state
  child.kill('SIGKILL')
  return { failed: stderr.trim() || 'no answer to PING within 10 s' }
}

async function end (state: Running, signal: NodeJS.Signals): Promise<void> {
  if (state.exited) return
  const gone = new Promise((resolve) => state.child.once('exit', resolve))
  state.child.kill(signal)
  await gone
}

/** Starts a redis-server on a free port in a temp dir; waits until it answers PING. */
export async function startRedisServer (opts: RedisServerOptions = {}): Promise<RedisServer> {
  if (!redisServerInstalled()) throw new Error(REDIS_MISSING)
  const dir = await tempDir('gridgate-redis-')
  for (let attempt = 0; ; attempt++) {
    const port = await freePort()
    const launched = await launch(port, dir.path, opts)
    if (!('failed' in launched)) {
      let state = launched
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: async () => {
          await end(state, 'SIGTERM')
          await dir.remove()
        },
        kill: async (signal) => { await end(state, signal) },
        restart: async () => {
          await end(state, 'SIGTERM')
          const again = await launch(port, dir.path, opts)
          if ('failed' in again) throw new Error(`redis-server did not start again on port ${port}: ${again.failed}`)
          state = again
        }
      }
    }
    // The port may have been taken between choosing and binding it: try another, a few times.
    if (attempt >= 3) {
      await dir.remove()
      throw new Error(`redis-server did not start: ${launched.failed}`)
    }
  }
}
