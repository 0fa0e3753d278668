import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { GridgateError } from '../../src/core/errors.js'
import type { TopicLog } from '../../src/log/types.js'
import { levelTelemetryStore } from '../../src/storage/level/telemetry-store.js'
import { openLevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { createRollups, type Rollups } from '../../src/telemetry/rollups.js'
import type { TelemetryStore } from '../../src/telemetry/store.js'
import { openStream, type StreamWindow, type TelemetryStream } from '../../src/telemetry/stream.js'
import { parseWindow } from '../../src/telemetry/window-spec.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'

// The stream against a real store and a real topic log, on every embedded engine. A "crash"
// is a stream that is dropped without close(): nothing it holds in memory reaches the next
// one (the store, like a process's data directory, stays).

const teardown = useTeardown()
const T0 = Date.UTC(2026, 0, 1)
const S = 1000

interface Rig {
  store: TelemetryStore
  log: TopicLog
  clock: ManualClock
  /** A stream as a new process would open it: its own rollups, the same store. */
  open: (via?: { log?: TopicLog, store?: TelemetryStore, windows?: StreamWindow[] }) => Promise<TelemetryStream>
  /** The rollups of the last stream opened. */
  rollups: () => Rollups
  publish: (deviceId: string, ts: number, data: Record<string, unknown>) => Promise<void>
  outputs: () => Promise<Array<{ id: string, data: any }>>
}

const window = (name: string, body: Record<string, unknown>): StreamWindow => ({ name, ...parseWindow(body) })
const WINDOW = window('w', { window: { kind: 'tumbling', sizeSeconds: 10 }, aggregates: ['count', 'sum'] })

const summary = (events: Array<{ data: any }>): string[] => events.map((e) => `${e.data.deviceId as string}@${(Date.parse(e.data.end) - T0) / S}:${e.data.count as number}/${e.data.sum as number}`)

for (const engine of EMBEDDED_ENGINES) {
  async function rig (): Promise<Rig> {
    const handle = await engine.open()
    const clock = new ManualClock(T0)
    const logs = await openLevelTopicLogs({ storage: handle.store, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes: 0 })
    const log = logs.view()
    const store = levelTelemetryStore(handle.store)
    teardown(async () => { await log.close(); await logs.close(); await handle.cleanup() })
    await log.createTopic('telemetry')
    await log.createTopic('telemetry-windows')
    let n = 0
    let rollups = createRollups(store)
    return {
      store,
      log,
      clock,
      open: async (via = {}) => {
        rollups = createRollups(via.store ?? store)
        return await openStream({
          store: via.store ?? store,
          log: via.log ?? log,
          clock,
          source: { topic: 'telemetry', types: [], timeField: 'ts' },
          policy: {},
          rollups,
          namespace: 'ns',
          sync: false,
          checkpointIntervalMs: 3_600_000,
          snapshotIntervalMs: 3_600_000
        }, via.windows ?? [WINDOW])
      },
      rollups: () => rollups,
      publish: async (deviceId, ts, data) => {
        const event = { specversion: '1.0', id: String(n++), source: 's', type: 't', deviceid: deviceId, data: { ts, ...data } }
        await log.append('telemetry', [Buffer.from(JSON.stringify(event))])
      },
      outputs: async () => (await log.read('telemetry-windows', { offset: 0 }, 1000)).records.map((r) => JSON.parse(r.bytes.toString()))
    }
  }

  describe(`telemetry stream restarts (${engine.name})`, () => {
    it('tells where it has read to: behind the topic until it reads what was appended, at the topic\'s end after', async () => {
      const r = await rig()
      await (await r.open()).close()
      for (let i = 0; i < 5; i++) await r.publish('d1', T0 + i * S, { v: i })
      const s = await r.open()
      teardown(() => s.close())
      // It starts from the stored checkpoint; its first read is still under way.
      expect(s.position()).toBe(0)
      await s.emit()
      expect(s.position()).toBe(5)
      expect((await r.log.getTopic('telemetry'))?.nextOffset).toBe(5)
    })

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
      const first = await r.open({ log: failing })
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

    it('writes again at the next checkpoint what a failed commit did not write, so the cursor never passes lost state', async () => {
      const r = await rig()
      let fail = true
      const flaky: TelemetryStore = {
        ...r.store,
        commit: async (changes, options) => {
          if (fail && changes.some((c) => c.kind === 'operator')) throw new GridgateError('STORAGE_WRITE_FAILED')
          await r.store.commit(changes, options)
        }
      }
      const first = await r.open({ store: flaky })
      for (const t of [1, 2]) await r.publish('d', T0 + t * S, { v: t })
      await expect(first.checkpoint()).rejects.toMatchObject({ code: 'STORAGE_WRITE_FAILED' })
      fail = false
      // Only another device moves: d's policy, operator and rollups changed before the failure.
      await r.publish('e', T0 + 3 * S, { v: 100 })
      await first.checkpoint()
      const second = await r.open()
      for (const t of [12]) await r.publish('d', T0 + t * S, { v: t })
      await second.checkpoint()
      expect(summary(await r.outputs())).toEqual(['d@10:2/3'])
      expect((await r.rollups().load('d', 'v', T0, T0 + 10 * S)).map((b) => [(b.end - T0) / S, b.agg.count])).toEqual([[1, 1], [2, 1]])
    })

    it('keeps the state of a removed window nowhere, and a window added later starts empty', async () => {
      const r = await rig()
      const other = window('x', { window: { kind: 'tumbling', sizeSeconds: 10 }, aggregates: ['count', 'sum'] })
      const first = await r.open({ windows: [WINDOW, other] })
      for (const t of [1, 2]) await r.publish('d', T0 + t * S, { v: t })
      await first.checkpoint()
      expect((await r.store.loadWindowState('telemetry', 'x')).length).toBe(1)
      await first.removeWindow('x')
      expect(await r.store.loadWindowState('telemetry', 'x')).toEqual([])
      await first.addWindow(other)
      for (const t of [4, 11]) await r.publish('d', T0 + t * S, { v: t })
      await first.checkpoint()
      expect((await r.outputs()).map((e) => `${e.data.window as string}:${summary([e])[0] as string}`)).toEqual(['w:d@10:3/7', 'x:d@10:1/4'])
    })

    it('drops the stored state of windows it no longer runs when it opens', async () => {
      const r = await rig()
      const other = window('x', { window: { kind: 'sliding', sizeSeconds: 5 }, aggregates: ['count'] })
      const first = await r.open({ windows: [WINDOW, other] })
      await r.publish('d', T0 + S, { v: 1 })
      await first.checkpoint()
      await r.open()
      expect(await r.store.loadWindowState('telemetry', 'x')).toEqual([])
      expect((await r.store.loadWindowState('telemetry', 'w')).length).toBe(1)
    })
  })
}
