import { openFilesLimit, type Child } from './children.js'
import { compact, makeTempDir, progress, removeTempDir, sleep, type CaseResult } from './common.js'
import { metricSum } from './http-publish.js'
import {
  connectGroups, CONNECT_RATE, deviceIds, getJson, newTarget, PREWARM_SECONDS, ratioCase, registerDevices, round, startAll,
  startGridgate, startLoadGenerator, systemResult, TELEMETRY, topicEvents,
  type Load, type MqttIngestOptions, type Phase, type Server, type Target
} from './mqtt-ingest.js'
import type { Device } from './mqtt-load.js'

// MQTT fan-in with windowed telemetry at work: the closed-loop fan-in of bench/mqtt-ingest.ts
// (same load generator, same rounds) against two gridgate children side by side, one with
// telemetry.enabled false (the baseline) and one with four continuous windows on the default
// source, every device publishing plain JSON telemetry with four numeric fields. After the
// rounds the subject's /metrics must show readings taken and windows emitted.

export interface TelemetryIngestOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  devices: number
  /** QoS 1 publishes in flight per device. */
  inflight: number
  /** Where both gridgate children write --cpu-prof profiles. */
  cpuProfileDir?: string
  warnings?: string[]
}

export const WINDOWS_GOAL = 0.9

const AGGREGATES = ['count', 'min', 'max', 'avg', 'p95']
const WINDOWS = [
  { name: 'tumbling-60s', window: { kind: 'tumbling', sizeSeconds: 60 }, aggregates: AGGREGATES },
  { name: 'hopping-60s-15s', window: { kind: 'hopping', sizeSeconds: 60, hopSeconds: 15 }, aggregates: AGGREGATES },
  { name: 'sliding-60s', window: { kind: 'sliding', sizeSeconds: 60 }, aggregates: AGGREGATES },
  { name: 'session-30s-600s', window: { kind: 'session', timeoutSeconds: 30, maxDurationSeconds: 600 }, aggregates: AGGREGATES }
]
/** Numeric fields of the 'readings' payload: readings per event. */
const READINGS_PER_EVENT = 4
const OUTPUT_TOPIC = 'telemetry-windows'
/** Before a round: wait (at most this long) until the subject's telemetry has read everything stored. */
const CATCH_UP_MAX_MS = 30_000
const CATCH_UP_POLL_MS = 200

interface TelemetryState {
  /** Events in the source topic. */
  events: number
  readings: number
  /** Events stored but not yet read by telemetry, estimated from readings / READINGS_PER_EVENT. */
  behind: number
  windows: Record<string, number>
  windowEvents: number
  skipped: number
  errors: number
}

async function telemetryState (http: string): Promise<TelemetryState> {
  const [text, events, windowEvents] = await Promise.all([
    getJson(http, '/metrics'),
    topicEvents(http),
    getJson(http, `/topics/${OUTPUT_TOPIC}`).then((t) => (JSON.parse(t) as { events: number }).events, () => 0)
  ])
  const readings = metricSum(text, 'gridgate_telemetry_readings_total')
  const windows: Record<string, number> = {}
  for (const w of WINDOWS) windows[w.name] = metricSum(text, 'gridgate_telemetry_windows_emitted_total', `window="${w.name}"`)
  return {
    events,
    readings,
    behind: Math.max(0, events - readings / READINGS_PER_EVENT),
    windows,
    windowEvents,
    skipped: metricSum(text, 'gridgate_telemetry_skipped_total'),
    errors: metricSum(text, 'gridgate_telemetry_errors_total')
  }
}

/** Waits until telemetry has read every stored event (or CATCH_UP_MAX_MS passed); returns the state and the seconds waited. */
async function catchUp (http: string): Promise<{ state: TelemetryState, seconds: number }> {
  const t0 = performance.now()
  for (;;) {
    const state = await telemetryState(http)
    if (state.behind === 0 || performance.now() - t0 > CATCH_UP_MAX_MS) return { state, seconds: (performance.now() - t0) / 1000 }
    await sleep(CATCH_UP_POLL_MS)
  }
}

const windowCounts = (s: TelemetryState): string => WINDOWS.map((w) => `${w.name} ${(s.windows[w.name] ?? 0).toLocaleString('en-US')}`).join(', ')

export async function benchTelemetryIngest (opts: TelemetryIngestOptions): Promise<CaseResult[]> {
  const warnings: string[] = []
  const openFiles = opts.devices * 2 + 1024
  const limit = openFilesLimit()
  const dirs = [await makeTempDir(opts.baseDir, 'gridgate-bench-telemetry-off-'), await makeTempDir(opts.baseDir, 'gridgate-bench-telemetry-on-')]
  const children: Child[] = []
  try {
    progress.line(`\n[telemetry mqtt ingest] ${opts.devices} devices × ${opts.inflight} QoS 1 publishes in flight; gridgate with telemetry.enabled false vs ${WINDOWS.length} continuous windows; ` +
      `${opts.rounds} round(s) of ${opts.seconds}s${limit !== undefined && limit < openFiles ? `; children get ulimit -n ${openFiles}` : ''}`)
    progress.line('  starting children: load generator, gridgate (telemetry off), gridgate (4 windows)')
    const [load] = await startAll([startLoadGenerator(openFiles)], openFiles, warnings)
    if (load === undefined) throw new Error('no load generator')
    children.push(load.child)
    const payload = await load.ipc.call<{ bytes: number, example: string }>({ cmd: 'payload', kind: 'readings' })
    progress.line(`  payload: ${payload.example} (${payload.bytes.toFixed(0)} bytes on average), the same for both`)
    const servers = await startAll([
      startGridgate('gridgate, telemetry off', dirs[0] as string, true, openFiles, opts.cpuProfileDir, { telemetry: { enabled: false } }),
      startGridgate('gridgate, 4 windows', dirs[1] as string, true, openFiles, opts.cpuProfileDir, { telemetry: { windows: WINDOWS } })
    ], openFiles, warnings)
    children.push(...servers.map((s) => s.child))
    const [off, on] = servers as [Server, Server]
    if (opts.cpuProfileDir !== undefined) {
      progress.line(`  CPU profiles go to ${opts.cpuProfileDir} (CPU.*.<pid>.*.cpuprofile): ${off.name} ${off.child.pid}, ${on.name} ${on.child.pid}`)
    }
    const onHttp = on.http as string

    const [offDevices, onDevices] = await registerDevices([off, on], deviceIds('tdev', opts.devices)) as [Device[], Device[]]
    await connectGroups(load.ipc, [
      { server: off, group: 'tel-off', devices: offDevices },
      { server: on, group: 'tel-on', devices: onDevices }
    ], CONNECT_RATE)

    const tOff = newTarget(off, 'tel-off', true)
    const tOn = newTarget(on, 'tel-on', true)
    const phaseOpts: MqttIngestOptions = { ...opts, rate: 0, idle: 0 }
    const phase: Phase = { opts: phaseOpts, load, servers, quiesceSeconds: 0 }
    const window: Load = { mode: 'window', inflight: opts.inflight }
    /** Per subject round: events its telemetry had not read yet when the round ended, and the catch-up wait before the next round. */
    const behindAtEnd: number[] = []
    let catchUpSeconds = 0
    const run = async (t: Target, prewarm = false): Promise<void> => {
      // Telemetry still reading a backlog must not land in the next round (of either side).
      catchUpSeconds += (await catchUp(onHttp)).seconds
      await round(phase, t, window, prewarm)
      if (t === tOn && !prewarm) {
        const s = await telemetryState(onHttp)
        behindAtEnd.push(s.behind)
        progress.line(`    telemetry: ${compact(s.readings)} readings so far, ${compact(s.behind)} stored events not read yet; windows emitted: ${windowCounts(s)}`)
      }
    }

    progress.line(`\n[telemetry mqtt ingest] pre-warm (not recorded): ${PREWARM_SECONDS}s of fan-in on each server`)
    for (const t of [tOff, tOn]) await run(t, true)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [tOff, tOn] : [tOn, tOff]) await run(t)
    }

    // The figure is not vacuous: readings were taken and windows came out.
    const atEnd = await telemetryState(onHttp)
    const final = await catchUp(onHttp)
    const s = final.state
    const counts = await load.ipc.call<{ acked: number, published: number }>({ cmd: 'counts', group: 'tel-on' })
    progress.line(`  telemetry after the run: ${s.readings.toLocaleString('en-US')} readings from ${s.events.toLocaleString('en-US')} stored events ` +
      `(${counts.acked.toLocaleString('en-US')} PUBACKs); ${compact(atEnd.behind)} events not read yet when the last round ended, ` +
      `${compact(s.behind)} after waiting ${final.seconds.toFixed(1)} s; windows emitted: ${windowCounts(s)} (${s.windowEvents.toLocaleString('en-US')} events in '${OUTPUT_TOPIC}')`)
    const problems: string[] = []
    if (s.readings === 0) problems.push('the subject counted no telemetry readings, so the windows did no work')
    if ((s.windows['sliding-60s'] ?? 0) === 0) problems.push('the sliding window emitted nothing')
    if (s.events < counts.acked) problems.push(`topic '${TELEMETRY}' holds ${s.events} events for ${counts.acked} PUBACKs`)
    if (s.behind > 0) problems.push(`telemetry had still not read ${compact(s.behind)} stored events ${final.seconds.toFixed(0)} s after the run`)
    if (s.errors > 0) problems.push(`${s.errors} telemetry errors (gridgate_telemetry_errors_total)`)
    if (s.skipped > 0) problems.push(`${s.skipped} readings or events skipped (gridgate_telemetry_skipped_total)`)
    for (const p of problems) {
      progress.line(`  !!! ${p}`)
      warnings.push(`telemetry mqtt ingest: ${p}`)
    }

    const client = `${opts.devices} mqtt.js clients (MQTT 3.1.1, TCP, clean session) in one load-generator child, payload ${payload.example}`
    const latencyOf = `one QoS 1 publish → its PUBACK (load generator side), ${opts.inflight} in flight per device`
    const windowList = WINDOWS.map((w) => `${w.name} ${JSON.stringify(w.window)}`).join(', ')
    const baseline = systemResult('gridgate, telemetry.enabled false (child)', `gridgate start, mqtt.persistence true, storage.sync true, telemetry.enabled false; ${client}`, latencyOf, tOff.window, tOff.windowHistogram, tOff.windowBatches)
    const subject = systemResult('gridgate, 4 windows (child)',
      `gridgate start, mqtt.persistence true, storage.sync true, telemetry enabled (default source) with windows ${windowList}, aggregates ${AGGREGATES.join(',')}; ${client}`,
      latencyOf, tOn.window, tOn.windowHistogram, tOn.windowBatches)
    for (const t of [tOff, tOn]) { t.windowHistogram.destroy(); t.pacedHistogram.destroy() }
    const c = ratioCase('telemetry-mqtt-windows', `mqtt fan-in with 4 telemetry windows vs telemetry off, ${opts.devices} devices × ${opts.inflight}`, baseline, subject, WINDOWS_GOAL)
    const perSecond = (n: number): string => (n / Math.max(1e-9, subject.eventsPerSecond)).toFixed(2)
    c.notes = [
      `Subject: ${WINDOWS.length} windows on the default source (topic telemetry, type device.telemetry, every numeric field; event time = arrival): ${windowList}; aggregates ${AGGREGATES.join(',')}. ` +
        `Payload ${payload.example} (${payload.bytes.toFixed(0)} bytes on average, ${READINGS_PER_EVENT} readings per event), the same for both sides.`,
      `Telemetry after the run: ${s.readings.toLocaleString('en-US')} readings counted (gridgate_telemetry_readings_total) from ${s.events.toLocaleString('en-US')} stored events; ` +
        `windows emitted (gridgate_telemetry_windows_emitted_total): ${windowCounts(s)}; ${s.windowEvents.toLocaleString('en-US')} events in '${OUTPUT_TOPIC}'. ` +
        `Stored events telemetry had not read when each subject round ended: ${behindAtEnd.map(compact).join(', ')} (≈ ${behindAtEnd.map(perSecond).join(', ')} s of the subject's ingest); ` +
        `before every round the bench waited until it had read everything (${catchUpSeconds.toFixed(1)} s in total), so its backlog never ran in the other side's round. ` +
        'A backlog at the end of a round means telemetry did not keep up and part of its work was done after the measured window.'
    ]
    opts.warnings?.push(...warnings)
    return [c]
  } finally {
    for (const c of children.reverse()) await c.stop()
    for (const d of dirs) await removeTempDir(d)
  }
}
