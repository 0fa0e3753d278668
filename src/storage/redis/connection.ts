import { createHash } from 'node:crypto'
import { Redis, type ChainableCommander } from 'ioredis'
import { trackAvailability, type AvailabilityTracker } from './availability.js'

// Connections to the Redis server of the `redis` storage engine, and the Lua scripts the
// adapters run on it.
//
// Every key the engine writes starts with the configured `keyPrefix` (default `gridgate:`),
// so several gateways (or test cases) can share one server under different prefixes; each
// adapter documents its own keys below that prefix at the top of its file. Prefixes are
// applied by the adapters, not by ioredis' transparent `keyPrefix` option, because keys are
// also built inside Lua scripts and channel names are not keys. On a Redis Cluster, put a
// hash tag in the prefix (`{gg}:`) so that every key of the engine is in one slot and the
// multi-key scripts and transactions stay legal; standalone Redis needs nothing.
//
// Durability: a write's promise resolves when Redis has answered it. With `appendonly yes`
// and `appendfsync always` Redis writes and fsyncs its append-only file before it answers,
// so an acknowledged write survives a crash or power cut of the Redis host. With
// `appendfsync everysec` (Redis' default when the AOF is on) up to a second of acknowledged
// writes can be lost when the Redis host crashes; with no persistence, everything is lost
// when Redis restarts. Gridgate does not change Redis' configuration: that is the operator's
// choice, and the README says which settings make an acknowledgement durable.
//
// Atomicity: a write that must be all-or-none is one MULTI/EXEC (when it needs no reads)
// or one Lua script (when it decides from what is stored). Scripts are loaded with SCRIPT
// LOAD when a connection becomes ready and run with EVALSHA; a NOSCRIPT answer (the server
// restarted without its script cache, or it was flushed) is retried once with EVAL, which
// sends that one write after the ones called meanwhile: the only case where one instance's
// writes can apply out of call order, and only right after such a restart. Scripts that write
// start with the `#!lua` shebang, so Redis refuses them whole when it is out of memory
// instead of stopping them half-way through their writes.
//
// While Redis is unreachable (availability.ts): the command connection has no offline queue,
// so a command fails at once instead of waiting for the reconnect, and a command in flight
// when the connection broke is rejected, not sent again after the reconnect (it may or may
// not have been applied: its caller must not acknowledge it). Every connection reconnects
// on its own, 50 ms after a loss, doubling to 2 s between attempts.

export interface RedisConfig {
  url: string
  keyPrefix: string
}

export type RedisArg = string | Buffer | number

/** A Lua script run by its SHA1, loaded on demand. */
export class LuaScript {
  readonly sha: string
  constructor (readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex')
  }

  /** Runs the script; replies as strings. */
  async run (client: Redis, keys: readonly string[], args: readonly RedisArg[]): Promise<unknown> {
    return await this.call(client, keys, args, false)
  }

  /** Runs the script; bulk replies as Buffers. */
  async runBuffer (client: Redis, keys: readonly string[], args: readonly RedisArg[]): Promise<unknown> {
    return await this.call(client, keys, args, true)
  }

  private async call (client: Redis, keys: readonly string[], args: readonly RedisArg[], binary: boolean): Promise<unknown> {
    const send = async (command: 'EVALSHA' | 'EVAL', first: string): Promise<unknown> => binary
      ? await client.callBuffer(command, first, keys.length, ...keys, ...args)
      : await client.call(command, first, keys.length, ...keys, ...args)
    try {
      return await send('EVALSHA', this.sha)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return await send('EVAL', this.lua)
    }
  }
}

export interface RedisConnection {
  readonly client: Redis
  readonly prefix: string
  readonly url: string
  /** Whether the connection and every duplicate of it are up now (closed with the connection). */
  readonly availability: AvailabilityTracker
  /**
   * A new connection to the same server, for SUBSCRIBE (a subscribed connection can run no
   * other command). The caller closes it.
   */
  duplicate: () => Redis
  /** Loads scripts on this connection now and again after every reconnect (EVALSHA's cache). */
  loadScripts: (scripts: readonly LuaScript[]) => Promise<void>
  close: () => Promise<void>
}

/** The URL without its password, for logs and errors. */
export function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable Redis URL)'
  }
}

/** Connects to Redis and waits until it answers; rejects (and stops retrying) when it cannot. */
export async function openRedis (config: RedisConfig, name = 'gridgate'): Promise<RedisConnection> {
  const client = newClient(config.url, name)
  try {
    await client.connect()
  } catch (cause) {
    client.disconnect()
    throw new Error(`cannot connect to Redis at ${redactUrl(config.url)}: ${(cause as Error).message}`, { cause })
  }
  const scripts = new Map<string, LuaScript>()
  const load = async (list: readonly LuaScript[]): Promise<void> => {
    await Promise.all(list.map(async (s) => await client.script('LOAD', s.lua)))
  }
  // After a reconnect the server may be a restarted one with an empty script cache. EVALSHA
  // falls back to EVAL anyway; loading again keeps that fallback rare.
  client.on('ready', () => { void load([...scripts.values()]).catch(() => {}) })
  const availability = trackAvailability(`Redis at ${redactUrl(config.url)}`)
  availability.watch(name, client)
  return {
    client,
    prefix: config.keyPrefix,
    url: config.url,
    availability,
    duplicate: () => {
      const sub = newClient(config.url, `${name}-sub`, false)
      availability.watch(`${name}-sub`, sub)
      return sub
    },
    loadScripts: async (list) => {
      for (const s of list) scripts.set(s.sha, s)
      await load(list)
    },
    close: async () => {
      availability.close()
      try { await client.quit() } catch { client.disconnect() }
    }
  }
}

/** Milliseconds before reconnect attempt `attempt` (1, 2, ...): 50 ms, doubling, at most 2 s. */
export function reconnectDelayMs (attempt: number): number {
  return Math.min(2000, 50 * 2 ** Math.max(0, Math.min(attempt - 1, 16)))
}

/**
 * A command connection (`lazy`, connected by openRedis) fails fast while it is down; a
 * subscriber (connecting at once) queues its SUBSCRIBE until it is up and subscribes again
 * after each reconnect.
 */
function newClient (url: string, connectionName: string, lazy = true): Redis {
  const client = new Redis(url, {
    lazyConnect: lazy,
    connectionName,
    retryStrategy: reconnectDelayMs,
    ...(lazy
      ? {
          // No offline queue: a command while the connection is down is rejected at once.
          enableOfflineQueue: false,
          // In flight when the connection closed: rejected at the close (not after the
          // reconnect), and never sent again.
          maxRetriesPerRequest: 0,
          autoResendUnfulfilledCommands: false
        }
      : {}),
    // No auto-pipelining: it holds commands back while an earlier pipeline is in flight, so a
    // MULTI could overtake a script called before it. Without it every command is written to
    // the socket when it is called, so one instance's writes reach Redis in call order, and
    // concurrent commands are still pipelined (ioredis never waits for a reply to send more).
    enableAutoPipelining: false
  })
  // ioredis emits connection errors as events; without a listener they would be thrown.
  // The commands waiting on the connection fail (or wait for the reconnect) on their own.
  client.on('error', () => {})
  return client
}

/** Decimal text of a safe integer or an ms time, as Redis and Lua parse it back. */
export const num = (n: number): string => {
  if (!Number.isFinite(n)) throw new RangeError(`not a finite number: ${n}`)
  return Number.isInteger(n) ? n.toFixed(0) : String(n)
}

/** Runs a MULTI and returns its replies, throwing the first command error (or a discarded transaction). */
export async function execMulti (tx: ChainableCommander): Promise<unknown[]> {
  const replies = await tx.exec()
  if (replies === null) throw new Error('Redis discarded the transaction')
  for (const [err] of replies) if (err !== null) throw err
  return replies.map(([, value]) => value)
}
