import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { GridgateError } from '../../src/core/errors.js'
import { openTopicLog } from '../../src/log/topic-log.js'
import type { TopicLog } from '../../src/log/types.js'
import { openStorage, type Storage } from '../../src/storage/db.js'
import { createRollupStore } from '../../src/telemetry/rollups.js'
import { openStream, stateSublevel, type StreamWindow, type TelemetryStream } from '../../src/telemetry/stream.js'
import { parseWindow } from '../../src/telemetry/window-spec.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// The stream against real LevelDB and a real topic log. A "crash" is a stream that is
// dropped without close(): nothing it holds in memory reaches the next one.

const teardown = useTeardown()
const T0 = Date.UTC(2026, 0, 1)
const S = 1000

interface Rig {
  storage: Storage
  log: TopicLog
  clock: ManualClock
  open: (log?: TopicLog) => Promise<TelemetryStream>
  publish: (deviceId: string, ts: number, data: Record<string, unknown>) => Promise<void>
  outputs: () => Promise<Array<{ id: string, data: any }>>
}

const WINDOW: StreamWindow = { name: 'w', ...parseWindow({ window: { kind: 'tumbling', sizeSeconds: 10 }, aggregates: ['count', 'sum'] }) }

async function rig (): Promise<Rig> {
  const dir = await tempDir()
  const storage = await openStorage(dir.path)
  const clock = new ManualClock(T0)
  const log = await openTopicLog({ storage, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes: 0 })
  teardown(async () => { await log.close(); await storage.close(); await dir.remove() })
  await log.createTopic('telemetry')
  await log.createTopic('telemetry-windows')
  let n = 0
  return {
    storage,
    log,
    clock,
    open: async (via = log) => await openStream({
      storage,
      db: stateSublevel(storage),
      log: via,
      clock,
      source: { topic: 'telemetry', types: [], timeField: 'ts' },
      policy: {},
      rollups: createRollupStore(storage.json('telemetry')),
      namespace: 'ns',
      sync: false,
      checkpointIntervalMs: 3_600_000,
      snapshotIntervalMs: 3_600_000
    }, [WINDOW]),
    publish: async (deviceId, ts, data) => {
      const event = { specversion: '1.0', id: String(n++), source: 's', type: 't', deviceid: deviceId, data: { ts, ...data } }
      await log.append('telemetry', [Buffer.from(JSON.stringify(event))])
    },
    outputs: async () => (await log.read('telemetry-windows', { offset: 0 }, 1000)).records.map((r) => JSON.parse(r.bytes.toString()))
  }
}

const summary = (events: Array<{ data: any }>): string[] => events.map((e) => `${e.data.deviceId as string}@${(Date.parse(e.data.end) - T0) / S}:${e.data.count as number}/${e.data.sum as number}`)

describe('telemetry stream restarts', () => {
  it('continues open windows from the last checkpoint, counting readings from before and after it once', async () => {
    const r = await rig()
    const first = await r.open()
    for (const t of [1, 2, 3]) await r.publish('d', T0 + t * S, { v: t })
    await first.checkpoint()
    // Readings after the checkpoint are in the log only: the next stream reads them again.
    for (const t of [4, 5]) await r.publish('d', T0 + t * S, { v: t })
    const second = await r.open()
    for (const t of [6, 12]) await r.publish('d', T0 + t * S, { v: t })
    await second.checkpoint()
    expect(summary(await r.outputs())).toEqual(['d@10:6/21'])
  })

  it('appends the windows a checkpoint stored but could not append, when the next stream opens', async () => {
    const r = await rig()
    // The output append fails after the checkpoint was written, as if the process died there.
    const failing: TopicLog = {
      ...r.log,
      append: async (topic, events) => {
        if (topic === 'telemetry-windows') throw new GridgateError('STORAGE_WRITE_FAILED')
        return await r.log.append(topic, events)
      }
    }
    const first = await r.open(failing)
    for (const t of [1, 2, 11]) await r.publish('d', T0 + t * S, { v: t })
    await first.checkpoint()
    expect(await r.outputs()).toEqual([])
    const second = await r.open()
    expect(summary(await r.outputs())).toEqual(['d@10:2/3'])
    await second.checkpoint()
    expect(summary(await r.outputs())).toEqual(['d@10:2/3'])
  })

  it('does not append again the windows of the last checkpoint that the output topic already has', async () => {
    const r = await rig()
    const first = await r.open()
    for (const t of [1, 2, 11, 21]) await r.publish('d', T0 + t * S, { v: t })
    await first.checkpoint()
    expect(summary(await r.outputs())).toEqual(['d@10:2/3', 'd@20:1/11'])
    // Dropped before another checkpoint replaced the stored outbox: all of it is appended already.
    const second = await r.open()
    await second.checkpoint()
    expect(summary(await r.outputs())).toEqual(['d@10:2/3', 'd@20:1/11'])
  })

  it('emits once the windows that went out between the last snapshot and a crash, and the ones still to come', async () => {
    const r = await rig()
    const first = await r.open()
    for (const t of [1, 2]) await r.publish('d', T0 + t * S, { v: t })
    await first.checkpoint()
    // After the snapshot: one window goes out, one more closes only after the crash.
    for (const t of [11, 12]) await r.publish('d', T0 + t * S, { v: t })
    await r.publish('e', T0 + 3 * S, { v: 100 })
    await r.publish('e', T0 + 21 * S, { v: 200 })
    await first.emit()
    expect(summary(await r.outputs())).toEqual(['d@10:2/3', 'e@10:1/100'])
    await r.publish('d', T0 + 25 * S, { v: 25 })
    // Dropped without a snapshot: the next stream replays from the last one.
    const second = await r.open()
    await second.emit()
    expect(summary(await r.outputs())).toEqual(['d@10:2/3', 'e@10:1/100', 'd@20:2/23'])
  })

  it('closes windows of devices that went quiet by the arrival clock (late-arrival tolerance)', async () => {
    const r = await rig()
    const stream = await r.open()
    await r.publish('quiet', T0 + 1 * S, { v: 1 })
    await stream.checkpoint()
    expect(await r.outputs()).toEqual([])
    // 5 s of late-arrival tolerance after the window's end, the watermark passes it.
    r.clock.advance(15 * S + 1)
    await stream.checkpoint()
    expect(summary(await r.outputs())).toEqual(['quiet@10:1/1'])
  })
})
