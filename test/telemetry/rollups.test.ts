import { describe, expect, it } from 'vitest'
import { levelTelemetryStore } from '../../src/storage/level/telemetry-store.js'
import { createRollups, type Rollups } from '../../src/telemetry/rollups.js'
import type { TelemetryStore } from '../../src/telemetry/store.js'
import { EMBEDDED_ENGINES } from '../helpers/engines.js'
import { useTeardown } from '../helpers/teardown.js'

// The per-second rollups an instance keeps in memory, and what its commits store, against a
// real store on every embedded engine: answers come from memory before a commit and from the
// store after it, per (device, metric) and never mixing devices.

const teardown = useTeardown()
const T0 = Date.UTC(2026, 0, 1)

const counts = async (r: Rollups, deviceId: string, metric: string): Promise<Array<[number, number, number]>> =>
  (await r.load(deviceId, metric, T0, T0 + 60_000)).map((b) => [(b.end - T0) / 1000, b.agg.count, b.agg.sum])

for (const engine of EMBEDDED_ENGINES) {
  describe(`rollups (${engine.name})`, () => {
    async function open (): Promise<{ store: TelemetryStore, rollups: Rollups }> {
      const handle = await engine.open()
      teardown(async () => { await handle.cleanup() })
      const store = levelTelemetryStore(handle.store)
      return { store, rollups: createRollups(store) }
    }

    async function commit (store: TelemetryStore, rollups: Rollups): Promise<void> {
      const { changes } = await rollups.collect()
      await store.commit(changes)
    }

    it('keeps one bucket per second per device and metric, before and after a commit', async () => {
      const { store, rollups } = await open()
      rollups.add('a', 'temp', T0 + 100, 1)
      rollups.add('a', 'temp', T0 + 900, 2)
      rollups.add('a', 'temp', T0 + 1500, 4)
      rollups.add('a', 'hum', T0 + 100, 50)
      rollups.add('b', 'temp', T0 + 100, 10)
      const expected = [[1, 2, 3], [2, 1, 4]]
      expect(await counts(rollups, 'a', 'temp')).toEqual(expected)
      expect(await counts(rollups, 'b', 'temp')).toEqual([[1, 1, 10]])
      await commit(store, rollups)
      expect(await counts(rollups, 'a', 'temp')).toEqual(expected)
      // A fresh instance sees only what was stored.
      expect(await counts(createRollups(store), 'a', 'temp')).toEqual(expected)
      expect(await counts(createRollups(store), 'a', 'hum')).toEqual([[1, 1, 50]])
    })

    it('adds readings to a bucket a previous run stored instead of replacing it', async () => {
      const { store, rollups } = await open()
      rollups.add('a', 'temp', T0 + 100, 1)
      await commit(store, rollups)
      const next = createRollups(store)
      next.add('a', 'temp', T0 + 200, 2)
      await commit(store, next)
      expect(await counts(createRollups(store), 'a', 'temp')).toEqual([[1, 2, 3]])
    })

    it("lists a device's own metrics with their newest reading, whether stored or not", async () => {
      const { store, rollups } = await open()
      rollups.add('a', 'temp', T0 + 100, 1)
      rollups.add('a', 'temp', T0 + 2100, 3)
      rollups.add('a1', 'temp', T0 + 100, 99)
      await commit(store, rollups)
      rollups.add('a', 'hum', T0 + 3000, 40)
      expect(await rollups.metricsOf('a')).toEqual([
        { metric: 'hum', lastValue: 40, lastTime: T0 + 3000 },
        { metric: 'temp', lastValue: 3, lastTime: T0 + 2100 }
      ])
      expect(await rollups.hasMetric('a', 'hum')).toBe(true)
      expect(await rollups.hasMetric('a1', 'hum')).toBe(false)
      expect(await rollups.metricsOf('nobody')).toEqual([])
    })

    it('keeps the newest reading when an older one arrives after it', async () => {
      const { rollups } = await open()
      rollups.add('a', 'temp', T0 + 5000, 5)
      rollups.add('a', 'temp', T0 + 4000, 4)
      expect(await rollups.metricsOf('a')).toEqual([{ metric: 'temp', lastValue: 5, lastTime: T0 + 5000 }])
    })

    it('writes again, on the next commit, what a failed commit held', async () => {
      const { store, rollups } = await open()
      rollups.add('a', 'temp', T0 + 100, 1)
      rollups.add('a', 'temp', T0 + 1100, 2)
      const first = await rollups.collect()
      first.failed()
      await commit(store, rollups)
      expect(await counts(createRollups(store), 'a', 'temp')).toEqual([[1, 1, 1], [2, 1, 2]])
      expect(await createRollups(store).metricsOf('a')).toEqual([{ metric: 'temp', lastValue: 2, lastTime: T0 + 1100 }])
    })

    it('writes a failed commit\'s buckets again without undoing readings that came after it', async () => {
      const { store, rollups } = await open()
      rollups.add('a', 'temp', T0 + 100, 1)
      const first = await rollups.collect()
      // More readings in the same second, then the next second closes it, before the commit fails.
      rollups.add('a', 'temp', T0 + 200, 2)
      rollups.add('a', 'temp', T0 + 1100, 4)
      first.failed()
      await commit(store, rollups)
      expect(await counts(createRollups(store), 'a', 'temp')).toEqual([[1, 2, 3], [2, 1, 4]])
      // A failure with nothing added since writes the taken state as it was.
      rollups.add('a', 'temp', T0 + 2100, 8)
      const second = await rollups.collect()
      rollups.add('a', 'temp', T0 + 3100, 16)
      second.failed()
      await commit(store, rollups)
      expect(await counts(createRollups(store), 'a', 'temp')).toEqual([[1, 2, 3], [2, 1, 4], [3, 1, 8], [4, 1, 16]])
    })

    it('answers a query with buckets that later readings do not change', async () => {
      const { rollups } = await open()
      // The series' first bucket of a run is kept whole (it may merge with a stored part); the
      // second one's aggregate is what the third reuses.
      rollups.add('a', 'temp', T0 + 100, 1)
      rollups.add('a', 'temp', T0 + 1100, 2)
      rollups.add('a', 'temp', T0 + 1200, 6)
      const held = await rollups.load('a', 'temp', T0 + 2000, T0 + 2000)
      rollups.add('a', 'temp', T0 + 2100, 100)
      expect(held.map((b) => [b.agg.count, b.agg.sum, b.agg.value('p99')])).toEqual([[2, 8, expect.closeTo(6, 1)]])
      expect(await counts(rollups, 'a', 'temp')).toEqual([[1, 1, 1], [2, 2, 8], [3, 1, 100]])
    })

    it('keeps each second\'s percentiles apart when buckets follow one another', async () => {
      const { store, rollups } = await open()
      // Buckets are (end - 1 s, end]: these are the seconds ending at T0 + 1 s and T0 + 2 s.
      for (let i = 0; i < 100; i++) rollups.add('a', 'temp', T0 + 1 + i, i + 1)
      for (let i = 0; i < 10; i++) rollups.add('a', 'temp', T0 + 1001 + i, -1000 - i)
      await commit(store, rollups)
      const [first, second] = await createRollups(store).load('a', 'temp', T0, T0 + 60_000)
      expect(first?.agg.value('p50')).toBeCloseTo(50, -0.5)
      expect(first?.agg.value('min')).toBe(1)
      expect(second?.agg.value('p50')).toBeCloseTo(-1005, -1)
      expect(second?.agg.value('max')).toBe(-1000)
      expect(second?.agg.count).toBe(10)
    })

    it('collects the changes of 300,000 series in one commit', async () => {
      const { rollups } = await open()
      for (let d = 0; d < 100_000; d++) for (const m of ['a', 'b', 'c']) rollups.add(`d${d}`, m, T0 + 100, d)
      const { changes } = await rollups.collect()
      expect(changes.filter((c) => c.kind === 'last')).toHaveLength(300_000)
      expect(changes.filter((c) => c.kind === 'bucket')).toHaveLength(300_000)
    })

    it('forgets stored last values at or before the cutoff, never unwritten ones', async () => {
      const { store, rollups } = await open()
      rollups.add('a', 'temp', T0 + 100, 1)
      await commit(store, rollups)
      rollups.add('a', 'hum', T0 + 100, 7)
      expect(await rollups.sweep(T0 + 1000)).toBeGreaterThan(0)
      expect(await rollups.hasMetric('a', 'temp')).toBe(false)
      expect(await rollups.hasMetric('a', 'hum')).toBe(true)
    })
  })
}
