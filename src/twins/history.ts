import { applyChange } from './fold.js'
import { emptyReported, type ReportedState, type TwinChange } from './model.js'
import type { TwinStore } from './store.js'

// The twin as it was at a time or a log offset, and the list of changes of a field, from the
// stored history: snapshots every `snapshotEvery` versions plus the history entries after one.
//
// Why snapshots and history entries rather than a replay of the log: the history holds only
// this device's changes, in version order, so a query reads one snapshot (found by a binary
// search over the snapshot versions, ~log2(versions / snapshotEvery) point reads) and at most
// `snapshotEvery` entries after it, however busy the namespace topics were.

/** Where to cut: a time (ms), or an offset of one source topic. */
export type Cut = { time: number } | { topic: string, offset: number }

/** Whether a state (or the state right after a change) is at or before the cut. */
function within (cut: Cut, s: { t: number, positions?: Record<string, number>, topic?: string, offset?: number }): boolean {
  if ('time' in cut) return s.t <= cut.time
  if (s.positions !== undefined) return (s.positions[cut.topic] ?? -1) <= cut.offset
  return !(s.topic === cut.topic && (s.offset ?? -1) > cut.offset)
}

const withinChange = (cut: Cut, c: TwinChange): boolean => 'time' in cut ? c.t <= cut.time : !(c.topic === cut.topic && c.offset > cut.offset)

/** The latest stored snapshot within the cut (version 0, the empty twin, at worst). */
async function snapshotBefore (store: TwinStore, current: ReportedState, cut: Cut, every: number): Promise<ReportedState> {
  // Snapshots are at every multiple of `every` up to the current version; t and positions
  // never decrease with version, so "within the cut" holds for a prefix of them.
  let lo = 0
  let hi = Math.floor(current.version / every)
  let best = emptyReported(current.deviceId)
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    const snap = await store.snapshot(current.deviceId, mid * every)
    if (snap !== undefined && within(cut, snap)) {
      lo = mid
      best = snap
    } else {
      hi = mid - 1
    }
  }
  if (lo > 0 && best.version !== lo * every) best = await store.snapshot(current.deviceId, lo * every) ?? emptyReported(current.deviceId)
  return best
}

/** The reported state as it was at the cut. */
export async function reportedAt (store: TwinStore, current: ReportedState, cut: Cut, every: number): Promise<ReportedState> {
  if (within(cut, current)) return current
  let state = await snapshotBefore(store, current, cut, every)
  for (;;) {
    const changes = await store.changes(current.deviceId, state.version, every)
    for (const c of changes) {
      if (!withinChange(cut, c)) return state
      state = applyChange(state, c)
    }
    if (changes.length < every) return state
  }
}

export interface HistoryEntry {
  version: number
  field: string
  value: unknown
  time: number
  eventId: string
  topic: string
  offset: number
}

/**
 * The changes of `field` (every field when absent) whose change time is within [from, to],
 * oldest first, at most `limit`; `next` is the version to continue after when more may follow.
 */
export async function historyOf (store: TwinStore, current: ReportedState, q: { field?: string, from?: number, to?: number, limit: number, after?: number }, every: number): Promise<{ entries: HistoryEntry[], next?: number }> {
  let after = q.after ?? 0
  if (q.after === undefined && q.from !== undefined) {
    // Start at the last snapshot before `from` rather than at version 1.
    after = (await snapshotBefore(store, current, { time: q.from - 1 }, every)).version
  }
  const entries: HistoryEntry[] = []
  const page = Math.max(every, 256)
  for (;;) {
    const changes = await store.changes(current.deviceId, after, page)
    for (const c of changes) {
      after = c.version
      if (q.from !== undefined && c.t < q.from) continue
      if (q.to !== undefined && c.t > q.to) return { entries }
      for (const [field, value] of Object.entries(c.changed)) {
        if (q.field !== undefined && field !== q.field) continue
        entries.push({ version: c.version, field, value, time: c.time, eventId: c.eventId, topic: c.topic, offset: c.offset })
      }
      if (entries.length >= q.limit) return { entries, next: c.version < current.version ? c.version : undefined }
    }
    if (changes.length < page) return { entries }
  }
}
