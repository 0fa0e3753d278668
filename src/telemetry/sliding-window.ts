// Stream Analytics' sliding window for one key. Of all windows (t − size, t] it outputs only
// those at points in time where the content changes: when an event enters (t = its time) or
// leaves (t = its time + size, the start being exclusive). Events entering or leaving at the
// same instant give one output, with the content after all of them. A change that leaves the
// window empty outputs nothing: "every window has at least one event" (the docs' example with
// size 5 and events at 34, 38, 42 outputs at 34, 38, 39, 42 and 43, not at 47). Pure.
//
// Cost per reading is constant amortised: count, sum, mean/M2 and the sketch are updated on
// entry and exit (Aggregate.add/remove), min and max come from monotonic deques, first and
// last from the ends of the buffer. Each output reads the requested aggregates once (a
// percentile scans the sketch's buckets: a few dozen for typical sensor ranges).

import { AGGREGATE_NAMES, createAggregate, needsPercentiles, resultReader, type Aggregate, type AggregateJSON } from './aggregate.js'
import {
  NO_RESULTS, OperatorBase, aggregateState, arrayState, countState, decodeNumber, encodeNumber, finiteState, malformedState, recordState,
  requireDuration, type WindowOperator
} from './window-util.js'

export interface SlidingResult {
  start: number
  end: number
  /** The requested aggregates over the events in (start, end]. */
  values: Record<string, number | null>
}

/**
 * SlidingWindow.snapshot(): the buffered readings oldest first, of which the first `entered`
 * are the content. The min/max deques are left out: they follow from the content. The
 * running moments and `exits` are kept as they are, so the rounding continues unchanged.
 */
export interface SlidingWindowState {
  wm: number | string
  lastTime: number | string
  rejected: number
  exits: number
  entered: number
  times: number[]
  values: number[]
  agg: AggregateJSON
}

/** A growable FIFO of numbers addressed by absolute position; positions only grow. */
class Fifo {
  private buf = new Float64Array(16)
  private mask = 15
  start = 0
  end = 0

  at (pos: number): number {
    return this.buf[pos & this.mask] as number
  }

  push (v: number): void {
    if (this.end - this.start === this.buf.length) this.grow()
    this.buf[this.end & this.mask] = v
    this.end++
  }

  toArray (): number[] {
    const out = new Array<number>(this.end - this.start)
    for (let p = this.start; p < this.end; p++) out[p - this.start] = this.at(p)
    return out
  }

  private grow (): void {
    const buf = new Float64Array(this.buf.length * 2)
    const mask = buf.length - 1
    for (let p = this.start; p < this.end; p++) buf[p & mask] = this.buf[p & this.mask] as number
    this.buf = buf
    this.mask = mask
  }
}

class SlidingWindow extends OperatorBase implements WindowOperator<SlidingResult> {
  private readonly times = new Fifo()
  private readonly values = new Fifo()
  /** Position of the first event that has not entered yet: the content is [times.start, entered). */
  private entered = 0
  /** Positions of the content with increasing values (front is the minimum), and decreasing. */
  private readonly minQ = new Fifo()
  private readonly maxQ = new Fifo()
  private agg: Aggregate
  /** Exits since the moments were last recomputed from the content. */
  private exits = 0
  private lastTime = -Infinity

  private readonly read: (agg: Aggregate) => Record<string, number | null>

  constructor (private readonly size: number, aggs: readonly string[], state?: unknown) {
    super()
    requireDuration('size', size)
    this.read = resultReader(aggs)
    this.agg = createAggregate({ percentiles: needsPercentiles(aggs) })
    if (state !== undefined) this.restore(state)
  }

  /** Readings must come in time order (as the event-time policy releases them), at or after the watermark. */
  add (time: number, value: number): boolean {
    if (this.refuses(time, value, this.lastTime)) return false
    this.times.push(time)
    this.values.push(value)
    this.lastTime = time
    return true
  }

  advance (watermark: number): readonly SlidingResult[] {
    if (!(watermark > this.wm)) return NO_RESULTS
    this.wm = watermark
    const { times, size } = this
    let out: SlidingResult[] | undefined
    for (;;) {
      const nextEntry = this.entered < times.end ? times.at(this.entered) : Infinity
      const nextExit = times.start < this.entered ? times.at(times.start) + size : Infinity
      const t = Math.min(nextEntry, nextExit)
      // Final only once the watermark is past t: another event at exactly t may still come.
      if (!(t < watermark)) break
      while (times.start < this.entered && times.at(times.start) + size <= t) this.exit()
      while (this.entered < times.end && times.at(this.entered) <= t) this.enter()
      if (this.agg.count > 0) {
        out ??= []
        out.push({ start: t - size, end: t, values: this.result() })
      }
    }
    return out ?? NO_RESULTS
  }

  snapshot (): SlidingWindowState {
    const { times } = this
    return {
      wm: encodeNumber(this.wm),
      lastTime: encodeNumber(this.lastTime),
      rejected: this.rejectedCount,
      exits: this.exits,
      entered: this.entered - times.start,
      times: times.toArray(),
      values: this.values.toArray(),
      agg: this.agg.toJSON()
    }
  }

  private restore (state: unknown): void {
    const s = recordState(state)
    const times = arrayState(s.times)
    const values = arrayState(s.values)
    const entered = countState(s.entered)
    this.wm = decodeNumber(s.wm)
    this.lastTime = decodeNumber(s.lastTime)
    this.rejectedCount = countState(s.rejected)
    this.exits = countState(s.exits)
    this.agg = aggregateState(s.agg, this.agg.sketch !== null)
    // The buffer must be in time order, ending at lastTime, with the aggregate over its content.
    if (values.length !== times.length || entered > times.length || this.agg.count !== entered) throw malformedState()
    if (times.length > 0 && times[times.length - 1] !== this.lastTime) throw malformedState()
    let prev = -Infinity
    for (let i = 0; i < times.length; i++) {
      const t = finiteState(times[i])
      if (t < prev) throw malformedState()
      this.times.push(t)
      this.values.push(finiteState(values[i]))
      prev = t
    }
    while (this.entered < entered) this.track(this.entered++)
  }

  private enter (): void {
    const pos = this.entered++
    this.agg.add(this.times.at(pos), this.values.at(pos))
    this.track(pos)
  }

  /** Puts an entering position into the min and max deques. */
  private track (pos: number): void {
    const { minQ, maxQ, values } = this
    const v = values.at(pos)
    while (minQ.end > minQ.start && values.at(minQ.at(minQ.end - 1)) >= v) minQ.end--
    minQ.push(pos)
    while (maxQ.end > maxQ.start && values.at(maxQ.at(maxQ.end - 1)) <= v) maxQ.end--
    maxQ.push(pos)
  }

  private exit (): void {
    const pos = this.times.start++
    this.agg.remove(this.values.at(pos))
    this.values.start++
    if (this.minQ.at(this.minQ.start) === pos) this.minQ.start++
    if (this.maxQ.at(this.maxQ.start) === pos) this.maxQ.start++
    if (++this.exits > 64 + 2 * this.agg.count) this.recomputeMoments()
  }

  /**
   * Removing values from a running sum and M2 accumulates rounding; recomputing them from the
   * content after every ~2 × content exits bounds the drift at amortised O(1) per reading.
   */
  private recomputeMoments (): void {
    const { agg, values } = this
    let n = 0
    let sum = 0
    let mean = 0
    let m2 = 0
    for (let p = values.start; p < this.entered; p++) {
      const v = values.at(p)
      n++
      sum += v
      const d = v - mean
      mean += d / n
      m2 += d * (v - mean)
    }
    agg.sum = sum
    agg.mean = mean
    agg.m2 = m2
    this.exits = 0
  }

  private result (): Record<string, number | null> {
    const { agg, times, values, minQ, maxQ } = this
    // Aggregate.remove cannot undo these four; the buffer and the deques know them.
    agg.min = values.at(minQ.at(minQ.start))
    agg.max = values.at(maxQ.at(maxQ.start))
    agg.firstTime = times.at(times.start)
    agg.first = values.at(times.start)
    agg.lastTime = times.at(this.entered - 1)
    agg.last = values.at(this.entered - 1)
    return this.read(agg)
  }
}

/**
 * A sliding window of `size` ms over one key. Outputs carry `aggs` (default: all of
 * AGGREGATE_NAMES) rather than an Aggregate: the content changes with every output, so
 * there is no state to hand out; rollups come from tumbling windows. `state`, a snapshot()
 * of an operator with the same arguments, continues that one.
 */
export function createSlidingWindow (size: number, aggs: readonly string[] = AGGREGATE_NAMES, state?: unknown): WindowOperator<SlidingResult> {
  return new SlidingWindow(size, aggs, state)
}
