// Event-time policies for one device's stream (a Stream Analytics "substream": TIMESTAMP BY
// ... OVER deviceId), after "Understand time handling in Azure Stream Analytics". Pure.
//
// For each event, in this order:
// 1. Late arrival: event time < arrival − lateArrivalToleranceMs → drop, or adjust to
//    arrival − tolerance. Early arrival: event time > arrival + earlyArrivalLimitMs → drop,
//    or adjust to arrival + limit. A dropped event does not move the watermark.
// 2. Out of order: event time < watermark → drop, or adjust to the watermark (in Stream
//    Analytics' illustration a 12:12 event under a 12:17 watermark becomes 12:17).
// 3. The watermark is max(event time seen) − outOfOrderToleranceMs; events wait in a heap
//    and are released in time order (ties: arrival order) once at or below it.
// With no events, flush(now) moves the watermark to now − lateArrivalToleranceMs: no later
// event can end up below it, since step 1 lifts older ones to at least that.
//
// The watermark W promises that every event released later has time >= W. So a window
// (start, end] is complete once W > end: an event at exactly W may still come.

import { GridgateError } from '../core/errors.js'
import { TimeHeap, type TimedValue } from '../core/time-heap.js'
import { arrayState, countState, decodeNumber, encodeNumber, malformedState, recordState } from './window-util.js'

export type ToleranceAction = 'drop' | 'adjust'

export interface EventTimePolicyOptions {
  /** Events up to this much older than the newest seen are reordered (default 0, as Stream Analytics). */
  outOfOrderToleranceMs?: number
  /** Default 5 s, as Stream Analytics; Infinity turns the check (and flush's advance) off. */
  lateArrivalToleranceMs?: number
  /** Default 5 min, Stream Analytics' fixed early-arrival window; Infinity turns it off. */
  earlyArrivalLimitMs?: number
  /** Default 'adjust', as Stream Analytics' default for late and out-of-order events. */
  lateArrivalAction?: ToleranceAction
  /** Default 'drop': Stream Analytics drops early events. */
  earlyArrivalAction?: ToleranceAction
  /** Default 'adjust'. */
  outOfOrderAction?: ToleranceAction
}

export interface EventTimeCounters {
  /** Event times that are not finite numbers (NaN would stall the heap). */
  invalidDropped: number
  lateDropped: number
  lateAdjusted: number
  earlyDropped: number
  earlyAdjusted: number
  outOfOrderDropped: number
  outOfOrderAdjusted: number
}

/** A released event: `time` is the event time used for windowing, its own or the adjusted one. */
export type { TimedValue }

export interface EventTimePolicy<T> {
  /** -Infinity before the first event. Never decreases. */
  readonly watermark: number
  /** Events waiting for the watermark. */
  readonly buffered: number
  readonly counters: Readonly<EventTimeCounters>
  /** Applies the policies to one event; returns the events now released, oldest first. */
  accept: (eventTime: number, arrivalTime: number, value: T) => ReadonlyArray<TimedValue<T>>
  /** Advances the watermark by the arrival clock when events are sparse; returns the released events. */
  flush: (now: number) => ReadonlyArray<TimedValue<T>>
  /** Releases every buffered event (at shutdown) and raises the watermark past them. */
  drain: () => ReadonlyArray<TimedValue<T>>
  /** The whole state as plain JSON data (EventTimeState; the buffered values as they are). */
  snapshot: () => unknown
}

/**
 * EventTimePolicy.snapshot(). The heap travels as its arrays, in their order, with the
 * insertion counter `seq`: restored, it releases ties in the same order. Times as
 * encodeNumber gives them.
 */
export interface EventTimeState<T> {
  maxSeen: number | string
  watermark: number | string
  counters: EventTimeCounters
  seq: number
  times: Array<number | string>
  seqs: number[]
  values: T[]
}

export const DEFAULT_EVENT_TIME_POLICY: Readonly<Required<EventTimePolicyOptions>> = Object.freeze({
  outOfOrderToleranceMs: 0,
  lateArrivalToleranceMs: 5_000,
  earlyArrivalLimitMs: 300_000,
  lateArrivalAction: 'adjust',
  earlyArrivalAction: 'drop',
  outOfOrderAction: 'adjust'
})

const NONE: ReadonlyArray<TimedValue<never>> = Object.freeze([])

/**
 * `state`, a snapshot() of a policy with the same options, continues that one (throws
 * INTERNAL when it is malformed).
 */
export function createEventTimePolicy<T> (opts: EventTimePolicyOptions = {}, state?: unknown): EventTimePolicy<T> {
  const o = { ...DEFAULT_EVENT_TIME_POLICY, ...opts }
  for (const key of ['outOfOrderToleranceMs', 'lateArrivalToleranceMs', 'earlyArrivalLimitMs'] as const) {
    if (!(o[key] >= 0)) throw new GridgateError('CONFIG_INVALID', `${key} must be a number >= 0`, { details: { [key]: o[key] } })
  }
  const counters: EventTimeCounters = { invalidDropped: 0, lateDropped: 0, lateAdjusted: 0, earlyDropped: 0, earlyAdjusted: 0, outOfOrderDropped: 0, outOfOrderAdjusted: 0 }
  const heap = new TimeHeap<T>()
  let maxSeen = -Infinity
  let watermark = -Infinity
  if (state !== undefined) {
    const s = recordState(state)
    maxSeen = decodeNumber(s.maxSeen)
    watermark = decodeNumber(s.watermark)
    const c = recordState(s.counters)
    for (const key of Object.keys(counters) as Array<keyof EventTimeCounters>) counters[key] = countState(c[key])
    const seqs = arrayState(s.seqs)
    // A malformed snapshot is refused whole: a broken heap would release out of order.
    if (!heap.load({ seq: countState(s.seq), times: arrayState(s.times).map((t) => decodeNumber(t)), seqs: seqs.map((q) => countState(q)), values: arrayState(s.values) as T[] })) throw malformedState()
  }

  function heapState (): Pick<EventTimeState<T>, 'seq' | 'times' | 'seqs' | 'values'> {
    const a = heap.arrays()
    return { seq: a.seq, times: a.times.map(encodeNumber), seqs: a.seqs, values: a.values }
  }

  function release (): ReadonlyArray<TimedValue<T>> {
    if (heap.size === 0 || heap.minTime() > watermark) return NONE
    const out: Array<TimedValue<T>> = []
    while (heap.size > 0 && heap.minTime() <= watermark) out.push(heap.pop())
    return out
  }

  return {
    get watermark () { return watermark },
    get buffered () { return heap.size },
    counters,

    accept (eventTime, arrivalTime, value) {
      let t = eventTime
      if (!Number.isFinite(t)) { counters.invalidDropped++; return NONE }
      if (t < arrivalTime - o.lateArrivalToleranceMs) {
        if (o.lateArrivalAction === 'drop') { counters.lateDropped++; return NONE }
        counters.lateAdjusted++
        t = arrivalTime - o.lateArrivalToleranceMs
      } else if (t > arrivalTime + o.earlyArrivalLimitMs) {
        if (o.earlyArrivalAction === 'drop') { counters.earlyDropped++; return NONE }
        counters.earlyAdjusted++
        t = arrivalTime + o.earlyArrivalLimitMs
      }
      if (t < watermark) {
        if (o.outOfOrderAction === 'drop') { counters.outOfOrderDropped++; return NONE }
        counters.outOfOrderAdjusted++
        t = watermark
      }
      if (t > maxSeen) {
        maxSeen = t
        if (maxSeen - o.outOfOrderToleranceMs > watermark) watermark = maxSeen - o.outOfOrderToleranceMs
      }
      // In-order fast path (always taken with zero tolerance): nothing waits, release at once.
      if (heap.size === 0 && t <= watermark) return [{ time: t, value }]
      heap.push(t, value)
      return release()
    },

    flush (now) {
      const w = now - o.lateArrivalToleranceMs
      if (w > watermark) watermark = w
      return release()
    },

    drain () {
      if (maxSeen > watermark) watermark = maxSeen
      return release()
    },

    snapshot (): EventTimeState<T> {
      return { maxSeen: encodeNumber(maxSeen), watermark: encodeNumber(watermark), counters: { ...counters }, ...heapState() }
    }
  }
}
