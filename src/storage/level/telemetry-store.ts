import { aggregateFromRecord } from '../../telemetry/aggregate.js'
import { aggregateBytes, aggregateFromBytes, isAggregateBytes } from '../../telemetry/aggregate-bytes.js'
import type { AggregateJSON, LastValue, OperatorSnapshot, StoredWindow, StreamCheckpoint, StreamState, TelemetryChange, TelemetryStore } from '../../telemetry/store.js'
import type { BinarySublevel, JsonSublevel, LevelStore, Op } from './db.js'
import { decodeNumber, encodeTime, RANGE_END } from './keys.js'

// Telemetry on an abstract-level store, in the layout data directories already hold.
//   `telemetry` sublevel (JSON values, but for r!):
//     w!{window}                        { definition, createdAt }
//     r!{deviceId}!{metric}!{end}       a rollup bucket's aggregate as bytes (telemetry/aggregate-bytes.ts;
//                                       end: fixed-width ms); JSON written before 0.19.0 is still read:
//                                       an AggregateRecord, or an AggregateJSON object before 0.11.0
//     l!{deviceId}!{metric}             { value, time } of the newest reading
//   `telemetry-state` sublevel (bytes), per source topic T:
//     s!T!c                             the checkpoint, as JSON text
//     s!T!p!{deviceId}                  the device's event-time policy snapshot
//     s!T!o!{window}!{deviceId}!{metric}   a window operator snapshot
// Topic, window and device names and metrics hold no '!' (core/names.ts, window-spec.ts,
// source.ts), and every character they use sorts before RANGE_END.

const range = (prefix: string): { gte: string, lt: string } => ({ gte: prefix, lt: prefix + RANGE_END })
const bucketKey = (deviceId: string, metric: string, end: number): string => `r!${deviceId}!${metric}!${encodeTime(end)}`
const windowPrefix = (source: string, window: string): string => `s!${source}!o!${window}!`

/** Every entry under a prefix, in key order. */
async function entries<V> (db: BinarySublevel | JsonSublevel, prefix: string): Promise<Array<[string, V]>> {
  const out: Array<[string, V]> = []
  // Seen as JSON-valued: the union of both sublevel types has no callable iterator().
  for await (const [key, value] of (db as JsonSublevel).iterator(range(prefix))) out.push([key, value as V])
  return out
}

/** A stored bucket's aggregate: bytes, or the JSON text older releases wrote. */
const bucketOf = (value: Buffer): AggregateJSON => isAggregateBytes(value) ? aggregateFromBytes(value) : aggregateFromRecord(JSON.parse(value.toString('utf8')))

/** `{window}!{deviceId}!{metric}` and its state; none for a key this layout never writes. */
function operatorOf (key: string, state: Buffer): OperatorSnapshot[] {
  const [window, deviceId, ...metric] = key.split('!')
  if (window === undefined || window === '' || deviceId === undefined || deviceId === '' || metric.length === 0) return []
  return [{ window, deviceId, metric: metric.join('!'), state }]
}

export function levelTelemetryStore (store: LevelStore): TelemetryStore {
  const db = store.json('telemetry')
  // The same sublevel (one prefix) seen with raw values: buckets are written and read as bytes.
  const buckets = store.binary('telemetry')
  const state = store.binary('telemetry-state')

  const opOf = (c: TelemetryChange): Op => {
    switch (c.kind) {
      case 'checkpoint': return { type: 'put', sublevel: state, key: `s!${c.source}!c`, value: Buffer.from(JSON.stringify(c.checkpoint)) }
      case 'policy': return { type: 'put', sublevel: state, key: `s!${c.source}!p!${c.deviceId}`, value: c.state }
      case 'operator': return { type: 'put', sublevel: state, key: `${windowPrefix(c.source, c.window)}${c.deviceId}!${c.metric}`, value: c.state }
      case 'bucket': return { type: 'put', sublevel: buckets, key: bucketKey(c.deviceId, c.metric, c.end), value: aggregateBytes(c.agg) }
      case 'last': return { type: 'put', sublevel: db, key: `l!${c.deviceId}!${c.metric}`, value: { value: c.value, time: c.time } satisfies LastValue }
    }
  }

  return {
    listWindows: async () => (await entries<StoredWindow>(db, 'w!')).map(([key, value]) => ({ name: key.slice(2), stored: value })),
    putWindow: async (name, stored) => { await db.put('w!' + name, stored) },
    removeWindow: async (name) => { await db.del('w!' + name) },

    async loadStream (source) {
      // One iterator over the stream's keys: one snapshot of the store, never part of a commit.
      const prefix = `s!${source}!`
      const out: StreamState = { checkpoint: undefined, policies: [], operators: [] }
      for (const [key, value] of await entries<Buffer>(state, prefix)) {
        const rest = key.slice(prefix.length)
        if (rest === 'c') out.checkpoint = JSON.parse(value.toString('utf8')) as StreamCheckpoint
        else if (rest.startsWith('p!')) out.policies.push({ deviceId: rest.slice(2), state: value })
        else if (rest.startsWith('o!')) out.operators.push(...operatorOf(rest.slice(2), value))
      }
      return out
    },
    async loadWindowState (source, window) {
      const prefix = `s!${source}!o!`
      return (await entries<Buffer>(state, windowPrefix(source, window))).flatMap(([key, value]) => operatorOf(key.slice(prefix.length), value))
    },
    clearWindowState: async (source, window) => { await state.clear(range(windowPrefix(source, window))) },

    getBuckets: async (keys) => (await buckets.getMany(keys.map((k) => bucketKey(k.deviceId, k.metric, k.end)))).map((v) => v === undefined ? undefined : bucketOf(v)),
    async readBuckets (deviceId, metric, fromEnd, toEnd) {
      const prefix = `r!${deviceId}!${metric}!`
      const out: Array<{ end: number, agg: AggregateJSON }> = []
      const it = buckets.iterator({ gte: prefix + encodeTime(fromEnd), lte: prefix + encodeTime(toEnd) })
      try {
        // A thousand entries per call: a day is 86,400 buckets, one await each would dominate.
        for (let page = await it.nextv(1000); page.length > 0; page = await it.nextv(1000)) {
          for (const [key, value] of page) out.push({ end: decodeNumber(key.slice(prefix.length)), agg: bucketOf(value) })
        }
      } finally {
        await it.close()
      }
      return out
    },
    async lastValues (deviceId) {
      const prefix = `l!${deviceId}!`
      return (await entries<LastValue>(db, prefix)).map(([key, value]) => ({ metric: key.slice(prefix.length), ...value }))
    },
    lastValue: async (deviceId, metric) => await db.get(`l!${deviceId}!${metric}`) as LastValue | undefined,
    async removeRollupsThrough (cutoff) {
      let series = 0
      for (const [key, value] of await entries<LastValue>(db, 'l!')) {
        const rest = key.slice(2)
        await db.clear({ gte: `r!${rest}!`, lte: `r!${rest}!${encodeTime(cutoff)}` })
        series++
        if (value.time <= cutoff) await db.del(key)
      }
      return series
    },

    async commit (changes, options) {
      if (changes.length > 0) await store.batch(changes.map(opOf), options)
    }
  }
}
