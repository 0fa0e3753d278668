import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { connect as netConnect } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Worker } from 'node:worker_threads'
import { sharedClock, type SharedClock } from './clock.js'
import { CommandSender } from './commands.js'
import { describeNetworkError, SimError } from './errors.js'
import { addEncoded, latencyHistogram, recordMs, summarize } from './histogram.js'
import { GatewayHttp } from './http.js'
import { Deliveries, reconcile, SeqSet } from './ledger.js'
import { publicSettings, type Settings } from './options.js'
import { compileTemplate, DEFAULT_TEMPLATE } from './payload.js'
import type { ConnectSummary, FromWorker, WorkerInit, WorkerReport, WorkerStats } from './protocol.js'
import { PullReceiver, type ReceivedEvent } from './receiver.js'
import { readDevicesFile, registerDevices, writeDevicesFile } from './registry.js'
import { formatProgress, saturationWarnings, thresholdBreaches, type ErrorDetails, type SimResult } from './report.js'
import { inShare, splitByWeight, splitRanges } from './schedule.js'
import { LatencyPerSecond, PerSecond, sumSeries, zipSeries } from './series.js'

// One run: subscription, devices, workers, publishing, drain, result. Everything it starts
// is stopped in `finally`, whatever happened: workers, long polls, the subscription.

export interface RunIo {
  /** Notes and the progress line (stderr). */
  stderr: (text: string) => void
  /** Whether stderr is a terminal: the progress line then rewrites itself. */
  tty: boolean
  cores: number
}

export interface RunOutcome {
  result: SimResult
  breaches: string[]
}

const CONNACK_NAMES: Record<string, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected',
  3: 'server unavailable',
  4: 'bad username or password',
  5: 'not authorized'
}

export const connackName = (code: string): string => `CONNACK ${code}${CONNACK_NAMES[code] === undefined ? '' : ` (${CONNACK_NAMES[code] as string})`}`

/** Resolves once a TCP connection to the broker's host and port opens: the quick "is anything there". */
async function probeBroker (url: string, timeoutMs = 5000): Promise<void> {
  const u = new URL(url)
  await new Promise<void>((resolve, reject) => {
    const socket = netConnect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), timeout: timeoutMs })
    socket.once('connect', () => { socket.destroy(); resolve() })
    socket.once('timeout', () => { socket.destroy(); reject(Object.assign(new Error(`no answer within ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })) })
    socket.once('error', reject)
  }).catch((err: unknown) => {
    throw new SimError('MQTT_UNREACHABLE', `cannot reach the MQTT broker at ${url}: ${describeNetworkError(err)}`)
  })
}

/** A worker thread; under tsx (the .ts sources) it first registers tsx, which workers do not inherit on Node 20. */
function spawnWorker (): Worker {
  const self = import.meta.url
  const workerData = { deviceWorker: true }
  if (self.endsWith('.ts')) {
    const entry = new URL('./worker.ts', self).href
    const tsx = import.meta.resolve('tsx/esm/api')
    return new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`, { eval: true, workerData })
  }
  return new Worker(new URL('./worker.js', self), { workerData })
}

/** One worker's messages as promises and its latest counts. */
class WorkerHandle {
  stats: WorkerStats = { connected: 0, sent: 0, acked: 0, errors: 0 }
  readonly ready: Promise<ConnectSummary>
  readonly published: Promise<number>
  readonly done: Promise<WorkerReport>
  readonly closed: Promise<void>
  private readonly failed: Promise<never>

  constructor (readonly worker: Worker, readonly first: number) {
    const waiters = new Map<string, (value: any) => void>()
    const on = <T>(type: string): Promise<T> => new Promise<T>((resolve) => { waiters.set(type, resolve) })
    this.ready = on('ready')
    this.published = on('published')
    this.done = on('done')
    this.closed = on('closed')
    let fail: (err: Error) => void = () => {}
    this.failed = new Promise<never>((_resolve, reject) => { fail = reject })
    this.failed.catch(() => {}) // observed through race()
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'stats') this.stats = m.stats
      else if (m.type === 'ready') waiters.get('ready')?.(m.summary)
      else if (m.type === 'published') waiters.get('published')?.(m.lastAtMs)
      else if (m.type === 'done') waiters.get('done')?.(m.report)
      else if (m.type === 'closed') waiters.get('closed')?.(undefined)
    })
    worker.on('error', (err) => fail(new SimError('WORKER_FAILED', `a device worker failed: ${err.stack ?? err.message}`, { exitCode: 1 })))
    worker.on('exit', (code) => {
      waiters.get('closed')?.(undefined)
      fail(new SimError('WORKER_FAILED', `a device worker exited early (code ${code})`, { exitCode: 1 }))
    })
  }

  /** The promise, or the worker's failure, whichever comes first. */
  async race<T> (p: Promise<T>): Promise<T> {
    return await Promise.race([p, this.failed])
  }
}

async function readTemplate (path: string | null): Promise<unknown> {
  if (path === null) return DEFAULT_TEMPLATE
  let text: string
  try { text = await readFile(path, 'utf8') } catch (err) { throw new SimError('FILE_INVALID', `--payload ${path}: ${(err as Error).message}`) }
  let doc: unknown
  try { doc = JSON.parse(text) } catch (err) { throw new SimError('FILE_INVALID', `--payload ${path}: not JSON (${(err as Error).message})`) }
  compileTemplate(doc, `--payload ${path}`)
  return doc
}

export async function runSimulation (s: Settings, io: RunIo): Promise<RunOutcome> {
  const clock: SharedClock = sharedClock()
  const startedAt = new Date().toISOString()
  const runId = randomBytes(4).toString('hex')
  const note = (text: string): void => io.stderr(`devices-sim: ${text}\n`)
  const template = await readTemplate(s.payload)
  let ca: string | undefined
  if (s.ca !== null) {
    try { ca = await readFile(s.ca, 'utf8') } catch (err) { throw new SimError('FILE_INVALID', `--ca ${s.ca}: ${(err as Error).message}`) }
  }

  const ids = Array.from({ length: s.devices }, (_, i) => `${s.prefix}-${i + 1}`)
  const indexOf = new Map(ids.map((id, i) => [id, i]))
  // Enough long polls that a batch of 100 every few ms keeps up with the rate.
  const loops = Math.min(16, Math.max(2, Math.ceil(s.rate / 1500) + 1))
  const http = new GatewayHttp(s.http, s.key, { connections: loops * 2 + 64, ...(ca === undefined ? {} : { ca }) })

  const deliveries = new Deliveries(s.devices)
  const delivery = latencyHistogram()
  const deliveredSeries = new PerSecond()
  const latencySeries = new LatencyPerSecond()
  const mainErrors = new PerSecond()
  const firstErrors: string[] = []
  const warnings: string[] = []
  let startAt = 0
  let lastDeliveryAt = 0
  const onError = (message: string): void => {
    if (firstErrors.length < 10) firstErrors.push(message)
    if (startAt > 0) mainErrors.add((clock.now() - startAt) / 1000)
  }
  const onBatch = (events: ReceivedEvent[]): void => {
    const at = clock.now()
    for (const e of events) {
      const ev = e.event
      const id = ev?.deviceid
      const outcome = deliveries.record(typeof id === 'string' ? indexOf.get(id) : undefined, ev?.data?.seq)
      if (outcome !== 'new') continue
      lastDeliveryAt = at
      deliveredSeries.add((at - startAt) / 1000)
      const sentAt = ev?.data?.sentAt
      if (typeof sentAt === 'number') {
        recordMs(delivery, at - sentAt)
        latencySeries.record((at - startAt) / 1000, at - sentAt)
      }
    }
  }

  const receiver = new PullReceiver(http, s.topic, `devices-sim-${runId}`, onBatch, onError)
  let subscribed = false
  let handles: WorkerHandle[] = []
  let commands: CommandSender | undefined
  let progress: NodeJS.Timeout | undefined
  let interrupted = false
  const onSigint = (): void => {
    if (interrupted) return
    interrupted = true
    note('interrupted: stopping the publishers and reporting what was measured (Ctrl-C again to quit at once)')
    for (const h of handles) h.worker.postMessage({ type: 'stop' })
    process.once('SIGINT', () => process.exit(130))
  }
  process.once('SIGINT', onSigint)

  try {
    // Worker threads load while the gateway is checked and the devices are registered:
    // loading takes a while (under tsx, seconds). A failure below terminates them.
    const ranges = splitRanges(s.devices, s.workers)
    handles = ranges.map(([first]) => new WorkerHandle(spawnWorker(), first))

    // 1. The subscription first: it checks the HTTP API, the key and the topic in one call.
    await receiver.create([
      { operatorType: 'StringBeginsWith', key: 'deviceid', values: [`${s.prefix}-`] },
      { operatorType: 'StringIn', key: 'data.run', values: [runId] }
    ])
    subscribed = true
    await probeBroker(s.mqtt)

    // 2. Devices.
    const known = s.devicesFile === null ? new Map<string, string>() : await readDevicesFile(s.devicesFile, s.http, note)
    const t0 = performance.now()
    note(`run ${runId}: registering ${ids.length} devices${known.size > 0 ? ` (${known.size} known from ${s.devicesFile as string})` : ''}`)
    const reg = await registerDevices(http, ids, known, { concurrency: 16 })
    note(`registered in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${reg.created} created, ${reg.reused} reused${reg.replaced > 0 ? `, ${reg.replaced} deleted and created again (they existed with a password this run does not know)` : ''}`)
    if (s.devicesFile !== null) {
      const all = new Map([...known, ...reg.credentials])
      try { await writeDevicesFile(s.devicesFile, s.http, all) } catch (err) { throw new SimError('FILE_INVALID', `--devices-file ${s.devicesFile}: ${(err as Error).message}`) }
    }

    // 3. Workers connect their devices at their share of the ramp.
    const weights = ranges.map(([a, b]) => b - a)
    const messages = splitByWeight(s.messages, weights)
    ranges.forEach(([first, end], w) => {
      const init: WorkerInit = {
        worker: w,
        url: s.mqtt,
        ...(ca === undefined ? {} : { ca }),
        qos: s.qos,
        devices: ids.slice(first, end).map((id, j) => ({
          index: first + j,
          id,
          password: reg.credentials.get(id) as string,
          answers: inShare(first + j, s.commandShare, s.devices),
          churns: inShare(first + j, s.churnShare, s.devices, Math.floor(s.devices / 2))
        })),
        ramp: s.ramp * (end - first) / s.devices,
        rate: s.rate * (end - first) / s.devices,
        messages: messages[w] as number,
        runId,
        clockOffsetMs: clock.offsetMs,
        template,
        churnIntervalMs: s.churnInterval * 1000,
        drainMs: s.drain * 1000
      }
      const handle = handles[w] as WorkerHandle
      handle.worker.postMessage({ type: 'init', init })
    })

    let phase = 'connecting'
    let lastSent = 0
    let lastTick = performance.now()
    let finalRate = 0
    const runStart = performance.now()
    const printProgress = (final = false): void => {
      const now = performance.now()
      const sent = handles.reduce((a, h) => a + h.stats.sent, 0)
      const line = formatProgress({
        phase,
        elapsedSeconds: (now - runStart) / 1000,
        connected: handles.reduce((a, h) => a + h.stats.connected, 0),
        devices: s.devices,
        sent,
        // The last line covers a part of a second: show the rate of the whole publish phase.
        msgPerSec: final ? finalRate : now > lastTick ? (sent - lastSent) * 1000 / (now - lastTick) : 0,
        delivered: deliveries.unique,
        p99: delivery.totalCount === 0 ? null : delivery.getValueAtPercentile(99) / 1000,
        errors: handles.reduce((a, h) => a + h.stats.errors, 0) + receiver.receiveErrors + receiver.ackErrors + (commands?.errorCount ?? 0)
      })
      lastSent = sent
      lastTick = now
      io.stderr(io.tty ? `\r\x1b[K${line}${final ? '\n' : ''}` : `${line}\n`)
    }
    progress = setInterval(printProgress, 1000)

    const summaries = await Promise.all(handles.map((h) => h.race(h.ready)))
    const connected = summaries.reduce((a, x) => a + x.connected, 0)
    const refusedByCode: Record<string, number> = {}
    for (const x of summaries) for (const [code, n] of Object.entries(x.refused)) refusedByCode[code] = (refusedByCode[code] ?? 0) + n
    const unreachable = summaries.reduce((a, x) => a + x.unreachable, 0)
    const refusedCount = Object.values(refusedByCode).reduce((a, b) => a + b, 0) + unreachable
    const firstConnectError = summaries.find((x) => x.firstError !== undefined)?.firstError
    if (firstConnectError !== undefined) onError(`connect: ${firstConnectError}`)
    const refusedText = [...Object.entries(refusedByCode).map(([c, n]) => `${n} × ${connackName(c)}`), ...(unreachable > 0 ? [`${unreachable} × no connection`] : [])].join(', ')
    if (connected === 0) {
      if (unreachable > 0 && Object.keys(refusedByCode).length === 0) {
        const tlsHint = (s.transport === 'tls' || s.transport === 'wss') && s.ca === null && /CERT|SIGNATURE|SELF_SIGNED|certificate/i.test(firstConnectError ?? '') ? ' (a private CA? pass --ca FILE)' : ''
        throw new SimError('MQTT_UNREACHABLE', `no device could connect to ${s.mqtt}: ${firstConnectError ?? 'no connection'}${tlsHint}`)
      }
      throw new SimError('NO_DEVICE_CONNECTED', `no device could connect to ${s.mqtt}: ${refusedText}${s.devicesFile !== null && refusedByCode['4'] !== undefined ? ` (stale passwords in ${s.devicesFile}? delete it to register afresh)` : ''}`)
    }
    if (refusedCount > 0) {
      warnings.push(`${refusedCount} of ${s.devices} devices could not connect: ${refusedText}; first: ${firstConnectError ?? ''}`)
      note(warnings[warnings.length - 1] as string)
    }
    if (interrupted) throw new SimError('INTERRUPTED', 'interrupted while connecting', { exitCode: 130 })

    // 4. Publish: every worker starts on the same instant of the shared clock.
    phase = 'publishing'
    startAt = clock.now() + 200
    receiver.start(loops)
    const answering = ids.filter((_, i) => inShare(i, s.commandShare, s.devices))
    if (s.commandRate > 0) {
      commands = new CommandSender(http, answering, s.commandRate, runId, clock, onError)
      commands.start(startAt)
    }
    for (const h of handles) h.worker.postMessage({ type: 'start', atMs: startAt })
    const cpu0 = process.cpuUsage()
    const elu0 = performance.eventLoopUtilization()
    const wall0 = clock.now()

    const lastPublishAt = Math.max(...await Promise.all(handles.map((h) => h.race(h.published))))
    const cpu = process.cpuUsage(cpu0)
    const elu = performance.eventLoopUtilization(elu0).utilization
    const publishWallMs = Math.max(1, clock.now() - wall0)
    commands?.stop()
    phase = 'draining'

    // 5. Drain: workers wait for their PUBACKs; deliveries and commands get --drain seconds
    // after the last publish.
    const reports = await Promise.all(handles.map((h) => h.race(h.done)))
    const expected = reports.reduce((a, r) => a + (s.qos === 1 ? r.totals.acked : r.totals.sent), 0)
    const deadline = lastPublishAt + s.drain * 1000
    const commandsDrained = commands?.drain(Math.max(0, deadline - clock.now())) ?? Promise.resolve()
    // (A loop with a break: `interrupted` changes in the SIGINT handler, which lint cannot see.)
    for (;;) {
      if (deliveries.unique >= expected || clock.now() >= deadline || interrupted) break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    await commandsDrained
    await receiver.stop()
    clearInterval(progress)
    progress = undefined
    const publishedSoFar = handles.reduce((a, h) => a + h.stats.sent, 0)
    finalRate = publishedSoFar / Math.max(0.001, (lastPublishAt - startAt) / 1000 + 1 / s.rate)
    printProgress(true)

    // 6. Accounting.
    const sentPerDevice = new Array<number>(s.devices).fill(0)
    const ackedPerDevice = new Array<SeqSet | undefined>(s.devices)
    const puback = latencyHistogram()
    reports.forEach((r, w) => {
      const first = (handles[w] as WorkerHandle).first
      r.sent.forEach((n, j) => { sentPerDevice[first + j] = n })
      r.acked.forEach((bytes, j) => { ackedPerDevice[first + j] = new SeqSet(bytes) })
      addEncoded(puback, r.puback)
    })
    const rec = reconcile({ qos: s.qos, ids, sent: sentPerDevice, acked: ackedPerDevice, delivered: deliveries })
    const total = (k: keyof WorkerReport['totals']): number => reports.reduce((a, r) => a + r.totals[k], 0)
    const sent = total('sent')
    const acked = s.qos === 1 ? total('acked') : 0
    const publishSeconds = sent === 0 ? 0 : (lastPublishAt - startAt) / 1000 + 1 / s.rate
    const msgPerSec = publishSeconds > 0 ? sent / publishSeconds : 0
    const cpuCores = (cpu.user + cpu.system) / 1000 / publishWallMs
    const eluWorkers = reports.map((r) => Math.round(r.elu * 1000) / 1000)
    const cmd = commands?.result() ?? null

    const errorDetails: ErrorDetails = {
      refused: refusedCount,
      publish: total('publishErrors'),
      disconnects: total('disconnects'),
      reconnects: total('reconnectFailures'),
      receive: receiver.receiveErrors,
      acknowledge: receiver.ackErrors,
      commands: cmd?.errors ?? 0,
      first: [...firstErrors, ...reports.flatMap((r) => r.firstErrors)].slice(0, 10)
    }
    const errors = errorDetails.refused + errorDetails.publish + errorDetails.disconnects + errorDetails.reconnects + errorDetails.receive + errorDetails.acknowledge + errorDetails.commands

    warnings.push(...saturationWarnings({ cpuCores, cores: io.cores, eluMain: elu, eluWorkers, askedRate: s.rate, achievedRate: msgPerSec, messages: s.messages }))
    const skipped = total('skipped')
    if (skipped > 0) warnings.push(`${skipped} publishes were skipped: no connected device had room (offline, or ${1000} unacknowledged)`)
    const unacked = total('unacked')
    if (unacked > 0) warnings.push(`${unacked} publishes had no PUBACK within --drain ${s.drain} s`)
    if (rec.lost > 0 && deliveries.unique < expected) warnings.push(`${rec.lost} messages were not delivered within --drain ${s.drain} s after the last publish (late ones count as lost; raise --drain to tell late from lost)`)
    if (rec.deliveredUnacked > 0) warnings.push(`${rec.deliveredUnacked} messages were delivered although their PUBACK never came`)
    if (deliveries.invalid > 0 || rec.beyondSent > 0) warnings.push(`${deliveries.invalid + rec.beyondSent} deliveries did not match a message of this run`)
    if (interrupted) warnings.push('the run was interrupted (Ctrl-C): publishing stopped early')

    const maxLag = Math.max(0, ...reports.map((r) => r.maxLagMs))
    if (maxLag > 1000) warnings.push(`publishes ran up to ${(maxLag / 1000).toFixed(1)} s behind their schedule`)

    const result: SimResult = {
      runId,
      startedAt,
      settings: publicSettings(s),
      devices: s.devices,
      connected,
      refused: { count: refusedCount, byCode: { ...refusedByCode, ...(unreachable > 0 ? { unreachable } : {}) } },
      sent,
      acked,
      delivered: deliveries.unique,
      lost: rec.lost,
      duplicates: deliveries.duplicates,
      msgPerSec: Math.round(msgPerSec * 10) / 10,
      deliveredPerSec: lastDeliveryAt > startAt ? Math.round(deliveries.unique / ((lastDeliveryAt - startAt) / 1000) * 10) / 10 : 0,
      publishSeconds: Math.round(publishSeconds * 1000) / 1000,
      latencyMs: summarize(delivery),
      pubackLatencyMs: s.qos === 1 ? summarize(puback) : null,
      unacked,
      deliveredUnacked: rec.deliveredUnacked,
      beyondSent: rec.beyondSent,
      invalidDeliveries: deliveries.invalid,
      lostByDevice: rec.lostByDevice,
      errors,
      errorDetails,
      commands: cmd,
      churn: s.churnShare > 0
        ? {
            devices: ids.filter((_, i) => inShare(i, s.churnShare, s.devices, Math.floor(s.devices / 2))).length,
            disconnects: reports.reduce((a, r) => a + r.churn.disconnects, 0),
            reconnects: reports.reduce((a, r) => a + r.churn.reconnects, 0),
            failedReconnects: reports.reduce((a, r) => a + r.churn.failed, 0)
          }
        : null,
      simulatorCpuCores: Math.round(cpuCores * 100) / 100,
      simulatorEventLoopUtilization: { main: Math.round(elu * 1000) / 1000, workers: eluWorkers },
      saturated: warnings.some((w) => w.startsWith('the simulator used') || w.startsWith('saturated event loop')),
      warnings,
      series: zipSeries({
        sent: sumSeries(reports.map((r) => r.sentSeries)),
        acked: sumSeries(reports.map((r) => r.ackedSeries)),
        delivered: deliveredSeries.toArray(),
        errors: sumSeries([mainErrors.toArray(), ...reports.map((r) => r.errorSeries)]),
        latency: latencySeries.toArray()
      })
    }
    return { result, breaches: thresholdBreaches(result, s) }
  } finally {
    process.removeListener('SIGINT', onSigint)
    if (progress !== undefined) clearInterval(progress)
    await receiver.stop()
    await Promise.all(handles.map(async (h) => {
      h.worker.postMessage({ type: 'close' })
      await Promise.race([h.closed, new Promise((resolve) => setTimeout(resolve, 5000))])
      await h.worker.terminate()
    }))
    if (subscribed) {
      const problem = await receiver.remove()
      if (problem !== undefined) note(problem)
    }
    await http.close()
  }
}
