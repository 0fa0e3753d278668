import { describe, expect, it } from 'vitest'
import type { TelemetryConfig } from '../../src/config/schema.js'
import { validateConfig } from '../../src/config/validate.js'
import { ManualClock } from '../../src/core/clock.js'
import type { TopicLog } from '../../src/log/types.js'
import { levelTelemetryStore } from '../../src/storage/level/telemetry-store.js'
import { openLevelTopicLogs } from '../../src/storage/level/topic-log.js'
import type { TelemetryStore } from '../../src/telemetry/store.js'
import { openTelemetry, type Telemetry } from '../../src/telemetry/telemetry.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'

// openTelemetry over the TelemetryStore port: window definitions from the store and the
// config, streams per source, queries, retention. The whole gateway is test/flows/telemetry*.

const teardown = useTeardown()
const T0 = Date.UTC(2026, 0, 1)
const S = 1000
const TUMBLING = { window: { kind: 'tumbling', sizeSeconds: 10 }, aggregates: ['count', 'sum'] }

const telemetryConfig = (telemetry: Record<string, unknown> = {}): TelemetryConfig =>
  validateConfig({ telemetry: { sources: [{ topic: 'telemetry', types: [], timeField: 'ts' }], ...telemetry } }).telemetry

for (const engine of EMBEDDED_ENGINES) {
  describe(`openTelemetry (${engine.name})`, () => {
    async function rig (): Promise<{ store: TelemetryStore, log: TopicLog, clock: ManualClock, start: (telemetry?: Record<string, unknown>, errors?: unknown[]) => Promise<Telemetry>, publish: (deviceId: string, ts: number, v: number) => Promise<void> }> {
      const handle = await engine.open()
      const clock = new ManualClock(T0)
      const logs = await openLevelTopicLogs({ storage: handle.store, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 }, cacheBytes: 0 })
      const log = logs.view()
      const store = levelTelemetryStore(handle.store)
      const open: Telemetry[] = []
      teardown(async () => { for (const t of open) await t.close(); await log.close(); await logs.close(); await handle.cleanup() })
      let n = 0
      return {
        store,
        log,
        clock,
        start: async (telemetry, errors) => {
          const t = await openTelemetry({ store, log, clock, config: telemetryConfig(telemetry), namespace: 'ns', sync: false, observer: { error: (_topic, err) => errors?.push(err) } })
          open.push(t)
          return t
        },
        publish: async (deviceId, ts, v) => {
          const event = { specversion: '1.0', id: String(n++), source: 's', type: 't', deviceid: deviceId, data: { ts, v } }
          await log.append('telemetry', [Buffer.from(JSON.stringify(event))])
        }
      }
    }

    it('stores windows made over HTTP and takes them from the store at the next start', async () => {
      const r = await rig()
      const first = await r.start()
      expect((await first.putWindow('w1', TUMBLING)).created).toBe(true)
      expect((await first.putWindow('w1', { ...await first.getWindow('w1') })).created).toBe(false)
      expect((await r.store.listWindows()).map((w) => w.name)).toEqual(['w1'])
      await first.close()
      const second = await r.start()
      expect((await second.listWindows()).map((w) => w.name)).toEqual(['w1'])
      await second.deleteWindow('w1')
      expect(await r.store.listWindows()).toEqual([])
      await expect(second.getWindow('w1')).rejects.toMatchObject({ code: 'WINDOW_NOT_FOUND' })
    })

    it('starts a config window over, with empty state, when the config changes it', async () => {
      const r = await rig()
      const first = await r.start({ windows: [{ name: 'w', ...TUMBLING }] })
      await r.publish('d', T0 + S, 1)
      await first.checkpoint()
      expect(await r.store.loadWindowState('telemetry', 'w')).toHaveLength(1)
      await first.close()
      await r.start({ windows: [{ name: 'w', ...TUMBLING, aggregates: ['count'] }] })
      expect(await r.store.loadWindowState('telemetry', 'w')).toEqual([])
      expect((await r.store.listWindows())[0]?.stored.definition).toMatchObject({ aggregates: ['count'] })
    })

    it('keeps a stored window whose source left the config, without running it', async () => {
      const r = await rig()
      const first = await r.start({ sources: [{ topic: 'telemetry' }, { topic: 'other' }] })
      await first.putWindow('w', { ...TUMBLING, sourceTopic: 'other' })
      await first.close()
      const errors: unknown[] = []
      const second = await r.start({}, errors)
      expect(await second.listWindows()).toEqual([])
      expect((await r.store.listWindows()).map((w) => w.name)).toEqual(['w'])
      expect(String(errors[0])).toContain("window 'w' reads 'other', which is not in telemetry.sources")
    })

    it('names the config field of a window body it refuses', async () => {
      const r = await rig()
      const err = await r.start({ windows: [{ name: 'w', window: { kind: 'tumbling', sizeSeconds: -1 } }] }).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'CONFIG_INVALID' })
      expect((err as Error).message.startsWith('/telemetry/windows/0/window.sizeSeconds')).toBe(true)
      expect(await r.store.listWindows()).toEqual([])
    })

    it('answers queries from the rollups and removes them past retention', async () => {
      const r = await rig()
      const t = await r.start({ rollupRetentionSeconds: 60 })
      for (let i = 1; i <= 20; i++) await r.publish('d', T0 + i * S, i)
      await t.checkpoint()
      const res = await t.query('d', 'v', { from: new Date(T0).toISOString(), to: new Date(T0 + 20 * S).toISOString(), window: 'tumbling', size: '10s', agg: 'count,sum' })
      expect(res.series.map((w) => [w.count, w.sum])).toEqual([[10, 55], [10, 155]])
      expect(await t.metricsOf('d')).toEqual([{ metric: 'v', lastValue: 20, lastTime: T0 + 20 * S }])
      r.clock.advance(70 * S)
      expect(await t.sweep()).toBe(1)
      expect((await r.store.readBuckets('d', 'v', 0, T0 + 100 * S)).map((b) => (b.end - T0) / S)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20])
      r.clock.advance(10 * S)
      expect(await t.sweep()).toBe(1)
      expect(await r.store.readBuckets('d', 'v', 0, T0 + 100 * S)).toEqual([])
      expect(await t.metricsOf('d')).toEqual([])
      await expect(t.query('d', 'v', {})).rejects.toMatchObject({ code: 'METRIC_NOT_FOUND' })
    })
  })
}

// Checks across config entries are config validation's (config/validate.ts); each window's
// own fields are telemetry's, at start (above).
describe('telemetry window config checks', () => {
  const problems = (telemetry: Record<string, unknown>): string[] => {
    try {
      validateConfig({ telemetry })
      return []
    } catch (err) {
      expect(err).toMatchObject({ code: 'CONFIG_INVALID' })
      return (err as { details: { problems: string[] } }).details.problems
    }
  }

  it('refuses a window name defined twice, at the second one', () => {
    expect(problems({ windows: [{ name: 'w', window: {} }, { name: 'x', window: {} }, { name: 'w', window: {} }] }))
      .toEqual(["/telemetry/windows/2/name: 'w' is defined twice"])
  })

  it('refuses a window reading a topic that is not a source, the default source included', () => {
    expect(problems({ sources: [{ topic: 'events' }], windows: [{ name: 'a', sourceTopic: 'events' }, { name: 'b', sourceTopic: 'other' }, { name: 'c' }] })).toEqual([
      "/telemetry/windows: window 'b' reads 'other', which is not in telemetry.sources",
      "/telemetry/windows: window 'c' reads 'telemetry', which is not in telemetry.sources"
    ])
  })

  it('lets telemetry itself report a source that is not a string, and checks no sources while telemetry is off', () => {
    expect(problems({ windows: [{ name: 'a', sourceTopic: 5 }] })).toEqual([])
    expect(problems({ enabled: false, windows: [{ name: 'a', sourceTopic: 'other' }] })).toEqual([])
  })
})
