import type { CaseResult, SystemResult } from './common.js'

// Turns the results into Markdown: machine facts, method notes, the summary table
// (gridgate vs its same-run baseline) and a details table.

export interface Machine {
  date: string
  cpuModel: string
  cores: number
  availableParallelism: number
  memoryGiB: number
  os: string
  node: string
  versions: Record<string, string>
  tempDir: string
  tempFs: string
  commit?: string
  /** 1-minute load average when the run started and ended (other work on the machine). */
  loadAverage: { start: number, end?: number }
}

export interface Settings {
  warmupSeconds: number
  seconds: number
  rounds: number
  callers: number
  logBatchEvents: number
  connections: number
  inflight: number
  httpBatchEvents: number
  /** MQTT part: simulated devices, publishes in flight per device, paced rate, idle connections. */
  mqttDevices: number
  mqttInflight: number
  mqttRate: number
  mqttIdle: number
  only?: string
}

export interface Results {
  machine: Machine
  settings: Settings
  cases: CaseResult[]
  durationSeconds: number
  warnings: string[]
}

const int = (n: number): string => Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a'
const ms = (n: number): string => Number.isFinite(n) ? (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)) : 'n/a'
const ratio = (n: number): string => Number.isFinite(n) ? n.toFixed(2) : 'n/a'

function row (cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`
}

function cpu (s: SystemResult): string {
  const entries = Object.entries(s.cpuPercent ?? {})
  return entries.length === 0 ? '' : entries.map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(', ')
}

function range (values: readonly number[]): string {
  const finite = values.filter(Number.isFinite)
  if (finite.length === 0) return 'n/a'
  return `${ratio(Math.min(...finite))}–${ratio(Math.max(...finite))}`
}

function goal (c: CaseResult): string {
  if (c.goalCheck !== undefined) return `${c.goalCheck.text}: ${c.goalCheck.outcome === 'missed' ? '**missed**' : c.goalCheck.outcome}`
  if (c.goal === undefined) return '—'
  const met = [c.ratio, c.medianRoundRatio].filter((r) => r >= (c.goal as number)).length
  return `≥ ${c.goal.toFixed(2)}: ${met === 2 ? 'met' : met === 0 ? '**missed**' : 'borderline'}`
}

export function methodNotes (s: Settings): string[] {
  const runs = (part: string): boolean => s.only === undefined || s.only === part
  const notes = [
    `Every gridgate figure has a baseline measured in the same run. Each system gets ${s.rounds} round(s) of ${s.warmupSeconds} s warm-up + ${s.seconds} s measured; ` +
      'rounds alternate the order (baseline first, then gridgate first, ...) so drift on a noisy machine hits both. ' +
      'events/s = events completed in the measured windows / their total length; ratio = gridgate / baseline of those totals; ' +
      'median round ratio = the median of the per-round ratios (each pair measured back to back), which a burst of outside load sways less. ' +
      'A goal counts as met when both are at or above it, missed when both are below, borderline otherwise.',
    `log append (in-process, fresh database in a temp dir for every round): baseline = raw classic-level, sequential \`db.batch([put <16-digit offset key> = encodeSegment(${s.logBatchEvents} events)], { sync })\`; ` +
      `gridgate = the LevelDB storage engine's TopicLog (openStorageEngine, config defaults for batch limits), ${s.callers} concurrent callers each looping \`await log.append('bench', [event])\`. ` +
      'Events are pre-serialised telemetry CloudEvents of ~280 bytes. p50/p99 = one append call as its caller sees it (queueing included). ' +
      'Goal: ratio ≥ 0.70.',
    `http publish: both servers are child processes (\`node --import tsx\`), the load generator is this process: undici Pool with ${s.connections} keep-alive connections, ` +
      `${s.inflight} requests in flight, each POST carrying ${s.httpBatchEvents} events (application/cloudevents-batch+json). ` +
      'gridgate = `gridgate start` with default storage settings (fsync per group-commit batch); baseline = bare node:http that reads the body and answers 200 `{}`. ' +
      'Both servers first get an unrecorded 3 s pre-warm (a freshly started server is slower for its first seconds). ' +
      'p50/p99 = one request, client side. After the run the topic must hold exactly the acknowledged events.',
    `mqtt: servers and load generator are child processes (\`node --import tsx\`); the load generator holds ${s.mqttDevices} mqtt.js clients (MQTT 3.1.1 over TCP, ` +
      'clean session), one per device registered over HTTP, and publishes ~150-byte JSON telemetry at QoS 1 to `devices/{id}/telemetry`. ' +
      'Baseline = bare aedes (`Aedes.createBroker()`, in-memory persistence, an authenticate hook that lets everyone in, no other hooks), with the same clients and load. ' +
      'gridgate appends each message to topic `telemetry` (group commit, fsync) before its PUBACK. ' +
      'Every server first gets an unrecorded 2 s pre-warm at the latency case\'s rate, and before every round the bench waits (up to 2 s) until all servers are nearly idle, so LevelDB compaction left over from one round does not land in the next. ' +
      `latency (measured first): ${s.mqttRate} publishes/s in total, round robin over the devices from a 1 ms timer (open loop); p50/p99 = publish call → PUBACK; ratio = gridgate p99 / baseline p99. ` +
      `fan-in: each device keeps ${s.mqttInflight} publishes waiting for their PUBACK; events/s = PUBACKs/s; rounds alternate bare, gridgate, gridgate without persistence and back. ` +
      `idle: ${s.mqttIdle} devices connect (≤ 64 pending, ≤ 1000/s) and stay idle; KB/conn = growth of the server's RSS (after a full GC, via a probe preloaded into the server with --expose-gc) / connections, measured after an unmeasured connect/disconnect cycle of ≤ 500 devices. ` +
      'persistence: the fan-in rounds of gridgate with mqtt.persistence true against gridgate with mqtt.persistence false; telemetry: against gridgate with telemetry.enabled false. ' +
      `A second fan-in runs with ${100} other devices. CPU per message = the server child's CPU time (all threads) in the fan-in windows / PUBACKs in them. ` +
      'The latency case also reads gridgate_event_loop_delay_seconds{loop="ingest"} at the start and end of each measured window (the gauge covers the time since the previous scrape). ' +
      'After the gridgate rounds the telemetry topic must hold at least as many events as PUBACKs were received.',
    'telemetry (in-process, one core, pure code): readings/s through each window kind; 1,000 keys (250 devices × 4 metrics), pre-generated random-walk readings at 1 reading/s of event time per key, interleaved across keys in event-time order ' +
      '(session: bursts with silences longer than the timeout). Per key an event-time policy with default options accepts the reading, what it releases goes into the key\'s operator, and advance(policy.watermark) follows every reading; ' +
      'closed windows are read (resultReader of the aggregates) as the gateway does when it emits them. Fresh state every round. ' +
      'Baseline = the same loop over the same readings feeding one bare Aggregate.add per key (percentiles on or off as the case), so the ratio shows what the policy and the windowing cost. ' +
      'events/s here = the median of the rounds\' readings/s, and the ratio = median / median; p50/p99 = one chunk of 16,384 readings. Goal: ≥ 500k readings/s per kind. ' +
      'telemetry query 24 h (in process): one device/metric with 86,400 one-second rollup buckets (1-5 readings each, a random walk) written through the rollups and TelemetryStore.commit into a temp LevelDB and compacted; ' +
      'gridgate = openTelemetry(...).query(device, metric, params) with the config defaults (telemetry.maxQueryWindows raised where the default refuses a query, see its note), one call after the other; ' +
      'baseline = a raw iterator over the same 86,400 keys (nextv batches, utf8) with JSON.parse of every value, the least any query over the day must do. Each round times every query and the baseline in turn ' +
      `(forward, then backward) for ${s.seconds} s or at least 5 calls each; the summary shows p50 ms of one call and ratio = baseline p50 / query p50 (higher is better; 1 = the query costs no more than reading the rollups). ` +
      `telemetry mqtt ingest: the mqtt fan-in (${s.mqttDevices} devices × ${s.mqttInflight} QoS 1 publishes in flight, same load generator and rounds) against two gridgate children, baseline telemetry.enabled false, ` +
      'subject telemetry enabled with four windows on the default source (tumbling 60 s, hopping 60 s / 15 s, sliding 60 s, session 30 s / 600 s; aggregates count,min,max,avg,p95); ' +
      'devices publish {"temperature","humidity","pressure","battery"} JSON (4 numeric fields) to both. Ratio = subject PUBACKs/s / baseline PUBACKs/s; goal ≥ 0.90. ' +
      'Before every round the bench waits until the subject\'s telemetry has read all stored events, and reports its readings and emitted windows from /metrics after the run.',
    'Client, servers, LevelDB threads and compaction share the machine\'s cores, so absolute figures are machine-bound; compare ratios.'
  ]
  // Notes 1-4 are log, http, mqtt, telemetry: only those of the parts that ran.
  return notes.filter((_, i) => i === 0 || i === notes.length - 1 || runs(['log', 'http', 'mqtt', 'telemetry'][i - 1] as string))
}

export function renderMarkdown (r: Results): string {
  const m = r.machine
  const out: string[] = []
  out.push(`# gridgate benchmark, ${m.date}`, '')
  out.push(`- CPU: ${m.cpuModel}, ${m.cores} cores (available parallelism ${m.availableParallelism}), ${m.memoryGiB.toFixed(1)} GiB RAM`)
  out.push(`- OS: ${m.os}; Node ${m.node}`)
  out.push(`- Packages: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  out.push(`- Data written under ${m.tempDir} (${m.tempFs})${m.commit === undefined ? '' : `; commit ${m.commit}`}`)
  out.push(`- Run took ${r.durationSeconds.toFixed(0)} s${r.settings.only === undefined ? '' : `; only: ${r.settings.only}`}; ` +
    `1-min load average ${m.loadAverage.start.toFixed(2)} at the start, ${m.loadAverage.end?.toFixed(2) ?? '?'} at the end (${m.cores} cores)`)
  for (const w of r.warnings) out.push(`- **Warning:** ${w}`)
  out.push('', 'Method:', '')
  for (const note of methodNotes(r.settings)) out.push(`- ${note}`)
  out.push('')

  out.push(row(['case', 'gridgate events/s', 'baseline events/s', 'ratio', 'median round ratio (min–max)', 'goal', 'p50 ms', 'p99 ms']))
  out.push(row(['---', '--:', '--:', '--:', '--:', '---', '--:', '--:']))
  const figure = (c: CaseResult, which: 'gridgate' | 'baseline'): string => c.compare === undefined
    ? int(c[which].eventsPerSecond)
    : Number.isFinite(c.compare[which]) ? `${c.compare[which].toFixed(c.compare.digits)} ${c.compare.unit}` : 'n/a'
  for (const c of r.cases) {
    out.push(row([
      c.title, figure(c, 'gridgate'), `${figure(c, 'baseline')} (${c.baseline.name})`,
      ratio(c.ratio), `${ratio(c.medianRoundRatio)} (${range(c.roundRatios)})`, goal(c), ms(c.gridgate.latency.p50Ms), ms(c.gridgate.latency.p99Ms)
    ]))
  }
  out.push('')

  out.push('Details:', '')
  out.push(row(['case', 'system', 'events/s', 'ops/s', 'p50 ms', 'p99 ms', 'max ms', 'server mean ms', 'events/batch', 'write ms/batch',
    'loop busy µs/batch', 'bench loop busy', 'CPU (% of a core)', 'events/s per round', 'ratio per round', 'errors']))
  out.push(row(['---', '---', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '--:', '---', '---', '---', '--:']))
  for (const c of r.cases) {
    for (const [s, which] of [[c.baseline, 'baseline'], [c.gridgate, 'gridgate']] as const) {
      out.push(row([
        c.title, s.name, int(s.eventsPerSecond), int(s.opsPerSecond), ms(s.latency.p50Ms), ms(s.latency.p99Ms), ms(s.latency.maxMs),
        s.serverRequestMeanMs === undefined ? '' : ms(s.serverRequestMeanMs),
        s.batches === undefined ? '' : s.batches.avgEventsPerBatch.toFixed(1),
        s.batches === undefined ? '' : ms(s.batches.avgWriteMs),
        s.batches?.loopBusyUsPerBatch === undefined ? '' : int(s.batches.loopBusyUsPerBatch),
        `${(s.loopUtilization * 100).toFixed(0)}%`,
        cpu(s),
        s.rounds.map((x) => int(x.eventsPerSecond)).join(', '),
        which === 'gridgate' ? c.roundRatios.map(ratio).join(', ') : '',
        String(s.errors)
      ]))
    }
  }
  out.push('')
  const ops = r.cases.flatMap((c) => [`- ${c.title}: baseline ops = ${c.baseline.latencyOf}; gridgate ops = ${c.gridgate.latencyOf}.`])
  out.push('ops/s and latencies count:', '', ...ops)
  out.push('- server mean ms: the publish request as gridgate measured it (its gridgate_http_request_seconds metric), so the rest of p50 is queueing in the client, the kernel and the server\'s event loop.')
  out.push('- events/batch, write ms/batch: group-commit batches, one LevelDB write each (log: the `observer.batch` hook of openTopicLog; http: gridgate\'s /metrics, gridgate_log_batch_items × events per request); write ms = storage.batch call until its promise settles.')
  out.push('- loop busy µs/batch: busy time of the bench process\'s event loop (performance.eventLoopUtilization) per batch written, i.e. the serial JS and native work between two writes.')
  out.push('- bench loop busy: share of the measured time the bench process\'s event loop was busy (for http: the load generator; near 100% means the client limits the figure).')
  out.push('- CPU: process = the bench process, all threads (LevelDB writes run on libuv\'s thread pool and compaction thread); server = the child under test, client = the load generator.')
  out.push('- mqtt: events/s = PUBACKs (or, for idle, connections) per second; CPU server/client = the broker child / the load-generator child, all threads; ' +
    '"server loop" / "client loop" = share of the time their main event loop was busy, "server GC" / "client GC" = share of the time in garbage-collection pauses, "server wait" / "client wait" = share of the time their main thread was ready to run but waited for a CPU (run-queue time, /proc schedstat); bench = this process (it only relays). A summary cell with a unit (ms p99, KB/conn) shows that figure instead of events/s.')
  const notes = r.cases.flatMap((c) => (c.notes ?? []).map((n) => `- ${c.title}: ${n}`))
  if (notes.length > 0) out.push('', 'Notes:', '', ...notes)
  out.push('')
  return out.join('\n')
}
