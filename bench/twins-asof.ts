import { systemClock } from '../src/core/clock.js'
import { openLevelDb, type LevelStore } from '../src/storage/level/db.js'
import { openLevelTopicLogs, type LevelTopicLogs } from '../src/storage/level/topic-log.js'
import { levelTwinStore } from '../src/storage/level/twin-store.js'
import { encodeCommit } from '../src/twins/store.js'
import { foldEvent } from '../src/twins/fold.js'
import { emptyReported, type ReportedState, type TwinChange } from '../src/twins/model.js'
import { createTwins } from '../src/twins/twins.js'
import { seeded as prng } from '../test/helpers/seeded.js'
import {
  combine, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, progress, removeTempDir, summarise,
  type CaseResult, type Round, type SystemResult
} from './common.js'

// GET /devices/{id}/twin?asOf= over a day of one device's history, in process: 86,400 events
// (one a second, each changing three numeric fields, a status field every minute) folded and
// committed through the twins store into a temp LevelDB one event per step, as the projection
// does for a device reporting once a second (its steps are 250 ms apart): history entries, a
// snapshot every twins.snapshotEvery versions; then
// createTwins(...).get(device, { time }) timed at random times of the day, against a baseline
// measured in the same run: the twin now (one read of the current state). Goal: asOf p99 ≤ 100 ms.

export interface TwinsAsOfOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  warnings?: string[]
}

const DAY = Date.UTC(2026, 0, 1)
const SECONDS = 86_400
const DEVICE = 'boiler-0001'
const SNAPSHOT_EVERY = 64
const STEP_EVENTS = 1
const MIN_CALLS = 20
export const ASOF_GOAL_MS = 100

interface Measured { rounds: Round[], histogram: ReturnType<typeof latencyHistogram>, p50s: number[] }

const fmt = (ms: number): string => ms < 10 ? ms.toFixed(2) : ms.toFixed(1)

async function seed (storage: LevelStore, logs: LevelTopicLogs): Promise<{ changes: number, seconds: number }> {
  const t0 = performance.now()
  const store = levelTwinStore(storage, { sync: false, logs })
  const random = prng(7)
  let state: ReportedState = emptyReported(DEVICE)
  let changes = 0
  for (let from = 0; from < SECONDS; from += STEP_EVENTS) {
    const batch: TwinChange[] = []
    const snapshots: ReportedState[] = []
    for (let s = from; s < Math.min(SECONDS, from + STEP_EVENTS); s++) {
      const data: Record<string, unknown> = { temperature: Math.round(random() * 4000) / 100, pressure: Math.round(random() * 1000) / 10, flow: Math.round(random() * 100) }
      if (s % 60 === 0) data.status = s % 120 === 0 ? 'heating' : 'idle'
      const f = foldEvent(state, { deviceId: DEVICE, eventId: `ev-${s}`, time: DAY + s * 1000, topic: 'telemetry', offset: s, data })
      state = f.state
      if (f.change === undefined) continue
      batch.push(f.change)
      if (state.version % SNAPSHOT_EVERY === 0) snapshots.push(state)
    }
    changes += batch.length
    await store.commit(encodeCommit({ states: [state], changes: batch, snapshots, cursors: { telemetry: Math.min(SECONDS, from + STEP_EVENTS) } }))
    if (from % 10_000 === 0) progress.write('.')
  }
  return { changes, seconds: (performance.now() - t0) / 1000 }
}

async function measure (opts: TwinsAsOfOptions, label: string, into: Measured, op: () => Promise<void>): Promise<void> {
  const yieldToLoop = async (): Promise<void> => { await new Promise<void>((resolve) => setImmediate(resolve)) }
  progress.write(`  ${label.padEnd(24)} warm-up ${opts.warmupSeconds}s |`)
  const w0 = performance.now()
  do { await op(); await yieldToLoop() } while (performance.now() - w0 < opts.warmupSeconds * 1000)
  const h = latencyHistogram()
  try {
    const cpu0 = ownCpuSeconds()
    const elu0 = performance.eventLoopUtilization()
    const t0 = performance.now()
    const lat: number[] = []
    while (lat.length < MIN_CALLS || performance.now() - t0 < opts.seconds * 1000) {
      const s = performance.now()
      await op()
      lat.push(performance.now() - s)
      await yieldToLoop()
    }
    const seconds = (performance.now() - t0) / 1000
    const elu = performance.eventLoopUtilization(elu0)
    for (const ms of lat) h.recordValue(Math.max(1, Math.round(ms * 1000)))
    into.rounds.push({
      events: lat.length,
      ops: lat.length,
      seconds,
      eventsPerSecond: lat.length / seconds,
      errors: 0,
      cpuPercent: { process: Math.round((ownCpuSeconds() - cpu0) / seconds * 1000) / 10 },
      eventLoop: { utilization: Math.round(elu.utilization * 1000) / 1000, activeMs: Math.round(elu.active * 10) / 10 }
    })
    const p50 = summarise(h).p50Ms
    progress.line(` ${lat.length} calls in ${seconds.toFixed(1)} s => p50 ${fmt(p50)} ms, max ${fmt(Math.max(...lat))} ms`)
    into.p50s.push(p50)
    into.histogram.add(h)
  } finally {
    h.destroy()
  }
}

const system = (name: string, description: string, latencyOf: string, m: Measured): SystemResult => ({
  name, description, ...combine(m.rounds), latency: summarise(m.histogram), latencyOf, rounds: m.rounds, cpuPercent: cpuAverage(m.rounds), loopUtilization: loopUtilization(m.rounds)
})

export async function benchTwinsAsOf (opts: TwinsAsOfOptions): Promise<CaseResult[]> {
  const dir = await makeTempDir(opts.baseDir, 'gridgate-bench-twins-asof-')
  let storage: LevelStore | undefined
  let logs: LevelTopicLogs | undefined
  try {
    progress.line(`\n[twins asOf] one device, ${SECONDS.toLocaleString('en-US')} events over a day (3 fields each, a status a minute), in process; ${opts.rounds} round(s) of ${opts.seconds}s`)
    storage = await openLevelDb(dir)
    logs = await openLevelTopicLogs({ storage, clock: systemClock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
    const seeded = await seed(storage, logs)
    progress.line(`  seeded ${seeded.changes.toLocaleString('en-US')} changes in ${seeded.seconds.toFixed(1)} s`)
    const twins = createTwins({ store: levelTwinStore(storage, { sync: false, logs }), clock: systemClock, snapshotEvery: SNAPSHOT_EVERY, publish: async () => {}, maxDesiredBytes: 65_536 })

    // Checked before timing: the twin at 12:00:00 has the reading of 12:00:00.
    const noon = await twins.get(DEVICE, { time: DAY + 43_200_000 })
    const problems: string[] = []
    if (noon?.reported.temperature?.eventId !== 'ev-43200' || noon.version !== 43_201) problems.push(`asOf noon answered version ${noon?.version ?? '?'} with ${noon?.reported.temperature?.eventId ?? '?'}`)
    for (const p of problems) { progress.line(`  !!! ${p}`); opts.warnings?.push(`twins asOf: ${p}`) }

    const random = prng(11)
    const fresh = (): Measured => ({ rounds: [], histogram: latencyHistogram(), p50s: [] })
    const base = fresh()
    const subject = fresh()
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      const steps = [
        async () => { await measure(opts, 'twin now', base, async () => { await twins.get(DEVICE) }) },
        async () => { await measure(opts, 'twin asOf (random time)', subject, async () => { await twins.get(DEVICE, { time: DAY + Math.floor(random() * SECONDS * 1000) }) }) }
      ]
      for (const step of r % 2 === 0 ? steps : [...steps].reverse()) await step()
    }
    const baseline = system('twin now', 'createTwins(...).get(device): the current reported and desired states', 'one get() call', base)
    const gridgate = system('twin asOf', `createTwins(...).get(device, { time }) at a random time of the day: a binary search over ${Math.floor(seeded.changes / SNAPSHOT_EVERY).toLocaleString('en-US')} snapshots, then at most ${SNAPSHOT_EVERY} history entries`, 'one get() call', subject)
    base.histogram.destroy()
    subject.histogram.destroy()
    const roundRatios = subject.p50s.map((p, k) => (base.p50s[k] ?? Number.NaN) / p)
    const p99 = gridgate.latency.p99Ms
    return [{
      id: 'twins-asof-day',
      title: 'twin asOf over a day of one device\'s history',
      baseline,
      gridgate,
      ratio: baseline.latency.p50Ms / gridgate.latency.p50Ms,
      roundRatios,
      medianRoundRatio: median(roundRatios),
      compare: { what: 'p50 latency of one call', unit: 'ms p50', gridgate: gridgate.latency.p50Ms, baseline: baseline.latency.p50Ms, digits: 2 },
      goalCheck: { text: `asOf p99 ≤ ${ASOF_GOAL_MS} ms (measured ${fmt(p99)} ms)`, outcome: p99 <= ASOF_GOAL_MS ? 'met' : 'missed' },
      notes: [
        `${SECONDS.toLocaleString('en-US')} events of one device over a day, ${seeded.changes.toLocaleString('en-US')} changes (versions) stored with a snapshot every ${SNAPSHOT_EVERY}; ` +
          `asOf: p50 ${fmt(gridgate.latency.p50Ms)} ms, p99 ${fmt(p99)} ms, max ${fmt(gridgate.latency.maxMs)} ms over ${gridgate.latency.count} calls; twin now: p50 ${fmt(baseline.latency.p50Ms)} ms. ` +
          'Ratio = now p50 / asOf p50.'
      ]
    }]
  } finally {
    await logs?.close()
    await storage?.close()
    await removeTempDir(dir)
  }
}
