import { aggregateFromJSON, createAggregate, type Aggregate, type AggregateJSON } from './aggregate.js'
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

/** The open bucket of a series. Its aggregate is reset and reused for the series' next second. */
interface Bucket {
  deviceId: string
  metric: string
  end: number
  agg: Aggregate
  /** A run before this one may have stored part of this bucket: merge before writing. */
  merge: boolean
  dirty: boolean
}

/**
 * A bucket that closed (a newer one replaced it in its series) and waits for the next commit:
 * as the JSON that commit writes, or, while it still has to merge with what a previous run
 * stored (the first bucket of a series after a restart), as the bucket itself.
 */
type Closed = { deviceId: string, metric: string, end: number, json: AggregateJSON } | Bucket

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

const bucketChange = (b: { deviceId: string, metric: string, end: number }, agg: AggregateJSON): TelemetryChange =>
  ({ kind: 'bucket', deviceId: b.deviceId, metric: b.metric, end: b.end, agg })

export function createRollups (store: TelemetryStore): Rollups {
  // By device, then metric: a reading looks up strings it already has (the event's device id,
  // the data's field name) instead of building and hashing a `{deviceId}!{metric}` key, and a
  // device's series are found without walking everyone's.
  const series = new Map<string, Map<string, Series>>()
  // Closed buckets wait here until the next snapshot commit (every 10 s by default): at 1,000
  // devices × 8 metrics that is 80,000 of them. Held as JSON, they are a fraction of a live
  // aggregate with its sketch, and the open bucket keeps its aggregate (and the sketch's bins)
  // for its next second instead of allocating new ones every second for every series: both
  // were most of the telemetry worker's garbage collection under fan-in.
  let closed: Closed[] = []
  const find = (deviceId: string, metric: string): Series | undefined => series.get(deviceId)?.get(metric)
  // A copy: the open bucket's aggregate is reset when its second closes, and a query may hold it longer.
  const copy = (agg: Aggregate): Aggregate => createAggregate({ percentiles: agg.sketch !== null }).merge(agg)
  const unstored: Unstored = {
    buckets (deviceId, metric) {
      const pending: Array<{ end: number, agg: Aggregate, merge: boolean }> = []
      for (const c of closed) {
        if (c.deviceId !== deviceId || c.metric !== metric) continue
        pending.push('json' in c ? { end: c.end, agg: aggregateFromJSON(c.json), merge: false } : { end: c.end, agg: c.agg, merge: c.merge })
      }
      const current = find(deviceId, metric)?.bucket
      if (current?.dirty === true) pending.push({ end: current.end, agg: copy(current.agg), merge: current.merge })
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
      if (b === undefined) {
        // The first bucket of a series in this run may exist from before a restart.
        b = s.bucket = { deviceId, metric, end, agg: createAggregate(), merge: true, dirty: false }
      } else if (b.end !== end) {
        // Later ones are new, since readings come in time order per device.
        const merge = end < b.end
        if (b.dirty && b.merge) {
          // Still to merge with a stored part (its commit may be under way): it keeps its aggregate.
          closed.push(b)
          b = s.bucket = { deviceId, metric, end, agg: createAggregate(), merge, dirty: false }
        } else {
          if (b.dirty) closed.push({ deviceId, metric, end: b.end, json: b.agg.toJSON() })
          b.agg.reset()
          b.end = end
          b.merge = merge
          b.dirty = false
        }
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
      // Everything but the merges is taken as JSON now, before the await: an open bucket whose
      // second closes meanwhile is reset and reused, and readings added meanwhile go into the
      // next commit (they only make what is written then more complete).
      const changes: TelemetryChange[] = []
      const merging: Bucket[] = []
      const taken: Last[] = []
      const lastChanges: TelemetryChange[] = []
      for (const c of closed) {
        if ('json' in c) changes.push(bucketChange(c, c.json))
        else if (c.merge) merging.push(c)
        else changes.push(bucketChange(c, c.agg.toJSON()))
      }
      closed = []
      for (const [deviceId, metrics] of series) {
        for (const [metric, s] of metrics) {
          const b = s.bucket
          if (b?.dirty === true) {
            if (b.merge) merging.push(b)
            else {
              b.dirty = false
              changes.push(bucketChange(b, b.agg.toJSON()))
            }
          }
          const last = s.last
          if (last === undefined || !last.dirty) continue
          last.dirty = false
          taken.push(last)
          lastChanges.push({ kind: 'last', deviceId, metric, value: last.value, time: last.time })
        }
      }
      if (merging.length > 0) {
        const stored = await store.getBuckets(merging)
        merging.forEach((b, i) => {
          const s = stored[i]
          if (s !== undefined) b.agg = aggregateFromJSON(s).merge(b.agg)
          b.merge = false
          b.dirty = false
          changes.push(bucketChange(b, b.agg.toJSON()))
        })
      }
      // Not push(...): a spread of this many arguments overflows the stack past ~100,000 series.
      for (const c of lastChanges) changes.push(c)
      // What was taken goes into the next commit again, ahead of what closed since (a later
      // change of the same bucket wins, and those are newer).
      const failed = (): void => {
        const again: Closed[] = []
        for (const c of changes) if (c.kind === 'bucket') again.push({ deviceId: c.deviceId, metric: c.metric, end: c.end, json: c.agg })
        closed = again.concat(closed)
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
