import { seeded as prng } from '../test/helpers/seeded.js'
import type { Histogram } from 'hdr-histogram-js'
import { DEFAULT_CONFIG_PATH, loadConfig } from '../src/config/load.js'
import type { TelemetryConfig } from '../src/config/schema.js'
import { systemClock } from '../src/core/clock.js'
import type { TopicLog } from '../src/log/types.js'
import { openLevelDb, type LevelStore } from '../src/storage/level/db.js'
import { decodeNumber, encodeTime } from '../src/storage/level/keys.js'
import { levelTelemetryStore } from '../src/storage/level/telemetry-store.js'
import { openLevelTopicLogs, type LevelTopicLogs } from '../src/storage/level/topic-log.js'
import { aggregateFromBytes, isAggregateBytes } from '../src/telemetry/aggregate-bytes.js'
import { parseTelemetryQuery } from '../src/telemetry/query.js'
import { createRollups } from '../src/telemetry/rollups.js'
import { openTelemetry, type Telemetry } from '../src/telemetry/telemetry.js'
import {
  combine, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, progress, removeTempDir, summarise,
  type CaseResult, type Round, type SystemResult
} from './common.js'

// GET /telemetry/{deviceId}/{metric} over a day of one-second data, in process: one device
// and metric with 86,400 rollup buckets (1-5 readings each) written through the gateway's own
// rollup store into a temp LevelDB, then openTelemetry(...).query(...) timed per call against
// a baseline measured in the same run: a raw LevelDB iteration over the same 86,400 keys with
// every value decoded (bytes since 0.19.0, JSON before), which any query over the day has to do at least.

export interface TelemetryQueryOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  warnings?: string[]
}

export const DAY = Date.UTC(2026, 0, 1)
const SECONDS = 86_400
export const DEVICE = 'sensor-0001'
export const METRIC = 'temperature'
/** Readings per bucket: 1 to this many. */
const MAX_PER_SECOND = 5
/** Rollups are written every this many seconds of data while seeding, as checkpoints would. */
const SEED_BATCH_SECONDS = 600
/** The limit this bench raises telemetry.maxQueryWindows to when the default refuses a query. */
const RAISED_MAX_WINDOWS = 100_000
/** Timed calls per system and round at least (a call can take longer than --seconds). */
const MIN_CALLS = 5
/** Entries per nextv call of the baseline scan. */
const SCAN_BATCH = 1000

interface QuerySpec {
  id: string
  title: string
  label: string
  params: Record<string, string>
  /** Windows a correct answer holds over the seeded (gapless) day. */
  windows: number
  /** Whether the counts of the answer must add up to every reading (windows that do not overlap and cover the day). */
  coversAll: boolean
}

const FROM = String(DAY)
const TO = String(DAY + SECONDS * 1000)

const QUERIES: QuerySpec[] = [
  {
    id: 'tumbling-1h',
    title: 'tumbling 1 h, count,min,max,avg',
    label: 'query tumbling 1h',
    params: { from: FROM, to: TO, window: 'tumbling', size: '1h', agg: 'count,min,max,avg' },
    windows: 24,
    coversAll: true
  },
  {
    id: 'tumbling-1m-p95',
    title: 'tumbling 1 min, count,min,max,avg,p95',
    label: 'query tumbling 1m p95',
    params: { from: FROM, to: TO, window: 'tumbling', size: '1m', agg: 'count,min,max,avg,p95' },
    windows: 1440,
    coversAll: true
  },
  {
    id: 'hopping-1h-15m',
    title: 'hopping 1 h / 15 min, count,min,max,avg',
    label: 'query hopping 1h/15m',
    params: { from: FROM, to: TO, window: 'hopping', size: '1h', hop: '15m', agg: 'count,min,max,avg' },
    windows: 96,
    coversAll: false
  },
  {
    id: 'session-5s',
    title: 'session gap 5 s, count,min,max,avg',
    label: 'query session 5s',
    params: { from: FROM, to: TO, window: 'session', gap: '5s', agg: 'count,min,max,avg' },
    // Every second has readings, so no gap reaches 5 s: one session over the whole day.
    windows: 1,
    coversAll: true
  }
]

/**
 * A day of readings of one device and metric: 1-5 a second at random times inside the second,
 * a random walk around 21 °C rounded to 0.01, through the gateway's rollup store (as its
 * stream writes them), then compacted (a day-old range would long have been).
 */
async function seed (storage: LevelStore): Promise<{ readings: number, seconds: number }> {
  const t0 = performance.now()
  const telemetryStore = levelTelemetryStore(storage)
  const store = createRollups(telemetryStore)
  const rand = prng(0x24_86_40)
  let value = 21
  let readings = 0
  for (let s = 0; s < SECONDS; s++) {
    const n = 1 + Math.floor(rand() * MAX_PER_SECOND)
    const offsets = Array.from({ length: n }, () => 1 + Math.floor(rand() * 1000)).sort((a, b) => a - b)
    for (const off of offsets) {
      value += (rand() - 0.5) * 0.1
      store.add(DEVICE, METRIC, DAY + s * 1000 + off, Math.round(value * 100) / 100)
      readings++
    }
    if ((s + 1) % SEED_BATCH_SECONDS === 0) await telemetryStore.commit((await store.collect()).changes)
  }
  await telemetryStore.commit((await store.collect()).changes)
  // Level's types leave out classic-level's compactRange; every key starts with a sublevel's '!'.
  await (storage.db as unknown as { compactRange: (start: string, end: string) => Promise<void> }).compactRange('!', '~')
  return { readings, seconds: (performance.now() - t0) / 1000 }
}

/**
 * The baseline: every bucket key of the day read and its value decoded as the store writes it
 * (aggregateFromBytes; JSON for buckets of releases before 0.19.0), nothing else, the cheapest
 * way level offers (nextv batches, no promise per entry).
 */
export function rawScan (storage: LevelStore): () => Promise<number> {
  const sub = storage.json('telemetry')
  const prefix = `r!${DEVICE}!${METRIC}!`
  const rootPrefix = sub.prefixKey(prefix, 'utf8')
  const gte = sub.prefixKey(prefix + encodeTime(DAY + 1000), 'utf8')
  const lte = sub.prefixKey(prefix + encodeTime(DAY + SECONDS * 1000), 'utf8')
  let sink = 0
  return async () => {
    let n = 0
    const it = storage.db.iterator<string, Buffer>({ gte, lte, keyEncoding: 'utf8', valueEncoding: 'buffer' })
    try {
      for (;;) {
        const entries = await it.nextv(SCAN_BATCH)
        if (entries.length === 0) break
        for (const [key, value] of entries) {
          const end = decodeNumber(key.slice(rootPrefix.length))
          // Bytes since 0.19.0; a positional JSON record [count, sum, ...] or an object before.
          const agg = isAggregateBytes(value) ? aggregateFromBytes(value) : JSON.parse(value.toString('utf8')) as number[] | { count: number }
          sink += (Array.isArray(agg) ? agg[0] as number : agg.count) + end
          n++
        }
      }
    } finally {
      await it.close()
    }
    if (!Number.isFinite(sink)) throw new Error('non-finite checksum')
    return n
  }
}

const fmt = (n: number): string => n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)

interface Measured {
  rounds: Round[]
  histogram: Histogram
  p50s: number[]
}

/**
 * One round of `op`: warm-up calls for `warmupSeconds` (at least one), then calls one after the
 * other until `seconds` have passed and at least MIN_CALLS were made; each call timed.
 */
async function measure (opts: TelemetryQueryOptions, label: string, into: Measured, op: () => Promise<number>): Promise<void> {
  const yieldToLoop = async (): Promise<void> => { await new Promise<void>((resolve) => setImmediate(resolve)) }
  progress.write(`  ${label.padEnd(26)} warm-up ${opts.warmupSeconds}s |`)
  const w0 = performance.now()
  do {
    await op()
    await yieldToLoop()
  } while (performance.now() - w0 < opts.warmupSeconds * 1000)
  const h = latencyHistogram()
  try {
    const cpu0 = ownCpuSeconds()
    const elu0 = performance.eventLoopUtilization()
    const t0 = performance.now()
    const lat: number[] = []
    let events = 0
    while (lat.length < MIN_CALLS || performance.now() - t0 < opts.seconds * 1000) {
      const s = performance.now()
      events += await op()
      lat.push(performance.now() - s)
      // Lets timers run between calls; both sides alike.
      await yieldToLoop()
    }
    const seconds = (performance.now() - t0) / 1000
    const elu = performance.eventLoopUtilization(elu0)
    for (const ms of lat) h.recordValue(Math.max(1, Math.round(ms * 1000)))
    const r: Round = {
      events,
      ops: lat.length,
      seconds,
      eventsPerSecond: events / seconds,
      errors: 0,
      cpuPercent: { process: Math.round((ownCpuSeconds() - cpu0) / seconds * 1000) / 10 },
      eventLoop: { utilization: Math.round(elu.utilization * 1000) / 1000, activeMs: Math.round(elu.active * 10) / 10 }
    }
    const p50 = summarise(h).p50Ms
    progress.line(` ${lat.length} calls in ${seconds.toFixed(1)} s => p50 ${fmt(p50)} ms, max ${fmt(Math.max(...lat))} ms`)
    into.rounds.push(r)
    into.p50s.push(p50)
    into.histogram.add(h)
  } finally {
    h.destroy()
  }
}

function system (name: string, description: string, latencyOf: string, m: Measured): SystemResult {
  return {
    name,
    description,
    ...combine(m.rounds),
    latency: summarise(m.histogram),
    latencyOf,
    rounds: m.rounds,
    cpuPercent: cpuAverage(m.rounds),
    loopUtilization: loopUtilization(m.rounds)
  }
}

export async function benchTelemetryQuery (opts: TelemetryQueryOptions): Promise<CaseResult[]> {
  const dir = await makeTempDir(opts.baseDir, 'gridgate-bench-telemetry-query-')
  let storage: LevelStore | undefined
  let logs: LevelTopicLogs | undefined
  let log: TopicLog | undefined
  let telemetry: Telemetry | undefined
  try {
    progress.line(`\n[telemetry query] one device/metric, ${SECONDS.toLocaleString('en-US')} one-second rollup buckets (1-${MAX_PER_SECOND} readings each), in process; ` +
      `${opts.rounds} round(s) of ${opts.seconds}s per query and for the baseline (raw LevelDB scan + decode)`)
    storage = await openLevelDb(dir)
    const seeded = await seed(storage)
    progress.line(`  seeded ${seeded.readings.toLocaleString('en-US')} readings into ${SECONDS.toLocaleString('en-US')} buckets in ${seeded.seconds.toFixed(1)} s (rollup store, then compactRange)`)

    // The gateway's defaults, except a limit on windows the session query needs (see the notes).
    const defaults = (await loadConfig(DEFAULT_CONFIG_PATH, {})).telemetry
    const limits = { maxBuckets: defaults.maxQueryBuckets, maxWindows: defaults.maxQueryWindows }
    const refused = new Map<string, string>()
    for (const q of QUERIES) {
      try {
        parseTelemetryQuery(q.params, Date.now(), limits)
      } catch (err) {
        refused.set(q.id, (err as Error).message)
      }
    }
    const config: TelemetryConfig = refused.size === 0 ? defaults : { ...defaults, maxQueryWindows: Math.max(defaults.maxQueryWindows, RAISED_MAX_WINDOWS) }
    logs = await openLevelTopicLogs({ storage, clock: systemClock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 64 * 1024 * 1024, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
    log = logs.view()
    telemetry = await openTelemetry({ store: levelTelemetryStore(storage), log, clock: systemClock, config, namespace: 'gridgate', sync: false })
    const t = telemetry

    // One answer of each query, checked, before any timing.
    const problems: string[] = []
    const answers = new Map<string, { windows: number, counted: number }>()
    for (const q of QUERIES) {
      const { series } = await t.query(DEVICE, METRIC, q.params)
      const counted = series.reduce((s, w) => s + (typeof w.count === 'number' ? w.count : 0), 0)
      answers.set(q.id, { windows: series.length, counted })
      if (series.length !== q.windows) problems.push(`${q.title}: ${series.length} windows, expected ${q.windows}`)
      if (q.coversAll && counted !== seeded.readings) problems.push(`${q.title}: counts add up to ${counted}, expected ${seeded.readings}`)
    }
    const scan = rawScan(storage)
    const scanned = await scan()
    if (scanned !== SECONDS) problems.push(`the raw scan read ${scanned} keys, expected ${SECONDS}`)
    for (const p of problems) {
      progress.line(`  !!! ${p}`)
      opts.warnings?.push(`telemetry query: ${p}`)
    }

    const fresh = (): Measured => ({ rounds: [], histogram: latencyHistogram(), p50s: [] })
    const base = fresh()
    const subjects = QUERIES.map(fresh)
    const steps: Array<() => Promise<void>> = [
      async () => { await measure(opts, 'raw scan + decode', base, scan) },
      ...QUERIES.map((q, i) => async () => {
        await measure(opts, q.label, subjects[i] as Measured, async () => {
          await t.query(DEVICE, METRIC, q.params)
          return SECONDS
        })
      })
    ]
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      // Forward, then backward: the baseline sits next to the first query, then the last.
      for (const step of r % 2 === 0 ? steps : [...steps].reverse()) await step()
    }

    const baseline = system('raw LevelDB scan + decode',
      `storage.db.iterator over the ${SECONDS.toLocaleString('en-US')} rollup keys of the day (utf8 keys, buffer values, nextv(${SCAN_BATCH})), decodeNumber(key), aggregateFromBytes(value)`,
      `one scan of ${SECONDS.toLocaleString('en-US')} keys`, base)
    base.histogram.destroy()

    const rows: string[][] = [['query', 'windows', 'N', 'p50 ms', 'p99 ms', 'baseline p50 ms', 'ratio (baseline / query)']]
    const cases = QUERIES.map((q, i): CaseResult => {
      const m = subjects[i] as Measured
      const gridgate = system(`telemetry.query (${q.label.replace('query ', '')})`,
        `openTelemetry(...).query('${DEVICE}', '${METRIC}', ${JSON.stringify(q.params)}) on the same storage: hasMetric, parse, load ${SECONDS.toLocaleString('en-US')} buckets (aggregateFromJSON), computeSeries, ISO times`,
        'one query() call, from call to series', m)
      m.histogram.destroy()
      const roundRatios = m.p50s.map((p, k) => (base.p50s[k] ?? Number.NaN) / p)
      const answer = answers.get(q.id)
      rows.push([q.title, String(answer?.windows ?? '?'), String(gridgate.latency.count), fmt(gridgate.latency.p50Ms), fmt(gridgate.latency.p99Ms), fmt(baseline.latency.p50Ms),
        (baseline.latency.p50Ms / gridgate.latency.p50Ms).toFixed(2)])
      const notes = [
        `${answer?.windows ?? '?'} windows over ${SECONDS.toLocaleString('en-US')} one-second buckets (${seeded.readings.toLocaleString('en-US')} readings); ` +
          `${gridgate.latency.count} queries timed: p50 ${fmt(gridgate.latency.p50Ms)} ms, p99 ${fmt(gridgate.latency.p99Ms)} ms, max ${fmt(gridgate.latency.maxMs)} ms; ` +
          `baseline (${baseline.latency.count} scans): p50 ${fmt(baseline.latency.p50Ms)} ms, p99 ${fmt(baseline.latency.p99Ms)} ms. ` +
          'Ratio = baseline p50 / query p50 (per round: the rounds\' p50s), so 1.00 would mean the query costs no more than reading the day\'s rollups; events/s in the details = buckets read per second.'
      ]
      const why = refused.get(q.id)
      if (why !== undefined) {
        notes.push(`**with the default telemetry.maxQueryWindows (${defaults.maxQueryWindows}) the gateway refuses this query** (${why}); measured with the limit raised to ${config.maxQueryWindows}.`)
      }
      return {
        id: `telemetry-query-${q.id}`,
        title: `telemetry query 24 h: ${q.title}`,
        baseline,
        gridgate,
        ratio: baseline.latency.p50Ms / gridgate.latency.p50Ms,
        roundRatios,
        medianRoundRatio: median(roundRatios),
        compare: { what: 'p50 latency of one call', unit: 'ms p50', gridgate: gridgate.latency.p50Ms, baseline: baseline.latency.p50Ms, digits: 1 },
        notes
      }
    })
    const widths = (rows[0] as string[]).map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length)))
    progress.line('')
    for (const row of rows) progress.line('  ' + row.map((cell, c) => c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number)).join('  '))
    for (const [id, why] of refused) progress.line(`  note: ${id} is refused with the default telemetry.maxQueryWindows: ${why}`)
    return cases
  } finally {
    await telemetry?.close()
    await log?.close()
    await logs?.close()
    await storage?.close()
    await removeTempDir(dir)
  }
}
