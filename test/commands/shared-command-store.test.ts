import { describe, expect, it } from 'vitest'
import type { Command } from '../../src/commands/lifecycle.js'
import { systemClock } from '../../src/core/clock.js'
import type { RedisConnection } from '../../src/storage/redis/connection.js'
import { COMMAND_STORE_SCRIPTS, redisCommandStore, redisSharedCommands } from '../../src/storage/redis/redis-command-store.js'
import { openRedisTopicLogs, type RedisTopicLogs } from '../../src/storage/redis/redis-topic-log.js'
import { useRedisServer } from '../helpers/redis.js'

// The cluster side of commands on Redis (commands/store.ts SharedCommandStore): a lock per
// command that two processes (two connections) never hold at once, and the open set and the
// deadline index, kept by the command store's own writes. A fresh key prefix per case.

const redis = useRedisServer()

async function open (prefix: string): Promise<{ conn: RedisConnection, logs: RedisTopicLogs }> {
  const conn = await redis.connect(prefix)
  await conn.loadScripts(COMMAND_STORE_SCRIPTS)
  const logs = await openRedisTopicLogs({ redis: conn, clock: systemClock, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
  return { conn, logs }
}

const command = (id: string, seq: number, extra: Partial<Command> = {}): Command => ({ id, deviceId: 'dev-1', name: 'n', payload: null, timeoutSeconds: 10, ttlSeconds: 60, status: 'pending', result: null, error: null, createdAt: 1_000_000, updatedAt: 1_000_000, sentAt: null, sendCount: 0, seq, ...extra })

describe('SharedCommandStore on Redis', () => {
  it('runs the steps of one command from two processes one at a time, and of two commands at once', async () => {
    const prefix = redis.freshPrefix()
    const a = await open(prefix)
    const b = await open(prefix)
    try {
      const sa = redisSharedCommands(a.conn)
      const sb = redisSharedCommands(b.conn)
      let inside = 0
      let most = 0
      const step = async (): Promise<void> => {
        inside++
        most = Math.max(most, inside)
        await new Promise((resolve) => setTimeout(resolve, 5))
        inside--
      }
      await Promise.all(Array.from({ length: 10 }, async (_, i) => await (i % 2 === 0 ? sa : sb).locked('dev-1', 'c1', step)))
      expect(most).toBe(1)
      // A step that fails releases the lock too.
      await expect(sa.locked('dev-1', 'c1', async () => { throw new Error('boom') })).rejects.toThrow('boom')
      expect(await sb.locked('dev-1', 'c1', async () => 'next')).toBe('next')
      most = 0
      await Promise.all([sa.locked('dev-1', 'c2', step), sb.locked('dev-1', 'c3', step)])
      expect(most).toBe(2)
    } finally {
      for (const o of [a, b]) { await o.logs.close(); await o.conn.close() }
    }
  })

  it('lists a device\'s open commands and the due deadlines as the command store writes them', async () => {
    const o = await open(redis.freshPrefix())
    try {
      const store = redisCommandStore(o.conn, o.logs)
      const shared = redisSharedCommands(o.conn)
      await store.add(command('c2', 2))
      await store.add(command('c1', 1))
      expect((await shared.openOf('dev-1')).map((c) => c.id)).toEqual(['c1', 'c2'])
      // pending: due at its expiry (createdAt + ttl); sent: at its timeout (sentAt + timeout).
      await store.update(command('c1', 1, { status: 'sent', sentAt: 1_000_500, sendCount: 1 }))
      expect(await shared.due(1_010_499, 10)).toEqual([])
      expect(await shared.due(1_010_500, 10)).toEqual([{ deviceId: 'dev-1', id: 'c1' }])
      expect(await shared.due(1_060_000, 10)).toEqual([{ deviceId: 'dev-1', id: 'c1' }, { deviceId: 'dev-1', id: 'c2' }])
      await store.update(command('c1', 1, { status: 'succeeded', sentAt: 1_000_500, sendCount: 1 }))
      expect((await shared.openOf('dev-1')).map((c) => c.id)).toEqual(['c2'])
      expect(await shared.due(Number.MAX_SAFE_INTEGER, 10)).toEqual([{ deviceId: 'dev-1', id: 'c2' }])
    } finally { await o.logs.close(); await o.conn.close() }
  })
})
