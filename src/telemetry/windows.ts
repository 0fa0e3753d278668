// Window assignment and incremental window operators for one key (device + metric), with
// Stream Analytics' semantics ("Stream Analytics windowing functions"). Pure; times in ms.
//
// Windows are (start, end]: an event exactly on a boundary belongs to the window that ends
// there ("events with timestamp greater than 12:00 AM and up to 12:05 AM inclusive"), and
// fixed windows align to the epoch plus an offset. A window is output once, at its end, and
// only if it holds at least one event.

import { createAggregate, type Aggregate, type AggregateJSON, type AggregateOptions } from './aggregate.js'
import {
  NO_RESULTS, OperatorBase, aggregateState, arrayState, ceilTo, countState, decodeNumber, encodeNumber, finiteState, gcd, malformedState,
  recordState, requireDuration, requireOffset, type WindowOperator, type WindowResult
} from './window-util.js'

export type { WindowOperator, WindowResult } from './window-util.js'
export { createSlidingWindow, type SlidingResult, type SlidingWindowState } from './sliding-window.js'
export { createSessionWindow, type SessionResult, type SessionWindowState } from './session-window.js'

export interface Span {
  start: number
  end: number
}

/** The tumbling window (start, end] holding `time`. */
export function tumblingWindow (time: number, size: number, offset = 0): Span {
  const end = ceilTo(time, size, offset)
  return { start: end - size, end }
}

/** Every hopping window (end − size, end], end on the grid offset + k·hop, that holds `time`; oldest first. */
export function hoppingWindows (time: number, size: number, hop: number, offset = 0): Span[] {
  const out: Span[] = []
  for (let end = ceilTo(time, hop, offset); end - size < time; end += hop) out.push({ start: end - size, end })
  return out
}

interface Pane {
  end: number
  agg: Aggregate
}

/** PaneWindows.snapshot(): the open panes oldest first; `wm` and `nextEnd` as encodeNumber gives them. */
export interface PaneWindowsState {
  wm: number | string
  nextEnd: number | string
  rejected: number
  panes: Array<{ end: number, agg: AggregateJSON }>
}

/**
 * Tumbling and hopping windows over panes: the readings go into tumbling panes of
 * gcd(size, hop), one aggregate add per reading however much windows overlap, and a hopping
 * window is the merge of its size / pane panes when it closes. For tumbling windows the pane
 * is the window and is handed out as is.
 */
class PaneWindows extends OperatorBase implements WindowOperator<WindowResult> {
  private readonly pane: number
  private readonly panes: Pane[] = []
  /** The next window end not yet output: ends below it are done. */
  private nextEnd = -Infinity

  constructor (
    private readonly size: number,
    private readonly hop: number,
    private readonly offset: number,
    private readonly aggOpts: AggregateOptions,
    state?: unknown
  ) {
    super()
    requireDuration('size', size)
    requireDuration('hop', hop)
    requireOffset(offset)
    this.pane = gcd(size, hop)
    if (state !== undefined) this.restore(state)
  }

  add (time: number, value: number): boolean {
    if (this.refuses(time, value)) return false
    const end = ceilTo(time, this.pane, this.offset)
    const panes = this.panes
    let i = panes.length - 1
    // In time order the reading goes to the newest pane or a new one; otherwise search back.
    while (i >= 0 && (panes[i] as Pane).end > end) i--
    const p = panes[i]
    if (p !== undefined && p.end === end) {
      p.agg.add(time, value)
    } else {
      const agg = createAggregate(this.aggOpts)
      agg.add(time, value)
      panes.splice(i + 1, 0, { end, agg })
    }
    return true
  }

  advance (watermark: number): readonly WindowResult[] {
    if (!(watermark > this.wm)) return NO_RESULTS
    this.wm = watermark
    let out: WindowResult[] | undefined
    const panes = this.panes
    while (panes.length > 0) {
      // The first window end not yet output that can hold the oldest pane.
      const end = Math.max(ceilTo((panes[0] as Pane).end, this.hop, this.offset), this.nextEnd)
      // Closed only once the watermark is past the end: a reading at exactly the end may still come.
      if (!(end < watermark)) break
      const start = end - this.size
      let drop = 0
      while (drop < panes.length && (panes[drop] as Pane).end <= start) drop++
      if (drop > 0) {
        panes.splice(0, drop)
        continue
      }
      let agg: Aggregate
      if (this.pane === this.size) {
        agg = (panes.shift() as Pane).agg
      } else {
        agg = createAggregate(this.aggOpts)
        for (let i = 0; i < panes.length && (panes[i] as Pane).end <= end; i++) agg.merge((panes[i] as Pane).agg)
      }
      out ??= []
      out.push({ start, end, aggregate: agg })
      this.nextEnd = end + this.hop
    }
    return out ?? NO_RESULTS
  }

  snapshot (): PaneWindowsState {
    const panes = this.panes.map((p) => ({ end: p.end, agg: p.agg.toJSON() }))
    return { wm: encodeNumber(this.wm), nextEnd: encodeNumber(this.nextEnd), rejected: this.rejectedCount, panes }
  }

  private restore (state: unknown): void {
    const s = recordState(state)
    this.wm = decodeNumber(s.wm)
    this.nextEnd = decodeNumber(s.nextEnd)
    this.rejectedCount = countState(s.rejected)
    const percentiles = this.aggOpts.percentiles !== false
    // Pane ends off this operator's grid, or out of order, would close the wrong windows.
    const onGrid = (t: number, step: number): boolean => (t - this.offset) % step === 0
    if (this.nextEnd !== -Infinity && !onGrid(finiteState(this.nextEnd), this.hop)) throw malformedState()
    let prev = -Infinity
    for (const x of arrayState(s.panes)) {
      const p = recordState(x)
      const end = finiteState(p.end)
      if (!(end > prev) || !onGrid(end, this.pane)) throw malformedState()
      this.panes.push({ end, agg: aggregateState(p.agg, percentiles) })
      prev = end
    }
  }
}

/**
 * Tumbling windows (start, end] of `size` ms, ends on the grid offset + k·size. `state`, a
 * snapshot() of an operator with the same arguments, continues that one.
 */
export function createTumbling (size: number, offset = 0, opts: AggregateOptions = {}, state?: unknown): WindowOperator<WindowResult> {
  return new PaneWindows(size, size, offset, opts, state)
}

/** Hopping windows (end − size, end] with ends on the grid offset + k·hop; an event is in every one that holds it. */
export function createHopping (size: number, hop: number, offset = 0, opts: AggregateOptions = {}, state?: unknown): WindowOperator<WindowResult> {
  return new PaneWindows(size, hop, offset, opts, state)
}
