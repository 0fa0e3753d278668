import { afterAll } from 'vitest'
import { openRedis, type RedisConnection } from '../../src/storage/redis/connection.js'
import { startRedisServer, type RedisServer } from './redis-server.js'

export { REDIS_MISSING, startRedisServer, type RedisServer } from './redis-server.js'

// The redis-server of one test file (redis-server.ts), started when a Redis case first needs
// it and stopped when the file ends. One server per test file (vitest runs files in separate
// workers); each test case uses a fresh key prefix on it, so cases never see each other's keys.
//
// Without redis-server the Redis runs FAIL with a message saying how to install it: they are
// part of the suite, not optional (.ci/run installs it).

export interface RedisFixture {
  /** The server of this test file (started on first use, stopped after the file). */
  server: () => Promise<RedisServer>
  /** A key prefix no other test case of this file uses. */
  freshPrefix: () => string
  /** A connection to the server under a fresh prefix, and its closing. */
  connect: (prefix?: string) => Promise<RedisConnection>
}

/**
 * One redis-server for the calling test file, started lazily (only when a Redis case runs) and
 * stopped in afterAll. Call at the top level of a test file.
 */
export function useRedisServer (): RedisFixture {
  let started: Promise<RedisServer> | undefined
  let n = 0
  afterAll(async () => {
    if (started !== undefined) await (await started.catch(() => undefined))?.stop()
  })
  const server = async (): Promise<RedisServer> => await (started ??= startRedisServer())
  const freshPrefix = (): string => `gg-test-${process.pid}-${++n}:`
  return {
    server,
    freshPrefix,
    connect: async (prefix) => await openRedis({ url: (await server()).url, keyPrefix: prefix ?? freshPrefix() })
  }
}
