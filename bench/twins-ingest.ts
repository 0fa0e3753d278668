import { openFilesLimit, type Child } from './children.js'
import { compact, makeTempDir, progress, removeTempDir, sleep, type CaseResult } from './common.js'
import {
  connectGroups, CONNECT_RATE, deviceIds, getJson, newTarget, PREWARM_SECONDS, ratioCase, registerDevices, round, startAll,
  startGridgate, startLoadGenerator, systemResult, topicEvents,
  type Load, type MqttIngestOptions, type Phase, type Server, type Target
} from './mqtt-ingest.js'
import type { Device } from './mqtt-load.js'

// MQTT fan-in with the twin projection at work: the closed-loop fan-in of bench/mqtt-ingest.ts
// against two gridgate children side by side, one with twins.enabled false (the baseline) and
// one with twins on (the defaults: every reading changes the device's twin, so each event is
// a history entry and a `device.twin.changed` event). Telemetry is off on both, so the
// difference is the projection's. Before each round the bench waits until the projection has
// caught up (the `twins` topic stops growing), so its backlog never runs in the other side's round.

export interface TwinsIngestOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  devices: number
  inflight: number
  /** Writes a CPU profile of each server's ingest thread for every measured window (as --mqtt-cpu-prof). */
  cpuProfileDir?: string
  warnings?: string[]
}

export const TWINS_GOAL = 0.9
const CATCH_UP_MAX_MS = 30_000
const CATCH_UP_POLL_MS = 250

const twinsEvents = async (http: string): Promise<number> => await getJson(http, '/topics/twins').then((t) => (JSON.parse(t) as { events: number }).events, () => 0)

/** Waits until the twins topic stops growing (or CATCH_UP_MAX_MS passed); the seconds waited. */
async function catchUp (http: string): Promise<number> {
  const t0 = performance.now()
  let last = -1
  for (;;) {
    const n = await twinsEvents(http)
    if (n === last || performance.now() - t0 > CATCH_UP_MAX_MS) return (performance.now() - t0) / 1000
    last = n
    await sleep(CATCH_UP_POLL_MS)
  }
}

export async function benchTwinsIngest (opts: TwinsIngestOptions): Promise<CaseResult[]> {
  const warnings: string[] = []
  const openFiles = opts.devices * 2 + 1024
  const limit = openFilesLimit()
  const dirs = [await makeTempDir(opts.baseDir, 'gridgate-bench-twins-off-'), await makeTempDir(opts.baseDir, 'gridgate-bench-twins-on-')]
  const children: Child[] = []
  try {
    progress.line(`\n[twins mqtt ingest] ${opts.devices} devices × ${opts.inflight} QoS 1 publishes in flight; gridgate with twins.enabled false vs twins on (telemetry off on both); ` +
      `${opts.rounds} round(s) of ${opts.seconds}s${limit !== undefined && limit < openFiles ? `; children get ulimit -n ${openFiles}` : ''}`)
    const [load] = await startAll([startLoadGenerator(openFiles)], openFiles, warnings)
    if (load === undefined) throw new Error('no load generator')
    children.push(load.child)
    const payload = await load.ipc.call<{ bytes: number, example: string }>({ cmd: 'payload', kind: 'readings' })
    progress.line(`  payload: ${payload.example} (${payload.bytes.toFixed(0)} bytes on average), the same for both`)
    const servers = await startAll([
      startGridgate('gridgate, twins off', dirs[0] as string, true, openFiles, undefined, { telemetry: { enabled: false }, twins: { enabled: false } }),
      startGridgate('gridgate, twins on', dirs[1] as string, true, openFiles, undefined, { telemetry: { enabled: false }, twins: { enabled: true } })
    ], openFiles, warnings)
    children.push(...servers.map((s) => s.child))
    const [off, on] = servers as [Server, Server]
    const onHttp = on.http as string
    const [offDevices, onDevices] = await registerDevices([off, on], deviceIds('twdev', opts.devices)) as [Device[], Device[]]
    await connectGroups(load.ipc, [{ server: off, group: 'tw-off', devices: offDevices }, { server: on, group: 'tw-on', devices: onDevices }], CONNECT_RATE)

    const tOff = newTarget(off, 'tw-off', true)
    const tOn = newTarget(on, 'tw-on', true)
    const phase: Phase = { opts: { ...opts, rate: 0, idle: 0 } as MqttIngestOptions, load, servers, quiesceSeconds: 0 }
    const window: Load = { mode: 'window', inflight: opts.inflight }
    let catchUpSeconds = 0
    const run = async (t: Target, prewarm = false): Promise<void> => {
      catchUpSeconds += await catchUp(onHttp)
      await round(phase, t, window, prewarm)
    }
    progress.line(`\n[twins mqtt ingest] pre-warm (not recorded): ${PREWARM_SECONDS}s of fan-in on each server`)
    for (const t of [tOff, tOn]) await run(t, true)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [tOff, tOn] : [tOn, tOff]) await run(t)
    }
    catchUpSeconds += await catchUp(onHttp)
    const stored = await topicEvents(onHttp)
    const changes = await twinsEvents(onHttp)
    progress.line(`  twins after the run: ${changes.toLocaleString('en-US')} device.twin.changed events for ${stored.toLocaleString('en-US')} stored events; waited ${catchUpSeconds.toFixed(1)} s for the projection in all`)
    if (changes === 0) warnings.push('twins mqtt ingest: the projection wrote no twin changes, so it did no work')

    const client = `${opts.devices} mqtt.js clients (MQTT 3.1.1, TCP, clean session) in one load-generator child, payload ${payload.example}`
    const latencyOf = `one QoS 1 publish → its PUBACK (load generator side), ${opts.inflight} in flight per device`
    const baseline = systemResult('gridgate, twins.enabled false (child)', `gridgate start, mqtt.persistence true, storage.sync true, telemetry and twins off; ${client}`, latencyOf, tOff.window, tOff.windowHistogram, tOff.windowBatches)
    const subject = systemResult('gridgate, twins on (child)', `gridgate start, mqtt.persistence true, storage.sync true, telemetry off, twins on (defaults); ${client}`, latencyOf, tOn.window, tOn.windowHistogram, tOn.windowBatches)
    for (const t of [tOff, tOn]) { t.windowHistogram.destroy(); t.pacedHistogram.destroy() }
    const c = ratioCase('twins-mqtt-projection', `mqtt fan-in with the twin projection vs twins off, ${opts.devices} devices × ${opts.inflight}`, baseline, subject, TWINS_GOAL)
    c.notes = [
      `Twins after the run: ${changes.toLocaleString('en-US')} device.twin.changed events (one per event that changed a twin) for ${stored.toLocaleString('en-US')} stored events; ` +
        `before every round the bench waited until the twins topic stopped growing (${catchUpSeconds.toFixed(1)} s in total, ${compact(changes)} changes).`
    ]
    opts.warnings?.push(...warnings)
    return [c]
  } finally {
    for (const c of children.reverse()) await c.stop()
    for (const d of dirs) await removeTempDir(d)
  }
}
