import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { remoteTopicLog, serveTopicLog, type TopicLogServer } from '../../src/log/remote.js'
import type { TopicLog } from '../../src/log/types.js'
import { openLevelTopicLogs, type LevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'
import { runTopicLogContract } from './topic-log.contract.js'

// The TopicLog contract through serveTopicLog/remoteTopicLog over a MessageChannel in this
// process: what a worker thread sees of the main thread's log. Each remote instance has its
// own channel and its own view of the served log; `another` is a second remote one (as a
// second worker would be), `reopen` restarts the store under the server.
// The leveldb variants read with the segment cache off (every read from LevelDB) and on.
const VARIANTS = EMBEDDED_ENGINES.flatMap((engine) => engine.durable
  ? [{ engine, noticeIntervalMs: 0, cacheBytes: 0 }, { engine, noticeIntervalMs: 0, cacheBytes: 1 << 20 }]
  : [{ engine, noticeIntervalMs: 0, cacheBytes: 0 }, { engine, noticeIntervalMs: 20, cacheBytes: 0 }])
for (const { engine, noticeIntervalMs, cacheBytes } of VARIANTS) {
  runTopicLogContract(`remote over a MessageChannel (${engine.name}, append notices ${noticeIntervalMs === 0 ? 'each turn' : `every ${noticeIntervalMs} ms`}${cacheBytes > 0 ? ', segment cache' : ''})`, {
    open: async (clock, defaults) => {
      const handle = await engine.open()
      const servers: TopicLogServer[] = []
      const open = async (): Promise<LevelTopicLogs> => await openLevelTopicLogs({
        storage: handle.store,
        clock,
        sync: false,
        maxBatchEvents: 10_000,
        maxBatchBytes: 8 * 1024 * 1024,
        defaultRetention: { maxAgeSeconds: 0, maxBytes: 0, ...defaults },
        cacheBytes
      })
      let logs = await open()
      const connect = (): TopicLog => {
        const { port1, port2 } = new MessageChannel()
        servers.push(serveTopicLog(logs.view(), port1, { noticeIntervalMs }))
        return remoteTopicLog(port2, clock)
      }
      return {
        log: connect(),
        another: async () => connect(),
        reopen: engine.durable
          ? async () => {
            for (const s of servers.splice(0)) s.close()
            await logs.close()
            await handle.reopen()
            logs = await open()
            return connect()
          }
          : undefined,
        cleanup: async () => {
          for (const s of servers.splice(0)) s.close()
          await logs.close()
          await handle.cleanup()
        }
      }
    }
  }, engine.durable)
}

describe('remote TopicLog', () => {
  const teardown = useTeardown()

  async function rig (): Promise<{ served: TopicLog, remote: TopicLog, server: TopicLogServer }> {
    const handle = await EMBEDDED_ENGINES.find((e) => e.name === 'memory')!.open()
    const clock = new ManualClock()
    const logs = await openLevelTopicLogs({ storage: handle.store, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes: 1 << 20 })
    const { port1, port2 } = new MessageChannel()
    const served = logs.view()
    const server = serveTopicLog(served, port1)
    const remote = remoteTopicLog(port2, clock)
    teardown(async () => { await remote.close(); server.close(); await logs.close(); await handle.cleanup() })
    return { served, remote, server }
  }

  it('reads records whose bytes are views into one batch, each exactly the event appended', async () => {
    const { served, remote } = await rig()
    await served.createTopic('t')
    const events = Array.from({ length: 50 }, (_, i) => Buffer.from(JSON.stringify({ id: String(i), data: 'x'.repeat(i) })))
    // Appended one by one, so the served log holds them in several segments.
    for (const e of events) await served.append('t', [e])
    const { records, nextOffset } = await remote.read('t', { offset: 3 }, 40)
    expect(nextOffset).toBe(43)
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: 40 }, (_, i) => i + 3))
    expect(records.map((r) => r.bytes.toString())).toEqual(events.slice(3, 43).map((e) => e.toString()))
    expect(new Set(records.map((r) => r.bytes.buffer)).size).toBe(1)
  })

  it('appends through the served log with its offsets, and the served log hears of them', async () => {
    const { served, remote } = await rig()
    await remote.createTopic('t')
    const heard: number[] = []
    served.onAppend((_t, next) => heard.push(next))
    expect(await remote.append('t', [Buffer.from('{"a":1}'), Buffer.from('{"b":2}')])).toMatchObject({ firstOffset: 0, nextOffset: 2 })
    expect(heard).toEqual([2])
    expect((await served.read('t', { offset: 0 }, 10)).records.map((r) => r.bytes.toString())).toEqual(['{"a":1}', '{"b":2}'])
  })

  it('fails the remote side\'s calls with SHUTTING_DOWN once the server is closed', async () => {
    const { remote, server } = await rig()
    server.close()
    await expect(remote.listTopics()).rejects.toMatchObject({ code: 'SHUTTING_DOWN' })
  })
})
