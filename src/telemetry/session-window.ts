// Stream Analytics' session window for one key (SessionWindow(timeout, maxDuration) OVER
// (PARTITION BY deviceId): one operator per device and metric). Pure.
//
// A session begins at its first event and takes every event that comes within `timeout` of
// the previous one (an event exactly `timeout` after it still joins: windows are end-
// inclusive). With no such event it closes at last event + timeout. The maximum duration is
// checked only at multiples of maxDuration since the epoch ("checks ... at t = 0, 10, 20, 30"),
// so a session can last up to twice maxDuration: at the first such point c with
// c − start >= maxDuration while the session is still open it closes at c (an event at
// exactly c is in it), and if events keep coming a new session opens at c. The docs' "until
// maximum duration is reached" reads as >=; "exceeds" would let back-to-back sessions last
// 2 × maxDuration forever, whereas >= makes them maxDuration long once they align to the grid.

import { createAggregate, type Aggregate, type AggregateJSON, type AggregateOptions } from './aggregate.js'
import {
  NO_RESULTS, OperatorBase, aggregateState, arrayState, ceilTo, countState, decodeNumber, encodeNumber, finiteState, malformedState,
  recordState, requireDuration, type WindowOperator, type WindowResult
} from './window-util.js'

export interface SessionResult extends WindowResult {
  /** `start` is the first event's time, or the check point a continued session opened at. */
  closedBy: 'timeout' | 'maxDuration'
}

/**
 * SessionWindow.snapshot(). `pending` are sessions closed by an add() that the next
 * advance() hands out; `agg` is null while no session is open, or one continued at a check
 * point has no reading yet.
 */
export interface SessionWindowState {
  wm: number | string
  lastTime: number | string
  rejected: number
  open: boolean
  start: number
  agg: AggregateJSON | null
  pending: Array<{ start: number, end: number, closedBy: SessionResult['closedBy'], agg: AggregateJSON }>
}

class SessionWindow extends OperatorBase implements WindowOperator<SessionResult> {
  /** Whether a session is open; it may have no reading yet when continued at a check point. */
  private open = false
  private start = 0
  private agg: Aggregate | null = null
  private lastTime = -Infinity
  private pending: SessionResult[] = []

  constructor (
    private readonly timeout: number,
    private readonly maxDuration: number,
    private readonly aggOpts: AggregateOptions,
    state?: unknown
  ) {
    super()
    requireDuration('timeout', timeout)
    requireDuration('maxDuration', maxDuration, { infinite: true })
    if (state !== undefined) this.restore(state)
  }

  /** Readings must come in time order (as the event-time policy releases them), at or after the watermark. */
  add (time: number, value: number): boolean {
    if (this.refuses(time, value, this.lastTime)) return false
    this.settle(time)
    if (!this.open) {
      this.open = true
      this.start = time
    }
    this.agg ??= createAggregate(this.aggOpts)
    this.agg.add(time, value)
    this.lastTime = time
    return true
  }

  advance (watermark: number): readonly SessionResult[] {
    if (watermark > this.wm) {
      this.wm = watermark
      this.settle(watermark)
    }
    if (this.pending.length === 0) return NO_RESULTS
    const out = this.pending
    this.pending = []
    return out
  }

  snapshot (): SessionWindowState {
    return {
      wm: encodeNumber(this.wm),
      lastTime: encodeNumber(this.lastTime),
      rejected: this.rejectedCount,
      open: this.open,
      start: this.start,
      agg: this.agg?.toJSON() ?? null,
      pending: this.pending.map((r) => ({ start: r.start, end: r.end, closedBy: r.closedBy, agg: r.aggregate.toJSON() }))
    }
  }

  private restore (state: unknown): void {
    const s = recordState(state)
    const percentiles = this.aggOpts.percentiles !== false
    if (typeof s.open !== 'boolean') throw malformedState()
    this.open = s.open
    this.start = finiteState(s.start)
    this.wm = decodeNumber(s.wm)
    this.lastTime = decodeNumber(s.lastTime)
    this.rejectedCount = countState(s.rejected)
    this.agg = s.agg === null ? null : aggregateState(s.agg, percentiles)
    // An open session has had a reading; close() clears the aggregate. Anything else is not a
    // state this operator reaches.
    if (this.open ? !Number.isFinite(this.lastTime) : this.agg !== null) throw malformedState()
    for (const x of arrayState(s.pending)) {
      const r = recordState(x)
      if (r.closedBy !== 'timeout' && r.closedBy !== 'maxDuration') throw malformedState()
      this.pending.push({ start: finiteState(r.start), end: finiteState(r.end), aggregate: aggregateState(r.agg, percentiles), closedBy: r.closedBy })
    }
  }

  /** Closes the open session (and any continuation) if it ends before `bound`: no event before bound can join it any more. */
  private settle (bound: number): void {
    while (this.open) {
      const deadline = this.lastTime + this.timeout
      const check = this.maxDuration === Infinity ? Infinity : ceilTo(this.start + this.maxDuration, this.maxDuration, 0)
      if (check <= deadline) {
        if (!(check < bound)) return
        this.close(check, 'maxDuration')
        this.start = check
      } else {
        if (!(deadline < bound)) return
        this.close(deadline, 'timeout')
        this.open = false
      }
    }
  }

  private close (end: number, closedBy: SessionResult['closedBy']): void {
    if (this.agg !== null) this.pending.push({ start: this.start, end, aggregate: this.agg, closedBy })
    this.agg = null
  }
}

/**
 * Session windows over one key; `maxDuration` may be Infinity for no limit. `state`, a
 * snapshot() of an operator with the same arguments, continues that one.
 */
export function createSessionWindow (timeout: number, maxDuration: number, opts: AggregateOptions = {}, state?: unknown): WindowOperator<SessionResult> {
  return new SessionWindow(timeout, maxDuration, opts, state)
}
