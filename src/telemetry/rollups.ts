import { aggregateFromJSON, createAggregate, type Aggregate } from './aggregate.js'
import { ROLLUP_MS } from './query.js'
import type { LastValue, TelemetryChange, TelemetryStore } from './store.js'
import type { PendingWrite } from './stream-snapshots.js'

// Per-second rollups of every (device, metric): the aggregate of the readings with event
// time in (end − 1 s, end], so queries over a day merge 86,400 small records instead of
// scanning raw events. Readings arrive in event-time order per device (the event-time
// policy releases them so), so each (device, metric) has one open bucket in memory; the
// streams write closed and changed buckets, and the newest reading of each (device, metric),
// in their checkpoint commits. Each source stream has its own instance (its buckets go into
// its own commits, with its own cursor, so a stream that is replayed or handed to another node
// re-adds only what it had not stored); queries read the store and every instance's memory
// through rollupsView.

export interface RollupBucket {
  end: number
  agg: Aggregate
}

export interface MetricSummary {
  metric: string
  lastValue: number
  lastTime: number
}

export interface Rollups {
  /** Adds a released reading (in memory). */
  add: (deviceId: string, metric: string, time: number, value: number) => void
  /** Changes for what changed since the last call; merges buckets a previous run stored. */
  collect: () => Promise<PendingWrite>
  /** Buckets with end in [fromEnd, toEnd], oldest first, stored and in memory. */
  load: (deviceId: string, metric: string, fromEnd: number, toEnd: number, opts?: { percentiles?: boolean }) => Promise<RollupBucket[]>
  /** The device's metrics with their newest reading; [] when it has none. */
  metricsOf: (deviceId: string) => Promise<MetricSummary[]>
  /** Whether the device has ever reported the metric (and its rollups have not aged out). */
  hasMetric: (deviceId: string, metric: string) => Promise<boolean>
  /** Removes buckets ending at or before `cutoff`; returns how many (device, metric) ranges were cut. */
  sweep: (cutoff: number) => Promise<number>
  /** What is in memory and not stored yet (rollupsView reads it). */
  readonly unstored: Unstored
}

/** One instance's readings not stored yet. */
export interface Unstored {
  /** Buckets of the series; `merge`: it adds to a stored part of the same bucket. */
  buckets: (deviceId: string, metric: string) => Array<{ end: number, agg: Aggregate, merge: boolean }>
  /** The device's newest readings per metric. */
  lasts: (deviceId: string) => Array<[metric: string, last: LastValue]>
  has: (deviceId: string, metric: string) => boolean
  /** Forgets stored last values read at or before `cutoff`. */
  forget: (cutoff: number) => void
}

interface Bucket {
  deviceId: string
  metric: string
  end: number
  agg: Aggregate
  /** A run before this one may have stored part of this bucket: merge before writing. */
  merge: boolean
  dirty: boolean
}

interface Last {
  value: number
  time: number
  dirty: boolean
}

/** One (device, metric): its open bucket and its newest reading. */
interface Series {
  bucket: Bucket | undefined
  last: Last | undefined
}

export function createRollups (store: TelemetryStore): Rollups {
  // By device, then metric: a reading looks up strings it already has (the event's device id,
  // the data's field name) instead of building and hashing a `{deviceId}!{metric}` key, and a
  // device's series are found without walking everyone's.
  const series = new Map<string, Map<string, Series>>()
  /** Buckets a newer one replaced in their series, not written yet. */
  const closed: Bucket[] = []
  const find = (deviceId: string, metric: string): Series | undefined => series.get(deviceId)?.get(metric)
  const unstored: Unstored = {
    buckets (deviceId, metric) {
      const pending = closed.filter((b) => b.deviceId === deviceId && b.metric === metric)
      const current = find(deviceId, metric)?.bucket
      if (current?.dirty === true) pending.push(current)
      return pending
    },
    lasts (deviceId) {
      const out: Array<[string, LastValue]> = []
      for (const [metric, s] of series.get(deviceId) ?? []) if (s.last !== undefined) out.push([metric, s.last])
      return out
    },
    has: (deviceId, metric) => find(deviceId, metric)?.last !== undefined,
    // A last value not written yet is newer than the stored one: the next commit writes it.
    forget (cutoff) {
      for (const metrics of series.values()) {
        for (const s of metrics.values()) if (s.last !== undefined && !s.last.dirty && s.last.time <= cutoff) s.last = undefined
      }
    }
  }

  return {
    add (deviceId, metric, time, value) {
      let metrics = series.get(deviceId)
      if (metrics === undefined) series.set(deviceId, metrics = new Map())
      let s = metrics.get(metric)
      if (s === undefined) metrics.set(metric, s = { bucket: undefined, last: undefined })
      const end = Math.ceil(time / ROLLUP_MS) * ROLLUP_MS
      let b = s.bucket
      if (b === undefined || b.end !== end) {
        // The first bucket of a series in this run may exist from before a restart; later ones
        // are new, since readings come in time order per device.
        const merge = b === undefined || end < b.end
        if (b !== undefined && b.dirty) closed.push(b)
        b = { deviceId, metric, end, agg: createAggregate(), merge, dirty: false }
        s.bucket = b
      }
      b.agg.add(time, value)
      b.dirty = true
      const last = s.last
      if (last === undefined) s.last = { value, time, dirty: true }
      else if (time >= last.time) {
        last.value = value
        last.time = time
        last.dirty = true
      }
    },

    async collect () {
      const write = closed.splice(0)
      const taken: Last[] = []
      const changes: TelemetryChange[] = []
      const lastChanges: TelemetryChange[] = []
      for (const [deviceId, metrics] of series) {
        for (const [metric, s] of metrics) {
          if (s.bucket?.dirty === true) write.push(s.bucket)
          const last = s.last
          if (last === undefined || !last.dirty) continue
          last.dirty = false
          taken.push(last)
          lastChanges.push({ kind: 'last', deviceId, metric, value: last.value, time: last.time })
        }
      }
      const merging = write.filter((b) => b.merge)
      if (merging.length > 0) {
        const stored = await store.getBuckets(merging)
        merging.forEach((b, i) => {
          const s = stored[i]
          if (s !== undefined) b.agg = aggregateFromJSON(s).merge(b.agg)
          b.merge = false
        })
      }
      for (const b of write) {
        b.dirty = false
        changes.push({ kind: 'bucket', deviceId: b.deviceId, metric: b.metric, end: b.end, agg: b.agg.toJSON() })
      }
      // Not push(...): a spread of this many arguments overflows the stack past ~100,000 series.
      for (const c of lastChanges) changes.push(c)
      // Dirty again, they go into the next commit. Readings added meanwhile only make what
      // is written then more complete.
      const failed = (): void => {
        for (const b of write) {
          b.dirty = true
          if (find(b.deviceId, b.metric)?.bucket !== b && !closed.includes(b)) closed.push(b)
        }
        for (const last of taken) last.dirty = true
      }
      return { changes, failed }
    },

    ...rollupsView(store, () => [unstored]),
    unstored
  }
}

/** Queries over the stored rollups and the memory of several instances (one per stream). */
export function rollupsView (store: TelemetryStore, parts: () => Iterable<Unstored>): Pick<Rollups, 'load' | 'metricsOf' | 'hasMetric' | 'sweep'> {
  return {
    async load (deviceId, metric, fromEnd, toEnd, opts = {}) {
      const out: RollupBucket[] = (await store.readBuckets(deviceId, metric, fromEnd, toEnd)).map((s) => ({ end: s.end, agg: aggregateFromJSON(s.agg, opts) }))
      // Buckets not yet written (or changed since) are in memory.
      for (const part of parts()) {
        for (const b of part.buckets(deviceId, metric)) {
          if (b.end < fromEnd || b.end > toEnd) continue
          const i = out.findIndex((s) => s.end === b.end)
          // A merged or new bucket in memory is complete; an unmerged one adds to the stored part.
          const agg = i >= 0 && b.merge ? aggregateFromJSON((out[i] as RollupBucket).agg.toJSON(), opts).merge(b.agg) : b.agg
          if (i >= 0) out[i] = { end: b.end, agg }
          else out.push({ end: b.end, agg })
        }
      }
      return out.sort((a, b) => a.end - b.end)
    },

    async metricsOf (deviceId) {
      const found = new Map<string, MetricSummary>()
      for (const v of await store.lastValues(deviceId)) found.set(v.metric, { metric: v.metric, lastValue: v.value, lastTime: v.time })
      for (const part of parts()) {
        for (const [metric, last] of part.lasts(deviceId)) {
          const had = found.get(metric)
          if (had === undefined || last.time >= had.lastTime) found.set(metric, { metric, lastValue: last.value, lastTime: last.time })
        }
      }
      return [...found.values()].sort((a, b) => a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0)
    },

    async hasMetric (deviceId, metric) {
      for (const part of parts()) if (part.has(deviceId, metric)) return true
      return await store.lastValue(deviceId, metric) !== undefined
    },

    async sweep (cutoff) {
      const cut = await store.removeRollupsThrough(cutoff)
      for (const part of parts()) part.forget(cutoff)
      return cut
    }
  }
}
