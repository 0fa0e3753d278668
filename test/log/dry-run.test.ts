import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { compileFilters } from '../../src/core/filters.js'
import { dryRunFilters } from '../../src/log/dry-run.js'
import type { TopicLog } from '../../src/log/types.js'
import { openLevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'

// Dry runs of filters (log/dry-run.ts) over a real topic log on memory-level.

const teardown = useTeardown()

async function topicWith (events: unknown[], clock = new ManualClock()): Promise<TopicLog> {
  const handle = await EMBEDDED_ENGINES.find((e) => e.name === 'memory')!.open()
  const logs = await openLevelTopicLogs({ storage: handle.store, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes: 1 << 20 })
  const log = logs.view()
  teardown(async () => { await log.close(); await logs.close(); await handle.cleanup() })
  await log.createTopic('t')
  for (const e of events) await log.append('t', [Buffer.from(JSON.stringify(e))])
  return log
}

const ev = (i: number): Record<string, unknown> => ({ specversion: '1.0', id: `e${i}`, source: '/s', type: i % 3 === 0 ? 'three' : 'other', data: { i } })
const hot = compileFilters({ filters: [{ operatorType: 'NumberGreaterThanOrEquals', key: 'data.i', value: 5 }] })

describe('dry runs of filters over a topic', () => {
  it('counts every match, returns the first `limit`, and reads in pages', async () => {
    const log = await topicWith(Array.from({ length: 20 }, (_, i) => ev(i)))
    const run = await dryRunFilters(log, 't', 20, hot, { from: { offset: 0 }, limit: 3, maxScan: 1000, pageSize: 4 })
    expect({ ...run, value: run.value.map((r) => r.offset) }).toEqual({ matched: 15, scanned: 20, value: [5, 6, 7], nextOffset: 20, complete: true })
  })

  it('stops at the scan limit and says where to go on', async () => {
    const log = await topicWith(Array.from({ length: 20 }, (_, i) => ev(i)))
    const first = await dryRunFilters(log, 't', 20, hot, { from: { offset: 2 }, limit: 100, maxScan: 7, pageSize: 5 })
    expect({ ...first, value: first.value.map((r) => r.offset) }).toEqual({ matched: 4, scanned: 7, value: [5, 6, 7, 8], nextOffset: 9, complete: false })
    const rest = await dryRunFilters(log, 't', 20, hot, { from: { offset: first.nextOffset }, limit: 100, maxScan: 7, pageSize: 5 })
    expect([rest.scanned, rest.nextOffset, rest.complete]).toEqual([7, 16, false])
  })

  it('scans only to where the topic ended when the run began', async () => {
    const log = await topicWith(Array.from({ length: 10 }, (_, i) => ev(i)))
    const run = await dryRunFilters(log, 't', 6, compileFilters({ includedEventTypes: ['three'] }), { from: { offset: 0 }, limit: 100, maxScan: 1000 })
    expect({ ...run, value: run.value.map((r) => r.offset) }).toEqual({ matched: 2, scanned: 6, value: [0, 3], nextOffset: 6, complete: true })
  })

  it('starts at a time, and answers an empty range', async () => {
    const clock = new ManualClock()
    const log = await topicWith([ev(1), ev(2)], clock)
    clock.advance(60_000)
    await log.append('t', [Buffer.from(JSON.stringify(ev(6))), Buffer.from(JSON.stringify(ev(7)))])
    const later = await dryRunFilters(log, 't', 4, hot, { from: { time: clock.now() }, limit: 10, maxScan: 1000 })
    expect([later.matched, later.scanned, later.value.map((r) => r.offset), later.complete]).toEqual([2, 2, [2, 3], true])
    const none = await dryRunFilters(log, 't', 4, hot, { from: { time: clock.now() + 1 }, limit: 10, maxScan: 1000 })
    expect([none.matched, none.scanned, none.nextOffset, none.complete]).toEqual([0, 0, 4, true])
    const empty = await dryRunFilters(log, 't', 4, hot, { from: { offset: 4 }, limit: 10, maxScan: 1000 })
    expect([empty.scanned, empty.nextOffset, empty.complete]).toEqual([0, 4, true])
  })
})
