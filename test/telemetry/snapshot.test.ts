// Snapshots of the window operators and the event-time policy: a state that went through JSON
// (as LevelDB stores it) and was restored must continue exactly as the uninterrupted original.

import { describe, expect, it } from 'vitest'
import { AGGREGATE_NAMES, type Aggregate } from '../../src/telemetry/aggregate.js'
import { createEventTimePolicy, type EventTimePolicy, type EventTimePolicyOptions, type EventTimeState } from '../../src/telemetry/event-time.js'
import {
  createHopping, createSessionWindow, createSlidingWindow, createTumbling, type PaneWindowsState, type SessionResult,
  type SessionWindowState, type SlidingResult, type SlidingWindowState, type WindowOperator, type WindowResult
} from '../../src/telemetry/windows.js'
import { normal, seeded } from '../helpers/seeded.js'

const S = 1000
const T0 = Date.UTC(2021, 9, 26, 10, 15, 0)
const SEEDS = [1, 2, 3]

/** What a LevelDB put and get do to a value (valueEncoding 'json'). */
const roundTrip = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T

/** `count` distinct step indices in [1, n], ascending: where the interrupted run restarts. */
function cutPoints (rand: () => number, n: number, count: number): number[] {
  const cuts = new Set<number>()
  while (cuts.size < count) cuts.add(1 + Math.floor(rand() * n))
  return [...cuts].sort((a, b) => a - b)
}

// ------------------------------------------------------------ window operators

type Step = { add: [time: number, value: number] } | { advance: number }

interface StreamShape {
  /** Upper bound of the gap between consecutive readings, ms. */
  gap: number
  /** Share of gaps that are long (up to 6 s): sessions time out, sliding windows empty. */
  pauses: number
  /** How far a reading may lie before the newest one, ms (0: in time order). */
  jitter: number
  /** Chance that a step advances the watermark (to just behind the newest reading) instead. */
  advances: number
}

/**
 * A random stream: values with ties, zeros and negatives (the sketch's three stores), a few
 * readings the operator must reject, watermarks that sometimes stand still, and a shutdown.
 */
function windowSteps (seed: number, n: number, shape: StreamShape): Step[] {
  const rand = seeded(seed)
  const gauss = normal(rand)
  const steps: Step[] = []
  let t = T0
  let value = 0
  for (let i = 0; i < n; i++) {
    if (rand() < shape.advances) {
      steps.push({ advance: t - Math.floor(rand() * 2 * S) })
      continue
    }
    t += Math.floor(rand() * (rand() < shape.pauses ? 6 * S : shape.gap))
    const r = rand()
    if (r < 0.1) value = 0
    else if (r < 0.85) value = Math.round(gauss() * 200) / 10 // the rest repeats the last value
    const time = t - Math.floor(rand() * shape.jitter)
    if (rand() < 0.02) steps.push({ add: [time, NaN] })
    else if (rand() < 0.02) steps.push({ add: [time - 30 * S, value] }) // below the watermark
    else steps.push({ add: [time, value] })
  }
  steps.push({ advance: Infinity }, { add: [t + S, 1] }, { advance: Infinity })
  return steps
}

interface Run {
  /** Per step: what add or advance returned, then watermark and rejected. */
  log: unknown[]
  /** The snapshot (through JSON) at each cut point. */
  snapshots: unknown[]
}

/**
 * Runs the steps; at each cut point takes a snapshot through JSON and, if `restore`, goes on
 * with a new operator made from it (each restore starting from the previous restored one).
 */
function runOperator<R> (make: (state?: unknown) => WindowOperator<R>, show: (r: R) => unknown, steps: readonly Step[], cuts: readonly number[], restore: boolean): Run {
  let op = make()
  const log: unknown[] = []
  const snapshots: unknown[] = []
  steps.forEach((step, i) => {
    if (cuts.includes(i)) {
      const state = roundTrip(op.snapshot())
      snapshots.push(state)
      if (restore) op = make(state)
    }
    const out = 'add' in step ? op.add(...step.add) : op.advance(step.advance).map(show)
    log.push([out, op.watermark, op.rejected])
  })
  return { log, snapshots }
}

/** Every aggregate result, and the full aggregate state (moments and sketch) besides. */
const aggregateOut = (a: Aggregate): object => ({ results: a.result(AGGREGATE_NAMES), json: a.toJSON() })
const showWindow = (w: WindowResult): unknown => ({ start: w.start, end: w.end, ...aggregateOut(w.aggregate) })
const showSession = (w: SessionResult): unknown => ({ start: w.start, end: w.end, closedBy: w.closedBy, ...aggregateOut(w.aggregate) })
const showSliding = (w: SlidingResult): unknown => w

interface OperatorCase<R> {
  name: string
  make: (state?: unknown) => WindowOperator<R>
  show: (r: R) => unknown
  shape: StreamShape
  /** Whether a snapshot holds the state this case is about (so the cuts are not all trivial). */
  busy: (state: unknown) => boolean
}

const panes = (s: unknown): number => (s as PaneWindowsState).panes.length
const sliding = (s: unknown): SlidingWindowState => s as SlidingWindowState
const session = (s: unknown): SessionWindowState => s as SessionWindowState

const OUT_OF_ORDER: StreamShape = { gap: 1.5 * S, pauses: 0.05, jitter: 4 * S, advances: 0.25 }
const IN_ORDER: StreamShape = { gap: 1.5 * S, pauses: 0.05, jitter: 0, advances: 0.25 }
const BURSTS: StreamShape = { gap: 2 * S, pauses: 0.15, jitter: 0, advances: 0.15 }

const slidingCase = (aggs: readonly string[]): OperatorCase<SlidingResult> => ({
  name: `sliding 5 s, aggregates ${aggs.join(' ')}`,
  make: (state) => createSlidingWindow(5 * S, aggs, state),
  show: showSliding,
  shape: IN_ORDER,
  // Readings waiting to enter besides a content.
  busy: (s) => sliding(s).entered > 0 && sliding(s).entered < sliding(s).times.length
})

const sessionCase = (maxDuration: number): OperatorCase<SessionResult> => ({
  name: `session timeout 3 s, max duration ${maxDuration / S} s`,
  make: (state) => createSessionWindow(3 * S, maxDuration, {}, state),
  show: showSession,
  shape: BURSTS,
  // Sessions an add() closed that the next advance() has yet to hand out.
  busy: (s) => session(s).pending.length > 0
})

const OPERATOR_CASES = [
  { name: 'tumbling 10 s, offset 3 s', make: (state?: unknown) => createTumbling(10 * S, 3 * S, {}, state), show: showWindow, shape: OUT_OF_ORDER, busy: (s: unknown) => panes(s) > 1 },
  { name: 'tumbling 10 s without percentiles', make: (state?: unknown) => createTumbling(10 * S, 0, { percentiles: false }, state), show: showWindow, shape: OUT_OF_ORDER, busy: (s: unknown) => panes(s) > 1 },
  { name: 'hopping 10 s by 4 s, offset −1 s (2 s panes)', make: (state?: unknown) => createHopping(10 * S, 4 * S, -S, {}, state), show: showWindow, shape: OUT_OF_ORDER, busy: (s: unknown) => panes(s) > 3 },
  { name: 'hopping 3 s by 5 s (gaps between windows)', make: (state?: unknown) => createHopping(3 * S, 5 * S, 0, {}, state), show: showWindow, shape: OUT_OF_ORDER, busy: (s: unknown) => panes(s) > 1 },
  slidingCase(AGGREGATE_NAMES),
  slidingCase(['count', 'min', 'max']),
  slidingCase(['p50', 'p95', 'p99', 'avg', 'stddev']),
  slidingCase(['first', 'last', 'sum', 'stddevp']),
  sessionCase(10 * S),
  sessionCase(Infinity)
] as Array<OperatorCase<unknown>>

describe('window operator snapshots', () => {
  describe.each(OPERATOR_CASES)('$name', ({ make, show, shape, busy }) => {
    it.each(SEEDS)('restored from JSON at random cut points, continues exactly as uninterrupted (seed %i)', (seed) => {
      const steps = windowSteps(seed, 1500, shape)
      const cuts = cutPoints(seeded(seed * 7919), steps.length, 12)
      const reference = runOperator(make, show, steps, cuts, false)
      const restored = runOperator(make, show, steps, cuts, true)
      expect(restored.log).toEqual(reference.log)
      // A restored operator's own snapshots equal the uninterrupted one's.
      expect(restored.snapshots).toEqual(reference.snapshots)
      expect(reference.snapshots.some(busy)).toBe(true)
    })
  })

  it('a session restored between an add that closed sessions and the advance still hands them out, closed by timeout and by max duration', () => {
    const op = createSessionWindow(3 * S, 10 * S)
    // Every 2 s from :01 to :23 (the check at :20 closes the first session, :20 to :26 times out), then :40.
    for (let s = 1; s <= 23; s += 2) op.add(T0 + s * S, s)
    op.add(T0 + 40 * S, 40)
    const state = roundTrip(op.snapshot()) as SessionWindowState
    expect(state.pending.map((p) => p.closedBy)).toEqual(['maxDuration', 'timeout'])
    const show = (r: readonly SessionResult[]): unknown[] => r.map(showSession)
    expect(show(createSessionWindow(3 * S, 10 * S, {}, state).advance(Infinity))).toEqual(show(op.advance(Infinity)))
  })

  it.each<[string, (state?: unknown) => WindowOperator<unknown>, unknown]>([
    ['tumbling', (state) => createTumbling(10 * S, 0, {}, state), { wm: '-Infinity', nextEnd: '-Infinity', rejected: 0, panes: [] }],
    ['hopping', (state) => createHopping(10 * S, 5 * S, 0, {}, state), { wm: '-Infinity', nextEnd: '-Infinity', rejected: 0, panes: [] }],
    ['sliding', (state) => createSlidingWindow(5 * S, AGGREGATE_NAMES, state), { wm: '-Infinity', lastTime: '-Infinity', rejected: 0, exits: 0, entered: 0, times: [], values: [], agg: expect.objectContaining({ count: 0 }) }],
    ['session', (state) => createSessionWindow(3 * S, Infinity, {}, state), { wm: '-Infinity', lastTime: '-Infinity', rejected: 0, open: false, start: 0, agg: null, pending: [] }]
  ])('%s: a fresh operator\'s snapshot is plain JSON with -Infinity as a string, and restores to a fresh operator', (_, make, expected) => {
    const state = make().snapshot()
    expect(roundTrip(state)).toEqual(state)
    expect(state).toEqual(expected)
    const restored = make(roundTrip(state))
    expect([restored.watermark, restored.rejected]).toEqual([-Infinity, 0])
    const fresh = make()
    expect(restored.add(T0, 1)).toBe(fresh.add(T0, 1))
    expect(JSON.stringify(restored.advance(Infinity))).toBe(JSON.stringify(fresh.advance(Infinity)))
  })

  it.each<[string, (state?: unknown) => WindowOperator<unknown>]>([
    ['tumbling', (state) => createTumbling(10 * S, 0, {}, state)],
    ['hopping', (state) => createHopping(10 * S, 5 * S, 0, {}, state)],
    ['sliding', (state) => createSlidingWindow(5 * S, AGGREGATE_NAMES, state)],
    ['session', (state) => createSessionWindow(3 * S, 10 * S, {}, state)]
  ])('%s: after advance(Infinity) the restored operator keeps the infinite watermark and rejects every reading', (_, make) => {
    const op = make()
    op.add(T0, 1)
    op.add(T0 - S, 2)
    op.advance(Infinity)
    op.add(T0, 3)
    const state = roundTrip(op.snapshot())
    expect(state).toMatchObject({ wm: 'Infinity' })
    const restored = make(state)
    expect([restored.watermark, restored.rejected]).toEqual([Infinity, op.rejected])
    expect(restored.add(T0 + S, 4)).toBe(false)
    expect(restored.rejected).toBe(op.rejected + 1)
    expect(restored.advance(Infinity)).toEqual([])
  })

  it('a snapshot is a copy: the operator going on leaves it as it was', () => {
    const op = createSlidingWindow(5 * S)
    op.add(T0, 1)
    op.add(T0 + S, 2)
    const state = op.snapshot()
    const json = JSON.stringify(state)
    op.add(T0 + 2 * S, 3)
    op.advance(T0 + 10 * S)
    expect(JSON.stringify(state)).toBe(json)
  })

  const tumbling = (state: unknown): unknown => createTumbling(10 * S, 0, {}, state)
  const sliding5 = (state: unknown): unknown => createSlidingWindow(5 * S, ['count', 'p50'], state)
  const session3 = (state: unknown): unknown => createSessionWindow(3 * S, 10 * S, {}, state)
  const aggOf = (values: number[], percentiles = true): unknown => {
    const op = createTumbling(10 * S, 0, { percentiles })
    values.forEach((v, i) => op.add(T0 + 1 + i, v))
    return (op.snapshot() as PaneWindowsState).panes[0]?.agg
  }
  const pane = (end: number, agg = aggOf([1])): unknown => ({ end, agg })
  const panesState = (over: Record<string, unknown>): unknown => ({ wm: '-Infinity', nextEnd: '-Infinity', rejected: 0, panes: [], ...over })
  const slidingState = (over: Record<string, unknown>): unknown => ({ wm: '-Infinity', lastTime: T0, rejected: 0, exits: 0, entered: 1, times: [T0], values: [1], agg: aggOf([1]), ...over })
  const sessionState = (over: Record<string, unknown>): unknown => ({ wm: '-Infinity', lastTime: T0, rejected: 0, open: true, start: T0, agg: aggOf([1]), pending: [], ...over })

  it.each<[string, (state: unknown) => unknown, unknown]>([
    ['null', tumbling, null],
    ['a number', tumbling, 42],
    ['an array', tumbling, []],
    ['another operator kind\'s state', tumbling, sessionState({})],
    ['a watermark that is neither a number nor an encoded one', tumbling, panesState({ wm: 'soon' })],
    ['a negative rejected count', tumbling, panesState({ rejected: -1 })],
    ['panes out of order', tumbling, panesState({ panes: [pane(20 * S), pane(10 * S)] })],
    ['a pane end off the window grid', tumbling, panesState({ panes: [pane(10 * S + 1)] })],
    ['a next window end off the hop grid', tumbling, panesState({ nextEnd: 10 * S + 1 })],
    ['a malformed aggregate', tumbling, panesState({ panes: [pane(10 * S, { count: 'one' })] })],
    ['an aggregate without the sketch the percentiles need', tumbling, panesState({ panes: [pane(10 * S, aggOf([1], false))] })],
    ['sliding: times and values of different lengths', sliding5, slidingState({ values: [] })],
    ['sliding: readings out of time order', sliding5, slidingState({ times: [T0 + S, T0], values: [1, 2], lastTime: T0 })],
    ['sliding: an aggregate count other than the content\'s', sliding5, slidingState({ agg: aggOf([1, 2]) })],
    ['sliding: more entered than buffered', sliding5, slidingState({ entered: 2 })],
    ['sliding: a non-finite reading', sliding5, slidingState({ values: ['NaN'] })],
    ['session: open not a boolean', session3, sessionState({ open: 'yes' })],
    ['session: a closed session holding an aggregate', session3, sessionState({ open: false })],
    ['session: a pending session with an unknown closedBy', session3, sessionState({ pending: [{ start: T0, end: T0 + S, closedBy: 'boredom', agg: aggOf([1]) }] })]
  ])('a malformed state (%s) throws INTERNAL', (_, make, state) => {
    expect(() => make(state)).toThrow(expect.objectContaining({ code: 'INTERNAL', message: 'Stored window state is malformed' }))
  })
})

// ------------------------------------------------------------ event-time policy

interface Held {
  n: number
  tag: string
}

type PolicyStep = { accept: [event: number, arrival: number, value: Held] } | { flush: number } | { drain: true }

/**
 * Arrivals a few hundred ms apart, event times on a 250 ms grid (ties) up to 8 s behind or
 * 2 s ahead, with some events 60 s late, 8 s early or not a number, sparse flushes and drains.
 */
function policySteps (seed: number, n: number): PolicyStep[] {
  const rand = seeded(seed)
  const steps: PolicyStep[] = []
  let arrival = T0
  for (let i = 0; i < n; i++) {
    arrival += Math.floor(rand() * 600)
    const r = rand()
    if (r < 0.08) {
      steps.push({ flush: arrival + Math.floor(rand() * 10 * S) })
      continue
    }
    if (r < 0.085) {
      steps.push({ drain: true })
      continue
    }
    let event = Math.round(arrival / 250 + rand() * 40 - 32) * 250
    if (r < 0.11) event = arrival - 60 * S
    else if (r < 0.13) event = arrival + 8 * S
    else if (r < 0.14) event = NaN
    steps.push({ accept: [event, arrival, { n: i, tag: `e${i}` }] })
  }
  steps.push({ drain: true })
  return steps
}

function runPolicy (opts: EventTimePolicyOptions, steps: readonly PolicyStep[], cuts: readonly number[], restore: boolean): Run {
  let policy: EventTimePolicy<Held> = createEventTimePolicy<Held>(opts)
  const log: unknown[] = []
  const snapshots: unknown[] = []
  steps.forEach((step, i) => {
    if (cuts.includes(i)) {
      const state = roundTrip(policy.snapshot())
      snapshots.push(state)
      if (restore) policy = createEventTimePolicy<Held>(opts, state)
    }
    const released = 'accept' in step ? policy.accept(...step.accept) : 'flush' in step ? policy.flush(step.flush) : policy.drain()
    log.push([released, policy.watermark, policy.buffered, { ...policy.counters }])
  })
  return { log, snapshots }
}

describe('event-time policy snapshots', () => {
  describe.each<[string, EventTimePolicyOptions]>([
    ['tolerance 3 s, every action adjust', { outOfOrderToleranceMs: 3 * S, lateArrivalToleranceMs: 20 * S, earlyArrivalLimitMs: 5 * S, outOfOrderAction: 'adjust', lateArrivalAction: 'adjust', earlyArrivalAction: 'adjust' }],
    ['tolerance 3 s, every action drop', { outOfOrderToleranceMs: 3 * S, lateArrivalToleranceMs: 20 * S, earlyArrivalLimitMs: 5 * S, outOfOrderAction: 'drop', lateArrivalAction: 'drop', earlyArrivalAction: 'drop' }],
    ['tolerance 6 s, out of order drop, no late or early limits', { outOfOrderToleranceMs: 6 * S, lateArrivalToleranceMs: Infinity, earlyArrivalLimitMs: Infinity, outOfOrderAction: 'drop' }]
  ])('%s', (_, opts) => {
    it.each(SEEDS)('restored from JSON at random cut points, releases, watermarks and counters continue exactly as uninterrupted (seed %i)', (seed) => {
      const steps = policySteps(seed, 1500)
      const cuts = cutPoints(seeded(seed * 104729), steps.length, 12)
      const reference = runPolicy(opts, steps, cuts, false)
      const restored = runPolicy(opts, steps, cuts, true)
      expect(restored.log).toEqual(reference.log)
      expect(restored.snapshots).toEqual(reference.snapshots)
      // The cuts caught events waiting in the heap, some with equal times.
      const heaps = (reference.snapshots as Array<EventTimeState<Held>>).map((s) => s.times)
      expect(heaps.some((times) => new Set(times).size < times.length)).toBe(true)
    })
  })

  it('restored heap releases equal event times in arrival order, across the restore', () => {
    const opts = { outOfOrderToleranceMs: 10 * S, lateArrivalToleranceMs: Infinity }
    const policy = createEventTimePolicy<string>(opts)
    policy.accept(T0 + 5 * S, T0, 'a')
    policy.accept(T0, T0, 'b')
    policy.accept(T0 + 5 * S, T0, 'c')
    const restored = createEventTimePolicy<string>(opts, roundTrip(policy.snapshot()))
    restored.accept(T0 + 5 * S, T0, 'd')
    restored.accept(T0, T0, 'e')
    expect(restored.buffered).toBe(5)
    expect(restored.drain().map((r) => r.value)).toEqual(['b', 'e', 'a', 'c', 'd'])
  })

  it('a fresh policy\'s snapshot is plain JSON and restores to a fresh policy', () => {
    const state = createEventTimePolicy().snapshot()
    expect(state).toEqual({
      maxSeen: '-Infinity',
      watermark: '-Infinity',
      counters: { invalidDropped: 0, lateDropped: 0, lateAdjusted: 0, earlyDropped: 0, earlyAdjusted: 0, outOfOrderDropped: 0, outOfOrderAdjusted: 0 },
      seq: 0,
      times: [],
      seqs: [],
      values: []
    })
    const restored = createEventTimePolicy<number>({}, roundTrip(state))
    expect([restored.watermark, restored.buffered]).toEqual([-Infinity, 0])
    expect(restored.accept(T0, T0, 1)).toEqual([{ time: T0, value: 1 }])
  })

  it('after flush(Infinity) the restored policy keeps the infinite watermark and adjusts every event up to it', () => {
    const policy = createEventTimePolicy<number>({ outOfOrderToleranceMs: S })
    policy.accept(T0, T0, 1)
    policy.flush(Infinity)
    const restored = createEventTimePolicy<number>({ outOfOrderToleranceMs: S }, roundTrip(policy.snapshot()))
    expect(restored.watermark).toBe(Infinity)
    expect(restored.accept(T0 + S, T0 + S, 2)).toEqual([{ time: Infinity, value: 2 }])
    expect(restored.counters.outOfOrderAdjusted).toBe(1)
  })

  const policyState = (over: Record<string, unknown>): unknown => {
    const p = createEventTimePolicy<number>({ outOfOrderToleranceMs: 10 * S })
    p.accept(T0 + 2 * S, T0, 1)
    p.accept(T0 + S, T0, 2)
    return { ...roundTrip(p.snapshot()) as object, ...over }
  }

  it.each<[string, unknown]>([
    ['not an object', 'state'],
    ['a counter missing', policyState({ counters: { lateDropped: 0 } })],
    ['a watermark that is neither a number nor an encoded one', policyState({ watermark: null })],
    ['heap arrays of different lengths', policyState({ seqs: [0] })],
    ['a heap out of order', policyState({ times: [T0 + 2 * S, T0 + S], seqs: [0, 1] })],
    ['a sequence number not below the counter', policyState({ seq: 1 })]
  ])('a malformed state (%s) throws INTERNAL', (_, state) => {
    expect(() => createEventTimePolicy({}, state)).toThrow(expect.objectContaining({ code: 'INTERNAL' }))
  })
})
