import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import { computeDelta, mergePatch } from './desired.js'
import { desiredChangedEvent } from './events.js'
import { historyOf, reportedAt, type Cut, type HistoryEntry } from './history.js'
import { deepEqual, emptyReported, isPlainObject, type DesiredState, type ReportedState } from './model.js'
import type { TwinStore } from './store.js'

// Device twins for callers (HTTP): the reported state now or at a time or offset, the history
// of a field, and the desired document (RFC 7396 merge patches, sent to the device retained).

/** What twins need of the broker: a retained QoS 1 publish to a device topic. */
export type PublishRetained = (topic: string, payload: Buffer) => Promise<void>

export const desiredTopic = (deviceId: string): string => `devices/${deviceId}/twin/desired`

export interface TwinView {
  deviceId: string
  version: number
  reported: Record<string, { value: unknown, time: string, eventId: string, topic: string, offset: number }>
  desiredVersion: number
  desired: Record<string, unknown>
  delta: Record<string, unknown>
}

export interface HistoryView {
  value: Array<Omit<HistoryEntry, 'time'> & { time: string }>
  /** Pass as `after` to get the next page. */
  next?: number
}

export interface Twins {
  /** The twin now, or as it was at the cut; undefined when the device never reported nor was given a desired state. */
  get: (deviceId: string, at?: Cut) => Promise<TwinView | undefined>
  history: (deviceId: string, q: { field?: string, from?: number, to?: number, limit: number, after?: number }) => Promise<HistoryView>
  /** Applies a merge patch to the desired document, stores it and sends the whole document to the device. */
  patchDesired: (deviceId: string, patch: unknown) => Promise<TwinView>
}

export interface TwinsOptions {
  store: TwinStore
  clock: Clock
  snapshotEvery: number
  publish: PublishRetained
  /** Where desired changes are announced (`device.twin.changed`); none when absent. */
  events?: { topic: string, namespace: string }
  /** The largest desired document, as JSON bytes. */
  maxDesiredBytes: number
}

const iso = (ms: number): string => new Date(ms).toISOString()

export function view (reported: ReportedState, desired: DesiredState | undefined): TwinView {
  const out: TwinView['reported'] = {}
  for (const [field, f] of Object.entries(reported.fields)) out[field] = { value: f.value, time: iso(f.time), eventId: f.eventId, topic: f.topic, offset: f.offset }
  const doc = desired?.doc ?? {}
  return { deviceId: reported.deviceId, version: reported.version, reported: out, desiredVersion: desired?.version ?? 0, desired: doc, delta: computeDelta(doc, reported.fields) }
}

export function createTwins (opts: TwinsOptions): Twins {
  const { store, clock } = opts
  return {
    async get (deviceId, at) {
      const current = await store.reported(deviceId)
      if (at === undefined) {
        const desired = await store.desired(deviceId)
        return current === undefined && desired === undefined ? undefined : view(current ?? emptyReported(deviceId), desired)
      }
      const reported = current === undefined ? emptyReported(deviceId) : await reportedAt(store, current, at, opts.snapshotEvery)
      // The desired document in force then: at the time, or at the last reported change within the offset.
      const desired = await store.desiredAt(deviceId, 'time' in at ? at.time : reported.t)
      return current === undefined && desired === undefined ? undefined : view(reported, desired)
    },
    async history (deviceId, q) {
      const current = await store.reported(deviceId)
      if (current === undefined) return { value: [] }
      const { entries, next } = await historyOf(store, current, q, opts.snapshotEvery)
      return { value: entries.map((e) => ({ ...e, time: iso(e.time) })), ...(next === undefined ? {} : { next }) }
    },
    async patchDesired (deviceId, patch) {
      if (!isPlainObject(patch)) throw new GridgateError('BODY_INVALID', 'the desired patch must be a JSON object (RFC 7396 merge patch)')
      // Compare-and-set on the version: concurrent patches (from any node) each apply to the document they read.
      for (let attempt = 0; ; attempt++) {
        const current = await store.desired(deviceId)
        const doc = mergePatch(current?.doc ?? {}, patch) as Record<string, unknown>
        const bytes = Buffer.byteLength(JSON.stringify(doc))
        if (bytes > opts.maxDesiredBytes) throw new GridgateError('BODY_INVALID', `the desired document would be ${bytes} bytes, more than ${opts.maxDesiredBytes}`)
        let stored = current
        if (current === undefined || !deepEqual(current.doc, doc)) {
          const next: DesiredState = { deviceId, version: (current?.version ?? 0) + 1, time: clock.now(), doc }
          const ev = opts.events
          const wrote = await store.putDesired(next, current?.version ?? 0, ev === undefined ? undefined : { topic: ev.topic, events: [desiredChangedEvent(ev.namespace, next, patch)] })
          if (!wrote) {
            if (attempt >= 20) throw new GridgateError('INTERNAL', 'the desired document kept changing under the patch')
            continue
          }
          stored = next
        }
        // Sent even when unchanged: a retried PATCH repairs a publish that failed after the write.
        await opts.publish(desiredTopic(deviceId), Buffer.from(JSON.stringify({ version: stored?.version ?? 0, desired: stored?.doc ?? {} })))
        return view(await store.reported(deviceId) ?? emptyReported(deviceId), stored)
      }
    }
  }
}
