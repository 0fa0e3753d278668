import type { Histogram } from 'hdr-histogram-js'
import { validateConfig } from '../src/config/validate.js'
import { systemClock } from '../src/core/clock.js'
import { uuidGenerator } from '../src/core/ids.js'
import { createIngest } from '../src/ingest/ingest.js'
import { openStorageEngine } from '../src/storage/engine.js'
import {
  combine, cpuAverage, latencyHistogram, loopUtilization, makeTempDir, median, ownCpuSeconds, progress, removeTempDir,
  summarise, timed, type CaseResult, type Round, type SystemResult
} from './common.js'

// Ingest with deduplication on against off, in one run: device messages through gridgate's
// ingest port (route match, CloudEvent encoding, durable append on the LevelDB engine with
// storage.sync true) from concurrent callers, as the broker's authorizePublish hook calls it.
// Off: the default route and topic. On: the route takes the id from the payload
// (`idField: msgId`) and the topic deduplicates (a one-hour window), so every message is
// parsed once, checked against the index and indexed. Both send the same payloads, each with
// a msgId no other message has (no duplicates: the cost of the check, not the savings of a
// duplicate). No MQTT in between: the network and aedes would only dilute the difference.

export interface DedupeBenchOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  /** Concurrent callers, each with one message in flight (devices × in-flight publishes). */
  callers: number
}

/** Ingest with deduplication on / off, fan-in (issue 18). */
export const DEDUPE_ON_GOAL = 0.9
const WINDOW_SECONDS = 3600
const TOPIC = 'telemetry'
const NAMESPACE = 'bench'

let runs = 0

async function ingestRound (opts: DedupeBenchOptions, on: boolean, histogram: Histogram): Promise<Round> {
  const dir = await makeTempDir(opts.baseDir, 'gridgate-bench-dedupe-')
  const defaults = validateConfig({})
  const engine = await openStorageEngine({
    engine: 'leveldb',
    dataDir: dir,
    clock: systemClock,
    sync: true,
    log: {
      maxBatchEvents: defaults.storage.maxBatchEvents,
      maxBatchBytes: defaults.storage.maxBatchBytes,
      cacheBytes: defaults.storage.segmentCacheBytes,
      defaultRetention: { maxAgeSeconds: defaults.retention.maxAgeSeconds, maxBytes: defaults.retention.maxBytes }
    }
  })
  const log = engine.topics
  const run = ++runs
  try {
    await log.createTopic(TOPIC, undefined, on ? { windowSeconds: WINDOW_SECONDS } : undefined)
    const ingest = createIngest({
      log,
      routes: [{ filter: 'devices/+/telemetry/#', topic: TOPIC, type: 'device.telemetry', ...(on ? { idField: 'msgId' } : {}) }],
      namespace: NAMESPACE,
      clock: systemClock,
      ids: uuidGenerator
    })
    return await timed({
      label: `ingest, deduplication ${on ? 'on' : 'off'}`,
      warmupSeconds: opts.warmupSeconds,
      seconds: opts.seconds,
      histogram,
      cpu: [{ name: 'process', read: ownCpuSeconds }]
    }, async (ctl) => {
      const caller = async (id: number): Promise<void> => {
        const deviceId = `dev-${id}`
        const mqttTopic = `devices/${deviceId}/telemetry`
        let started = performance.now()
        for (let n = 0; !ctl.stopped; n++) {
          // A device's own sequence number as its message id, in both variants.
          const payload = Buffer.from(`{"msgId":"${run}-${n}","temperature":${20 + (n % 10)},"humidity":${40 + (n % 7)},"battery":0.87}`)
          await ingest.handle({ deviceId, mqttTopic, payload, qos: 1, retain: false })
          const now = performance.now()
          ctl.done(1, now - started)
          started = now
        }
      }
      await Promise.all(Array.from({ length: opts.callers }, (_, id) => caller(id)))
    })
  } finally {
    await log.close()
    await engine.close()
    await removeTempDir(dir)
  }
}

function systemOf (name: string, description: string, rounds: Round[], histogram: Histogram): SystemResult {
  return {
    name,
    description,
    ...combine(rounds),
    latency: summarise(histogram),
    latencyOf: 'one device message through ingest.handle → durable append, queueing included',
    rounds,
    cpuPercent: cpuAverage(rounds),
    loopUtilization: loopUtilization(rounds)
  }
}

export async function benchDedupe (opts: DedupeBenchOptions): Promise<CaseResult[]> {
  const title = 'ingest with deduplication on vs off'
  progress.line(`\n[${title}] ${opts.callers} callers × 1 message in flight, leveldb, storage.sync true, ${opts.rounds} round(s) of ${opts.seconds}s`)
  const hists = { off: latencyHistogram(), on: latencyHistogram() }
  const rounds: { off: Round[], on: Round[] } = { off: [], on: [] }
  for (let r = 0; r < opts.rounds; r++) {
    progress.line(` round ${r + 1}/${opts.rounds}`)
    // Alternate the order so drift on a noisy machine hits both sides alike.
    for (const on of r % 2 === 0 ? [false, true] : [true, false]) {
      (on ? rounds.on : rounds.off).push(await ingestRound(opts, on, on ? hists.on : hists.off))
    }
  }
  const baseline = systemOf('gridgate ingest, deduplication off', `${opts.callers} concurrent callers looping await ingest.handle(message): the default route, a topic without deduplication`, rounds.off, hists.off)
  const gridgate = systemOf('gridgate ingest, deduplication on', `the same messages; the route has idField: msgId, the topic deduplication.windowSeconds ${WINDOW_SECONDS}`, rounds.on, hists.on)
  hists.off.destroy()
  hists.on.destroy()
  const roundRatios = rounds.on.map((g, i) => g.eventsPerSecond / (rounds.off[i]?.eventsPerSecond ?? Number.NaN))
  return [{
    id: 'ingest-dedupe-on-off',
    title,
    baseline,
    gridgate,
    ratio: gridgate.eventsPerSecond / baseline.eventsPerSecond,
    roundRatios,
    medianRoundRatio: median(roundRatios),
    goal: DEDUPE_ON_GOAL,
    notes: [
      'In one process, no MQTT: device messages go straight into the ingest port the broker calls. On = each payload parsed for its msgId, ' +
        'checked against the topic\'s index within the group commit and its key written with the segment (one more LevelDB key per batch); ' +
        'every msgId is new, so every message is appended in both variants.'
    ]
  }]
}
