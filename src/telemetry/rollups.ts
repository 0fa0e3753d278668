import type { JsonSublevel } from '../storage/db.js'
import { decodeNumber, encodeTime, RANGE_END } from '../storage/keys.js'
import { aggregateFromJSON, createAggregate, type Aggregate } from './aggregate.js'
import { ROLLUP_MS } from './query.js'

// Per-second rollups of every (device, metric): the aggregate of the readings with event
// time in (end − 1 s, end], so queries over a day merge 86,400 small records instead of
// scanning raw events. Readings arrive in event-time order per device (the event-time
// policy releases them so), so each (device, metric) has one open bucket in memory; the
// stream writes closed and changed buckets in its checkpoint batch.
//
// Keys in the `telemetry` sublevel:
//   r!{deviceId}!{metric}!{end}   a bucket's AggregateJSON (end: fixed-width ms)
//   l!{deviceId}!{metric}         { value, time } of the newest reading

export interface RollupBucket {
  end: number
  agg: Aggregate
}

export interface MetricSummary {
  metric: string
  lastValue: number
  lastTime: number
}

export interface RollupStore {
  /** Adds a released reading (in memory). */
  add: (deviceId: string, metric: string, time: number, value: number) => void
  /** Batch ops for what changed since the last call; merges buckets a previous run stored. */
  collect: () => Promise<unknown[]>
  /** Buckets with end in [fromEnd, toEnd], oldest first, stored and in memory. */
  load: (deviceId: string, metric: string, fromEnd: number, toEnd: number, opts?: { percentiles?: boolean }) => Promise<RollupBucket[]>
  /** The device's metrics with their newest reading; [] when it has none. */
  metricsOf: (deviceId: string) => Promise<MetricSummary[]>
  /** Whether the device has ever reported the metric (and its rollups have not aged out). */
  hasMetric: (deviceId: string, metric: string) => Promise<boolean>
  /** Removes buckets ending at or before `cutoff`; returns how many (device, metric) ranges were cut. */
  sweep: (cutoff: number) => Promise<number>
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

const bucketKey = (deviceId: string, metric: string, end: number): string => `r!${deviceId}!${metric}!${encodeTime(end)}`

export function createRollupStore (db: JsonSublevel): RollupStore {
  const open = new Map<string, Bucket>()
  const closed: Bucket[] = []
  const lasts = new Map<string, Last>()

  return {
    add (deviceId, metric, time, value) {
      const key = deviceId + '!' + metric
      const end = Math.ceil(time / ROLLUP_MS) * ROLLUP_MS
      let b = open.get(key)
      if (b === undefined || b.end !== end) {
        // The first bucket of a key in this run may exist from before a restart; later ones
        // are new, since readings come in time order per device.
        const merge = b === undefined || end < b.end
        if (b !== undefined && b.dirty) closed.push(b)
        b = { deviceId, metric, end, agg: createAggregate(), merge, dirty: false }
        open.set(key, b)
      }
      b.agg.add(time, value)
      b.dirty = true
      const last = lasts.get(key)
      if (last === undefined) lasts.set(key, { value, time, dirty: true })
      else if (time >= last.time) {
        last.value = value
        last.time = time
        last.dirty = true
      }
    },

    async collect () {
      const write = closed.splice(0)
      for (const b of open.values()) if (b.dirty) write.push(b)
      const merging = write.filter((b) => b.merge)
      if (merging.length > 0) {
        const stored = await db.getMany(merging.map((b) => bucketKey(b.deviceId, b.metric, b.end)))
        merging.forEach((b, i) => {
          const s = stored[i]
          if (s !== undefined) b.agg = aggregateFromJSON(s).merge(b.agg)
          b.merge = false
        })
      }
      const ops: unknown[] = []
      for (const b of write) {
        b.dirty = false
        ops.push({ type: 'put', sublevel: db, key: bucketKey(b.deviceId, b.metric, b.end), value: b.agg.toJSON() })
      }
      for (const [key, last] of lasts) {
        if (!last.dirty) continue
        last.dirty = false
        ops.push({ type: 'put', sublevel: db, key: 'l!' + key, value: { value: last.value, time: last.time } })
      }
      return ops
    },

    async load (deviceId, metric, fromEnd, toEnd, opts = {}) {
      const prefix = `r!${deviceId}!${metric}!`
      const out: RollupBucket[] = []
      const it = db.iterator({ gte: prefix + encodeTime(fromEnd), lte: prefix + encodeTime(toEnd) })
      try {
        // A thousand entries per call: a day is 86,400 buckets, one await each would dominate.
        for (let page = await it.nextv(1000); page.length > 0; page = await it.nextv(1000)) {
          for (const [key, value] of page) out.push({ end: decodeNumber(key.slice(prefix.length)), agg: aggregateFromJSON(value, opts) })
        }
      } finally {
        await it.close()
      }
      // Buckets not yet written (or changed since) are in memory.
      const key = deviceId + '!' + metric
      const pending = closed.filter((b) => b.deviceId === deviceId && b.metric === metric)
      const current = open.get(key)
      if (current?.dirty === true) pending.push(current)
      for (const b of pending) {
        if (b.end < fromEnd || b.end > toEnd) continue
        const i = out.findIndex((s) => s.end === b.end)
        // A merged or new bucket in memory is complete; an unmerged one adds to the stored part.
        const agg = i >= 0 && b.merge ? aggregateFromJSON((out[i] as RollupBucket).agg.toJSON(), opts).merge(b.agg) : b.agg
        if (i >= 0) out[i] = { end: b.end, agg }
        else out.push({ end: b.end, agg })
      }
      return out.sort((a, b) => a.end - b.end)
    },

    async metricsOf (deviceId) {
      const prefix = `l!${deviceId}!`
      const found = new Map<string, MetricSummary>()
      for await (const [key, value] of db.iterator({ gte: prefix, lt: prefix + RANGE_END })) {
        const v = value as { value: number, time: number }
        found.set(key.slice(prefix.length), { metric: key.slice(prefix.length), lastValue: v.value, lastTime: v.time })
      }
      for (const [key, last] of lasts) {
        if (!key.startsWith(deviceId + '!')) continue
        const metric = key.slice(deviceId.length + 1)
        found.set(metric, { metric, lastValue: last.value, lastTime: last.time })
      }
      return [...found.values()].sort((a, b) => a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0)
    },

    async hasMetric (deviceId, metric) {
      const key = deviceId + '!' + metric
      return lasts.has(key) || await db.get('l!' + key) !== undefined
    },

    async sweep (cutoff) {
      let cut = 0
      const gone: string[] = []
      for await (const [key, value] of db.iterator({ gte: 'l!', lt: 'l!' + RANGE_END })) {
        const rest = key.slice(2)
        await db.clear({ gte: `r!${rest}!`, lte: `r!${rest}!${encodeTime(cutoff)}` })
        cut++
        if ((value as { time: number }).time <= cutoff && lasts.get(rest)?.dirty !== true) gone.push(key)
      }
      for (const key of gone) {
        lasts.delete(key.slice(2))
        await db.del(key)
      }
      return cut
    }
  }
}
