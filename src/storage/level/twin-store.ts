import type { DesiredState, ReportedState, TwinChange } from '../../twins/model.js'
import { decodeHistoryGroup, type TwinEvents, type TwinStore } from '../../twins/store.js'
import type { Db, LevelStore, Op } from './db.js'
import type { LevelTopicLogs } from './topic-log.js'
import { encodeOffset, encodeTime, RANGE_END } from './keys.js'

// Device twins on an abstract-level store (leveldb and memory), all in the JSON sublevel `twins`:
//   c!{topic}                         the projection's next offset in that source topic
//   r!{deviceId}                      the reported state
//   h!{deviceId}!{version}            the history entries (what each event changed) of one device
//                                     in one step, from that version on: one key per device per step,
//                                     not per change, as per-key overhead is what a LevelDB write costs
//                                     (layout: twins/store.ts encodeHistoryGroup)
//   s!{deviceId}!{version}            a snapshot of the reported state at that version
//   d!{deviceId}                      the desired state
//   e!{deviceId}!{time}!{version}     every desired state, by time (asOf)
// Versions and times fixed-width (keys.ts), so a device's entries are ranges in order. Device
// ids hold no '!' (core/names.ts). A step with events goes through the log's group commit
// (appendWith: the events and the state in one batch, one fsync); without, one batch here.
// One process holds the store, so desired writes of one device queue here to compare-and-set.

const queuesByDb = new WeakMap<Db, Map<string, Promise<void>>>()
const vkey = (prefix: string, deviceId: string, version: number): string => `${prefix}!${deviceId}!${encodeOffset(version)}`

export function levelTwinStore (store: LevelStore, opts: { sync: boolean, logs: Pick<LevelTopicLogs, 'appendWith'> }): TwinStore {
  const db = store.json('twins')
  // The same keys as bytes: a step's values come as JSON text (EncodedTwinCommit), stored as
  // they are; the json sublevel reads them back.
  const raw = store.binary('twins')
  const tails = queuesByDb.get(store.db) ?? new Map<string, Promise<void>>()
  queuesByDb.set(store.db, tails)
  const put = (key: string, value: unknown): Op => ({ type: 'put', sublevel: db, key, value })
  const write = async (ops: Op[], events: TwinEvents | undefined): Promise<void> => {
    if (events !== undefined && events.events.length > 0) await opts.logs.appendWith(events.topic, events.events, ops)
    else if (ops.length > 0) await store.batch(ops, { sync: opts.sync })
  }
  const serially = <T>(key: string, run: () => Promise<T>): Promise<T> => {
    const p = (tails.get(key) ?? Promise.resolve()).then(run)
    const tail = p.then(() => undefined, () => undefined)
    tails.set(key, tail)
    void tail.then(() => { if (tails.get(key) === tail) tails.delete(key) })
    return p
  }

  return {
    async cursors () {
      const out: Record<string, number> = {}
      for await (const [key, value] of db.iterator({ gte: 'c!', lt: 'c!' + RANGE_END })) out[key.slice(2)] = value as number
      return out
    },
    reported: async (deviceId) => await db.get(`r!${deviceId}`) as ReportedState | undefined,
    async commit (step) {
      const ops: Op[] = []
      const putText = (key: string, json: string): Op => ({ type: 'put', sublevel: raw, key, value: Buffer.from(json) })
      for (const [id, json] of step.states) ops.push(putText(`r!${id}`, json))
      for (const [id, version, json] of step.history) ops.push(putText(vkey('h', id, version), json))
      for (const [id, version, json] of step.snapshots) ops.push(putText(vkey('s', id, version), json))
      for (const [topic, offset] of Object.entries(step.cursors)) ops.push(put(`c!${topic}`, offset))
      await write(ops, step.events)
    },
    snapshot: async (deviceId, version) => await db.get(vkey('s', deviceId, version)) as ReportedState | undefined,
    async changes (deviceId, afterVersion, limit) {
      const prefix = `h!${deviceId}!`
      // The group holding afterVersion + 1 starts at or before it.
      const [start] = await db.keys({ gte: prefix, lte: prefix + encodeOffset(afterVersion + 1), reverse: true, limit: 1 }).all()
      const out: TwinChange[] = []
      for await (const group of db.values({ gte: start ?? prefix, lt: prefix + RANGE_END })) {
        for (const c of decodeHistoryGroup(deviceId, group)) {
          if (c.version <= afterVersion) continue
          out.push(c)
          if (out.length >= limit) return out
        }
      }
      return out
    },
    desired: async (deviceId) => await db.get(`d!${deviceId}`) as DesiredState | undefined,
    putDesired: (d, expected, event) => serially(d.deviceId, async () => {
      const current = await db.get(`d!${d.deviceId}`) as DesiredState | undefined
      if ((current?.version ?? 0) !== expected) return false
      await write([put(`d!${d.deviceId}`, d), put(`e!${d.deviceId}!${encodeTime(d.time)}!${encodeOffset(d.version)}`, d)], event)
      return true
    }),
    async desiredAt (deviceId, time) {
      const prefix = `e!${deviceId}!`
      const found = await db.values({ gte: prefix, lt: `${prefix}${encodeTime(time)}!${RANGE_END}`, reverse: true, limit: 1 }).all()
      return found[0] as DesiredState | undefined
    }
  }
}
