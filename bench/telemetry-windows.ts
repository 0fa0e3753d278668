import { seeded as prng } from '../test/helpers/seeded.js'
import type { Histogram } from 'hdr-histogram-js'
import { createAggregate, resultReader, type Aggregate } from '../src/telemetry/aggregate.js'
import { createEventTimePolicy, type EventTimePolicy, type TimedValue } from '../src/telemetry/event-time.js'
import {
  createHopping, createSessionWindow, createSlidingWindow, createTumbling,
  type SlidingResult, type WindowOperator, type WindowResult
} from '../src/telemetry/windows.js'
import {
  combine, compact, cpuAverage, latencyHistogram, loopUtilization, median, ownCpuSeconds, progress, sleep, summarise, timed,
  type CaseResult, type Round, type SystemResult
} from './common.js'

// Telemetry windows as pure code on one core: readings/s through each window kind, with the
// per-key event-time policy in front as the gateway runs it, against a baseline measured in
// the same run: the same loop feeding one bare Aggregate.add per key (no policy, no windows).

export interface TelemetryWindowsOptions {
  warmupSeconds: number
  seconds: number
  rounds: number
  warnings?: string[]
}

/** Keys = devices × metrics, each with its own policy and operator. */
const DEVICES = 250
const METRICS = [
  { name: 'temperature', start: 21, step: 0.05, digits: 2 },
  { name: 'humidity', start: 45, step: 0.2, digits: 1 },
  { name: 'pressure', start: 1013, step: 0.1, digits: 1 },
  { name: 'voltage', start: 3.7, step: 0.002, digits: 3 }
] as const
type Metric = typeof METRICS[number]
const KEYS = DEVICES * METRICS.length
/** Event time one pass over the pre-generated readings covers (1 reading/s per key). */
const SLOTS = 1200
const SLOT_MS = 1000
/** A multiple of 600 s (the session maxDuration grid), so the epoch-aligned grids look alike on every pass. */
const PERIOD_MS = SLOTS * SLOT_MS
const BASE_TIME = Date.UTC(2026, 0, 1)
/** Readings per timed operation; the loop yields to the event loop between chunks. */
const CHUNK = 16_384
const GOAL = 500_000
const GOAL_TEXT = '≥ 500k readings/s'

const WITH_P = ['count', 'min', 'max', 'avg', 'p95']
const WITHOUT_P = ['count', 'min', 'max', 'avg', 'sum']

// ---------------------------------------------------------------- readings

interface Dataset {
  description: string
  length: number
  keys: Uint16Array
  times: Float64Array
  arrivals: Float64Array
  values: Float64Array
}

/**
 * One pass of readings, interleaved across keys in event-time order: slot s holds each active
 * key's reading at s s + the key's phase (0-999 ms); values are a random walk per key, rounded
 * as a sensor reports them; arrival = event time + 20-500 ms (in time, never late or early).
 * With `gaps`, 4 keys in 5 send bursts of 60-300 s separated by silences of 31-120 s (sessions
 * close by timeout) and every 5th sends without a break (its sessions close by maxDuration).
 */
function generate (gaps: boolean): Dataset {
  const rand = prng(gaps ? 0x5e55 : 0x7e1e)
  const phase = Array.from({ length: KEYS }, (_, k) => (k * 7919) % SLOT_MS)
  const order = Array.from({ length: KEYS }, (_, k) => k).sort((a, b) => (phase[a] as number) - (phase[b] as number))
  const value = Array.from({ length: KEYS }, (_, k) => (METRICS[k % METRICS.length] as Metric).start * (0.9 + 0.2 * rand()))
  // Gap pattern: the slot at which each key's current burst or silence ends.
  const active = Array.from({ length: KEYS }, () => true)
  const until = Array.from({ length: KEYS }, () => Math.floor(60 + 240 * rand()))
  const keys: number[] = []
  const times: number[] = []
  const arrivals: number[] = []
  const values: number[] = []
  for (let s = 0; s < SLOTS; s++) {
    for (const k of order) {
      if (gaps && k % 5 !== 4) {
        if (s >= (until[k] as number)) {
          active[k] = !(active[k] as boolean)
          until[k] = s + Math.floor(active[k] === true ? 60 + 240 * rand() : 31 + 90 * rand())
        }
        if (active[k] !== true) continue
      }
      const m = METRICS[k % METRICS.length] as Metric
      const v = (value[k] as number) + (rand() - 0.5) * 2 * m.step
      value[k] = v
      const t = BASE_TIME + s * SLOT_MS + (phase[k] as number)
      keys.push(k)
      times.push(t)
      arrivals.push(t + 20 + Math.floor(480 * rand()))
      values.push(Number(v.toFixed(m.digits)))
    }
  }
  return {
    description: gaps
      ? '1 reading/s per key in bursts of 60-300 s with 31-120 s silences (every 5th key without breaks)'
      : '1 reading/s per key',
    length: keys.length,
    keys: Uint16Array.from(keys),
    times: Float64Array.from(times),
    arrivals: Float64Array.from(arrivals),
    values: Float64Array.from(values)
  }
}

// ---------------------------------------------------------------- feeders

interface Tally {
  /** Windows output, the readings they count (sanity check), and a sum of one value, so nothing is optimised away. */
  windows: number
  counted: number
  checksum: number
  readings: number
}

interface Feeder {
  /** Feeds readings [from, to) of the dataset, `shift` ms added to their times. */
  feed: (from: number, to: number, shift: number) => void
  /** At the end of a round: problems (rejected or adjusted readings) and the remaining state into the tally. */
  finish: () => string[]
}

/** Baseline: one bare aggregate per key, no event-time policy, no windows. */
function bareFeeder (ds: Dataset, percentiles: boolean, tally: Tally): Feeder {
  const aggs: Aggregate[] = Array.from({ length: KEYS }, () => createAggregate({ percentiles }))
  const { keys, times, values } = ds
  return {
    feed (from, to, shift) {
      for (let i = from; i < to; i++) (aggs[keys[i] as number] as Aggregate).add((times[i] as number) + shift, values[i] as number)
      tally.readings += to - from
    },
    finish () {
      for (const a of aggs) tally.checksum += a.max
      return []
    }
  }
}

/**
 * The gateway's path for one reading: its key's policy accepts it, what it releases goes into
 * the key's operator, and the operator advances to the policy's watermark, every reading.
 */
function windowFeeder<R> (ds: Dataset, make: () => WindowOperator<R>, consume: (out: readonly R[]) => void, tally: Tally): Feeder {
  const ops: Array<WindowOperator<R>> = Array.from({ length: KEYS }, make)
  const policies: Array<EventTimePolicy<number>> = Array.from({ length: KEYS }, () => createEventTimePolicy<number>())
  const { keys, times, arrivals, values } = ds
  return {
    feed (from, to, shift) {
      for (let i = from; i < to; i++) {
        const k = keys[i] as number
        const policy = policies[k] as EventTimePolicy<number>
        const op = ops[k] as WindowOperator<R>
        const released = policy.accept((times[i] as number) + shift, (arrivals[i] as number) + shift, values[i] as number)
        for (let j = 0; j < released.length; j++) {
          const r = released[j] as TimedValue<number>
          op.add(r.time, r.value)
        }
        const out = op.advance(policy.watermark)
        if (out.length > 0) consume(out)
      }
      tally.readings += to - from
    },
    finish () {
      const rejected = ops.reduce((s, op) => s + op.rejected, 0)
      let adjusted = 0
      for (const p of policies) {
        const c = p.counters
        adjusted += c.invalidDropped + c.lateDropped + c.lateAdjusted + c.earlyDropped + c.earlyAdjusted + c.outOfOrderDropped + c.outOfOrderAdjusted
      }
      const problems: string[] = []
      if (rejected > 0) problems.push(`${rejected} readings rejected by the operators`)
      if (adjusted > 0) problems.push(`${adjusted} readings dropped or adjusted by the event-time policies`)
      return problems
    }
  }
}

/** Reads every closed window's aggregates as the gateway does when it emits one. */
function aggregateConsumer (names: readonly string[], tally: Tally): (out: readonly WindowResult[]) => void {
  const read = resultReader(names)
  const last = names[names.length - 1] as string
  return (out) => {
    for (const w of out) {
      const v = read(w.aggregate)
      tally.windows++
      tally.counted += v.count ?? 0
      tally.checksum += v[last] ?? 0
    }
  }
}

function slidingConsumer (names: readonly string[], tally: Tally): (out: readonly SlidingResult[]) => void {
  const last = names[names.length - 1] as string
  return (out) => {
    for (const w of out) {
      tally.windows++
      tally.counted += w.values.count ?? 0
      tally.checksum += w.values[last] ?? 0
    }
  }
}

// ---------------------------------------------------------------- cases

interface Spec {
  id: string
  title: string
  /** The subject's label and description. */
  label: string
  description: string
  names: readonly string[]
  gaps: boolean
  feeder: (ds: Dataset, tally: Tally) => Feeder
}

const percentilesIn = (names: readonly string[]): boolean => names.some((n) => n === 'p50' || n === 'p95' || n === 'p99')

function specs (): Spec[] {
  const windows = (make: (percentiles: boolean) => () => WindowOperator<WindowResult>) =>
    (names: readonly string[]) => (ds: Dataset, tally: Tally): Feeder =>
      windowFeeder(ds, make(percentilesIn(names)), aggregateConsumer(names, tally), tally)
  const tumbling = windows((percentiles) => () => createTumbling(60_000, 0, { percentiles }))
  const hopping = windows((percentiles) => () => createHopping(60_000, 15_000, 0, { percentiles }))
  const session = windows((percentiles) => () => createSessionWindow(30_000, 600_000, { percentiles }))
  const sliding = (names: readonly string[]) => (ds: Dataset, tally: Tally): Feeder =>
    windowFeeder(ds, () => createSlidingWindow(60_000, names), slidingConsumer(names, tally), tally)
  const list = (names: readonly string[]): string => names.join(',')
  return [
    { id: 'tumbling', title: 'telemetry tumbling 60 s', label: 'tumbling 60s', description: `createTumbling(60 s), aggregates ${list(WITH_P)}`, names: WITH_P, gaps: false, feeder: tumbling(WITH_P) },
    {
      id: 'tumbling-no-percentiles',
      title: 'telemetry tumbling 60 s, no percentiles',
      label: 'tumbling 60s no pNN',
      description: `createTumbling(60 s, percentiles off), aggregates ${list(WITHOUT_P)}`,
      names: WITHOUT_P,
      gaps: false,
      feeder: tumbling(WITHOUT_P)
    },
    { id: 'hopping', title: 'telemetry hopping 60 s / 15 s', label: 'hopping 60s/15s', description: `createHopping(60 s, 15 s), aggregates ${list(WITH_P)}`, names: WITH_P, gaps: false, feeder: hopping(WITH_P) },
    { id: 'sliding', title: 'telemetry sliding 60 s', label: 'sliding 60s', description: `createSlidingWindow(60 s), aggregates ${list(WITH_P)}`, names: WITH_P, gaps: false, feeder: sliding(WITH_P) },
    {
      id: 'session',
      title: 'telemetry session 30 s / 600 s',
      label: 'session 30s/600s',
      description: `createSessionWindow(timeout 30 s, maxDuration 600 s), aggregates ${list(WITH_P)}`,
      names: WITH_P,
      gaps: true,
      feeder: session(WITH_P)
    }
  ]
}

function emptyTally (): Tally {
  return { windows: 0, counted: 0, checksum: 0, readings: 0 }
}

/** One round: a fresh feeder (fresh per-key state) fed chunk by chunk, pass after pass, until the window closes. */
async function round (opts: TelemetryWindowsOptions, label: string, histogram: Histogram, ds: Dataset, feeder: Feeder, problems: Set<string>): Promise<Round> {
  const result = await timed({
    label,
    warmupSeconds: opts.warmupSeconds,
    seconds: opts.seconds,
    histogram,
    cpu: [{ name: 'process', read: ownCpuSeconds }]
  }, async (ctl) => {
    let i = 0
    let shift = 0
    while (!ctl.stopped) {
      const end = Math.min(i + CHUNK, ds.length)
      const started = performance.now()
      feeder.feed(i, end, shift)
      ctl.done(end - i, performance.now() - started)
      i = end
      if (i === ds.length) {
        i = 0
        shift += PERIOD_MS
      }
      // Lets the measuring timers run; costs both sides alike.
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  })
  for (const p of feeder.finish()) problems.add(p)
  return result
}

/** One operation in the latency histogram = one chunk of readings. */
function system (name: string, description: string, rounds: Round[], h: Histogram): SystemResult {
  const total = combine(rounds)
  const s: SystemResult = {
    name,
    description,
    ...total,
    // The median over rounds, less swayed than the total by one noisy round.
    eventsPerSecond: median(rounds.map((r) => r.eventsPerSecond)),
    opsPerSecond: median(rounds.map((r) => r.ops / r.seconds)),
    latency: summarise(h),
    latencyOf: `one chunk of ${CHUNK.toLocaleString('en-US')} readings`,
    rounds,
    cpuPercent: cpuAverage(rounds),
    loopUtilization: loopUtilization(rounds)
  }
  return s
}

async function runCase (opts: TelemetryWindowsOptions, spec: Spec, ds: Dataset): Promise<CaseResult> {
  const percentiles = percentilesIn(spec.names)
  progress.line(`\n[${spec.title}] ${KEYS} keys, ${ds.description}, vs bare Aggregate.add per key; ${opts.rounds} round(s) of ${opts.seconds}s`)
  const baseHist = latencyHistogram()
  const subjectHist = latencyHistogram()
  const baseLabel = `bare Aggregate${percentiles ? '' : ' no pNN'}`
  const baseTally = emptyTally()
  const subjectTally = emptyTally()
  const problems = new Set<string>()
  const baseRounds: Round[] = []
  const subjectRounds: Round[] = []
  const runBase = async (): Promise<void> => { baseRounds.push(await round(opts, baseLabel, baseHist, ds, bareFeeder(ds, percentiles, baseTally), problems)) }
  const runSubject = async (): Promise<void> => { subjectRounds.push(await round(opts, spec.label, subjectHist, ds, spec.feeder(ds, subjectTally), problems)) }
  for (let r = 0; r < opts.rounds; r++) {
    progress.line(` round ${r + 1}/${opts.rounds}`)
    // Alternate the order (ABBA...) so drift on a noisy machine hits both sides alike.
    if (r % 2 === 0) {
      await runBase()
      await runSubject()
    } else {
      await runSubject()
      await runBase()
    }
    await sleep(0)
  }
  const baseline = system(
    percentiles ? 'bare Aggregate.add' : 'bare Aggregate.add, no percentiles',
    `the same loop over the same readings, one createAggregate({ percentiles: ${String(percentiles)} }).add(time, value) per key; no policy, no windows`,
    baseRounds, baseHist)
  const gridgate = system(spec.label, `per key createEventTimePolicy() (defaults) → ${spec.description}; advance(policy.watermark) after every reading`, subjectRounds, subjectHist)
  baseHist.destroy()
  subjectHist.destroy()
  const roundRatios = subjectRounds.map((s, i) => s.eventsPerSecond / (baseRounds[i]?.eventsPerSecond ?? Number.NaN))
  const rates = subjectRounds.map((s) => s.eventsPerSecond)
  const low = Math.min(...rates)
  const outcome = low >= GOAL ? 'met' : gridgate.eventsPerSecond < GOAL ? 'missed' : 'borderline'
  const perK = (n: number): string => (n / subjectTally.readings * 1000).toFixed(1)
  const notes = [
    `${compact(gridgate.eventsPerSecond)} readings/s (median of rounds; per round ${rates.map(compact).join(', ')}); goal ${GOAL_TEXT}: ${outcome} (met = every round at or above it). ` +
      `Per 1,000 readings fed: ${perK(subjectTally.windows)} windows output, their counts summing to ${perK(subjectTally.counted)} (warm-up included).`
  ]
  for (const p of problems) {
    notes.push(`**${p}**`)
    opts.warnings?.push(`${spec.title}: ${p}`)
  }
  if (subjectTally.windows === 0) opts.warnings?.push(`${spec.title}: no window closed, so the case did not measure closing windows`)
  // Keeps the checksums observable (and so the work not optimised away).
  if (!Number.isFinite(subjectTally.checksum + baseTally.checksum)) opts.warnings?.push(`${spec.title}: non-finite checksum`)
  return {
    id: `telemetry-${spec.id}`,
    title: spec.title,
    baseline,
    gridgate,
    ratio: gridgate.eventsPerSecond / baseline.eventsPerSecond,
    roundRatios,
    medianRoundRatio: median(roundRatios),
    goalCheck: { text: GOAL_TEXT, outcome },
    notes
  }
}

export async function benchTelemetryWindows (opts: TelemetryWindowsOptions): Promise<CaseResult[]> {
  const steady = generate(false)
  const gapped = generate(true)
  progress.line(`\n[telemetry] ${KEYS} keys (${DEVICES} devices × ${METRICS.length} metrics), ${steady.length.toLocaleString('en-US')} readings per pass ` +
    `(${gapped.length.toLocaleString('en-US')} with gaps), ${SLOTS} s of event time per pass`)
  const results: CaseResult[] = []
  for (const spec of specs()) results.push(await runCase(opts, spec, spec.gaps ? gapped : steady))
  return results
}
