import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { MqttClient } from 'mqtt'
import type { ChildGateway } from '../helpers/child.js'
import type { DeadLetter, ErrorBody, List, Received, ReceivedEvent, Settled, SubscriptionStatus } from '../helpers/api.js'
import { cloudEvent } from '../helpers/http.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import type { CaseResult, ReliabilityCase, Size } from './case.js'
import { pause, reached, within } from '../helpers/wait.js'
import { metric, pickSeed, replay, Scope, seededRandom, startAndTimeReady, startChild, startSlowWebhook } from './crash-helpers.js'

// The crash part of the reliability suite: kill -9 during QoS 1 ingest, kill -9 during push
// delivery, dead-lettering and with pull locks held, and a real disk-write failure. Each case
// runs real child gateways on a real LevelDB in a temp dir and cleans up in `finally`.

const KEY = 'reliability-crash-key-0123456789'
const READY_LIMIT_MS = 10_000

function env (dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn', ...extra }
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const fmt = (n: number): string => n.toLocaleString('en-US')

function gapFree (offsets: number[]): boolean {
  return offsets.every((o, i) => i === 0 || o === (offsets[i - 1] as number) + 1)
}

/** Connects a device; errors are swallowed (a killed gateway resets every socket). */
async function device (gw: ChildGateway, scope: Scope, id: string, password: string): Promise<MqttClient> {
  const c = await connectDevice(gw.listeners.mqtt as string, id, password)
  c.on('error', () => {})
  scope.defer(() => c.endAsync(true))
  return c
}

/** Publishes at QoS 1 and resolves true on PUBACK, false when the connection closes first. */
function publishAcked (c: MqttClient, topic: string, payload: string): Promise<boolean> {
  if (c.disconnected || !c.connected) return Promise.resolve(false)
  return new Promise<boolean>((resolve) => {
    const onClose = (): void => resolve(false)
    c.once('close', onClose)
    c.publishAsync(topic, payload, { qos: 1 }).then(() => { c.off('close', onClose); resolve(true) }, () => { c.off('close', onClose); resolve(false) })
  })
}

// 1. kill -9 during QoS 1 ingest ----------------------------------------------------------

const INGEST = {
  ci: { rounds: 3, devices: 10, inFlight: 2, killMinMs: 200, killMaxMs: 1200 },
  soak: { rounds: 10, devices: 50, inFlight: 4, killMinMs: 500, killMaxMs: 5000 }
}

const killDuringIngest: ReliabilityCase = {
  name: 'kill -9 during QoS 1 ingest',
  action: (size: Size) => {
    const s = INGEST[size]
    return `${s.devices} devices publish QoS 1 with sequence numbers, ${s.inFlight} in flight each; kill -9 at a seeded random moment ${s.killMinMs}–${s.killMaxMs} ms after the first PUBACK, restart on the same data; ${s.rounds} rounds`
  },
  criterion: `every PUBACKed message is in the log after each restart (offsets gap-free); GET /readyz 200 within ${READY_LIMIT_MS / 1000} s of each restart`,
  run: async (size: Size): Promise<CaseResult> => {
    const s = INGEST[size]
    const seed = pickSeed()
    const random = seededRandom(seed)
    const scope = new Scope()
    try {
      const dir = await tempDir('gridgate-rel-crash-')
      scope.defer(dir.remove)
      let { gw } = await startAndTimeReady(scope, { env: env(dir.path) })
      const ids = Array.from({ length: s.devices }, (_, i) => `rel-${i}`)
      const passwords = await Promise.all(ids.map((id) => registerDevice(gw, id)))
      const nextSeq = ids.map(() => 0)
      const acked = new Set<string>()
      const logged = new Set<string>()
      const offsets: number[] = []
      const readyMs: number[] = []
      let from = 0
      let missing: string[] = []
      for (let round = 0; round < s.rounds; round++) {
        const round_ = new Scope()
        try {
          const clients = await Promise.all(ids.map((id, i) => device(gw, round_, id, passwords[i] as string)))
          const run = { stop: false }
          let firstAck: () => void = () => {}
          const acking = new Promise<void>((resolve) => { firstAck = resolve })
          for (const [i, c] of clients.flatMap((c, i) => Array.from({ length: s.inFlight }, () => [i, c] as const))) {
            void (async () => {
              for (let n = 0; n < 1_000_000 && !run.stop; n++) {
                const seq = nextSeq[i] as number
                nextSeq[i] = seq + 1
                if (!await publishAcked(c, `devices/${ids[i] as string}/telemetry`, JSON.stringify({ seq }))) return
                acked.add(`${ids[i] as string}:${seq}`)
                firstAck()
              }
            })()
          }
          await within(acking, { timeoutMs: 10_000, orElse: undefined })
          await pause(s.killMinMs + random() * (s.killMaxMs - s.killMinMs)) // the random kill time
          if (await gw.kill('SIGKILL') !== 'SIGKILL') throw new Error('the gateway was not killed by SIGKILL')
          run.stop = true
        } finally {
          await round_.close()
        }
        const restarted = await startAndTimeReady(scope, { env: env(dir.path) })
        gw = restarted.gw
        readyMs.push(restarted.readyMs)
        const page = await replay(gw, 'telemetry', from)
        from = page.nextOffset
        for (const r of page.events) {
          offsets.push(r.offset)
          logged.add(`${String(r.event.deviceid)}:${String((r.event.data as { seq?: unknown }).seq)}`)
        }
        missing = [...acked].filter((k) => !logged.has(k))
        if (missing.length > 0) break
      }
      const ordered = offsets.every((o, i) => o === i)
      const worst = Math.max(...readyMs)
      const median = [...readyMs].sort((a, b) => a - b)[Math.floor(readyMs.length / 2)] ?? 0
      const pass = acked.size > 0 && missing.length === 0 && ordered && gapFree(offsets) && worst <= READY_LIMIT_MS
      return {
        figure: `${fmt(missing.length)} of ${fmt(acked.size)} PUBACKed messages missing after ${readyMs.length} kills` +
          `${ordered ? '' : ', offsets NOT gap-free from 0'}${missing.length > 0 ? ` (e.g. ${missing.slice(0, 3).join(', ')})` : ''}; ` +
          `ready after restart in ${seconds(median)} median, ${seconds(worst)} worst; seed ${seed}`,
        pass
      }
    } finally {
      await scope.close()
    }
  }
}

// 2. kill -9 during push delivery, dead-lettering and with pull locks held -----------------

const DELIVERY = {
  ci: { events: 300, kills: 1, killMinMs: 300, killMaxMs: 1200, hookDelayMs: 20, receiveMax: 10, drainMs: 40_000 },
  soak: { events: 1000, kills: 4, killMinMs: 300, killMaxMs: 2000, hookDelayMs: 20, receiveMax: 10, drainMs: 120_000 }
}

interface PullState {
  acked: Set<string> // event ids whose acknowledgement was answered as succeeded
  held: Map<string, string> // lock token -> event id: received, deliberately not settled
  uncertain: Map<string, string> // lock token -> event id: acknowledgement cut by the kill
  cameBack: string[] // acknowledged event ids received again
  heldFailed: string[] // tokens taken before a crash that did not settle after it
  interruptedReceives: number
}

const REJECT_REASON = 'Undeliverable due to client error'

const killDuringDelivery: ReliabilityCase = {
  name: 'kill -9 during push, dead-lettering and pull',
  action: (size: Size) => {
    const s = DELIVERY[size]
    return `${fmt(s.events)} events on a topic with a push subscription to a webhook answering 200 after ${s.hookDelayMs} ms, one to a webhook answering 400, and a pull subscription receiving ${s.receiveMax} at a time, acknowledging a seeded random part and holding the rest; kill -9 at a seeded moment ${s.killMinMs}–${s.killMaxMs} ms into delivery, restart; ${s.kills} kill(s)`
  },
  criterion: 'every event delivered to the 200 webhook at least once and dead-lettered on the 400 one with its reason and status; over pull, no acknowledged event comes back, tokens taken before a crash still settle after it (README: until their lock expires), and every event is acknowledged except at most those locked by a receive cut by the kill',
  run: async (size: Size): Promise<CaseResult> => {
    const s = DELIVERY[size]
    const seed = pickSeed()
    const random = seededRandom(seed)
    const scope = new Scope()
    try {
      const dir = await tempDir('gridgate-rel-crash-')
      scope.defer(dir.remove)
      const ok = await startSlowWebhook({ status: 200, delayMs: s.hookDelayMs })
      scope.defer(ok.close)
      const bad = await startSlowWebhook({ status: 400, delayMs: s.hookDelayMs })
      scope.defer(bad.close)
      const childEnv = env(dir.path, { GRIDGATE_WEBHOOK_ALLOW_LOOPBACK: 'true' })
      let gw = await startChild(scope, { env: childEnv })
      const base = '/topics/orders/eventsubscriptions'
      await gw.request('PUT', '/topics/orders')
      const push = (url: string): unknown => ({ properties: { startAt: 'beginning', deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { endpointType: 'WebHook', properties: { endpointUrl: url } } } } } })
      for (const [name, body] of [['ok', push(ok.url)], ['bad', push(bad.url)], ['q', { properties: { startAt: 'beginning', deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 300 } } } }]] as const) {
        const res = await gw.request('PUT', `${base}/${name}`, { body })
        if (res.status !== 201) throw new Error(`subscription ${name}: ${res.status} ${res.text}`)
      }
      // Published after the subscriptions exist, so push is already delivering while pull starts.
      const ids = Array.from({ length: s.events }, (_, i) => `d${i}`)
      for (let i = 0; i < ids.length; i += 100) {
        const res = await gw.publish('orders', ids.slice(i, i + 100).map((id) => cloudEvent(id)))
        if (res.status !== 200) throw new Error(`publish: ${res.status} ${res.text}`)
      }
      const pull: PullState = { acked: new Set(), held: new Map(), uncertain: new Map(), cameBack: [], heldFailed: [], interruptedReceives: 0 }
      const ackTokens = async (tokens: string[]): Promise<{ succeeded: string[], failed: string[] }> => {
        const res = await gw.request<Settled>('POST', `${base}/q:acknowledge`, { body: { lockTokens: tokens } })
        if (res.status !== 200) throw new Error(`acknowledge: ${res.status} ${res.text}`)
        return { succeeded: res.body.succeededLockTokens, failed: res.body.failedLockTokens.map((f) => f.lockToken) }
      }
      const sawEvent = (id: string): void => { if (pull.acked.has(id)) pull.cameBack.push(id) }

      let ackedBeforeLastKill: string[] = []
      const atKills: string[] = [] // pushed / dead-letter POSTs / pull-acknowledged when each kill came
      for (let kill = 0; kill <= s.kills; kill++) {
        if (kill > 0) {
          gw = await startChild(scope, { env: childEnv })
          // Tokens taken before the crash: held ones must settle; cut acknowledgements settle
          // or were already acknowledged (both mean acknowledged now).
          if (pull.held.size > 0) {
            const r = await ackTokens([...pull.held.keys()])
            pull.heldFailed.push(...r.failed)
            for (const t of r.succeeded) pull.acked.add(pull.held.get(t) as string)
            pull.held.clear()
          }
          if (pull.uncertain.size > 0) {
            await ackTokens([...pull.uncertain.keys()])
            for (const id of pull.uncertain.values()) pull.acked.add(id)
            pull.uncertain.clear()
          }
          // Tokens acknowledged before the crash stay settled.
          if (ackedBeforeLastKill.length > 0) {
            const r = await ackTokens(ackedBeforeLastKill.slice(0, 50))
            if (r.succeeded.length > 0) pull.cameBack.push(...r.succeeded.map((t) => `token ${t} settled twice`))
          }
        }
        if (kill === s.kills) break
        // Pull while push delivers; the kill comes at a seeded moment.
        const run = { stop: false }
        const ackedTokens: string[] = []
        const worker = (async () => {
          for (let n = 0; n < 10_000 && !run.stop; n++) {
            let got: ReceivedEvent[]
            try {
              const res = await gw.request<Received>('POST', `${base}/q:receive?maxEvents=${s.receiveMax}&maxWaitTime=10`)
              got = res.body.value
            } catch { pull.interruptedReceives++; return }
            if (got.length === 0) continue
            await pause(20 + random() * 40) // a receiver that works on what it got
            const take: string[] = []
            for (const v of got) {
              sawEvent(v.event.id)
              if (random() < 0.7) take.push(v.brokerProperties.lockToken)
              else pull.held.set(v.brokerProperties.lockToken, v.event.id)
            }
            const byToken = new Map(got.map((v) => [v.brokerProperties.lockToken, v.event.id]))
            try {
              const r = await ackTokens(take)
              for (const t of r.succeeded) { pull.acked.add(byToken.get(t) as string); ackedTokens.push(t) }
              if (r.failed.length > 0) pull.heldFailed.push(...r.failed.map((t) => `fresh token ${t} failed`))
            } catch {
              for (const t of take) pull.uncertain.set(t, byToken.get(t) as string)
              return
            }
          }
        })()
        await pause(s.killMinMs + random() * (s.killMaxMs - s.killMinMs)) // the random kill time
        if (await gw.kill('SIGKILL') !== 'SIGKILL') throw new Error('the gateway was not killed by SIGKILL')
        run.stop = true
        await worker
        ackedBeforeLastKill = ackedTokens
        atKills.push(`${ok.delivered.size}/${bad.posts()}/${pull.acked.size}`)
      }

      // Drain: pull what is receivable (status says when nothing is left), push to its end.
      const status = async (name: string): Promise<SubscriptionStatus> => (await gw.request<SubscriptionStatus>('GET', `${base}/${name}/status`)).body
      const deadline = Date.now() + s.drainMs
      for (let n = 0; n < 10_000 && Date.now() < deadline; n++) {
        if ((await status('q')).backlog === 0) break
        const res = await gw.request<Received>('POST', `${base}/q:receive?maxEvents=100&maxWaitTime=10`)
        const got = res.body.value
        for (const v of got) sawEvent(v.event.id)
        if (got.length === 0) continue
        const r = await ackTokens(got.map((v) => v.brokerProperties.lockToken))
        const byToken = new Map(got.map((v) => [v.brokerProperties.lockToken, v.event.id]))
        for (const t of r.succeeded) pull.acked.add(byToken.get(t) as string)
      }
      const pushed = await reached(() => ids.every((id) => ok.delivered.has(id)), { timeoutMs: Math.max(1000, deadline - Date.now()), everyMs: 100 })
      await reached(async () => (await status('bad')).deadLettered >= ids.length, { timeoutMs: Math.max(1000, deadline - Date.now()), everyMs: 100 })
      const dead = (await gw.request<List<DeadLetter>>('GET', `${base}/bad/deadletters?limit=1000`)).body.value
      const deadIds = new Set(dead.map((d) => d.event.id))
      const badReason = dead.filter((d) => d.deadLetterReason !== REJECT_REASON || d.lastHttpStatusCode !== 400)
      const okDead = (await status('ok')).deadLettered
      const qStatus = await status('q')
      const notDelivered = ids.filter((id) => !ok.delivered.has(id))
      const notDead = ids.filter((id) => !deadIds.has(id))
      const pullMissing = ids.filter((id) => !pull.acked.has(id)).length
      const pass = pushed && notDelivered.length === 0 && okDead === 0 &&
        notDead.length === 0 && dead.length === ids.length && badReason.length === 0 &&
        pull.cameBack.length === 0 && pull.heldFailed.length === 0 &&
        pullMissing === qStatus.inFlight && pullMissing <= pull.interruptedReceives * s.receiveMax
      return {
        figure: `push: ${fmt(ids.length - notDelivered.length)} of ${fmt(ids.length)} delivered (${fmt(ok.posts())} POSTs), ${okDead} dead-lettered; ` +
          `400 endpoint: ${fmt(dead.length)} of ${fmt(ids.length)} dead-lettered, ${badReason.length} with a wrong reason/status; ` +
          `pull: ${fmt(pull.acked.size)} acknowledged, ${pull.cameBack.length} came back, ${pull.heldFailed.length} pre-crash tokens failed to settle, ` +
          `${pullMissing} locked by ${pull.interruptedReceives} receive(s) cut by the kill; ${s.kills} kill(s) at pushed/400-POSTs/pull-acked ${atKills.join(', ')} of ${fmt(ids.length)}; seed ${seed}`,
        pass
      }
    } finally {
      await scope.close()
    }
  }
}

// 3. disk full / write errors ------------------------------------------------------------

/** Lifts the soft file-size limit of a running process (space returns); undefined when done, else why not. */
async function raiseFileLimit (pid: number | undefined): Promise<string | undefined> {
  if (pid === undefined) return 'no pid'
  try {
    await promisify(execFile)('prlimit', ['--pid', String(pid), '--fsize=unlimited'])
    return undefined
  } catch (err) {
    return `prlimit failed: ${(err as Error).message.split('\n')[0] ?? ''}`
  }
}

const DISK = {
  // LevelDB's write-ahead log rolls over at 4 MiB (its write buffer), so only limits below that bite.
  ci: { limitsKiB: [1100], httpPublishers: 3, devices: 3 },
  soak: { limitsKiB: [1100, 2100, 3900], httpPublishers: 6, devices: 10 }
}

const diskFull: ReliabilityCase = {
  name: 'disk full / write errors',
  action: (size: Size) => {
    const s = DISK[size]
    return `gateway under \`ulimit -S -f\` ${s.limitsKiB.join(', ')} KiB (one cycle each); ${s.httpPublishers} HTTP publishers (batches of 10 × 20 KB) and ${s.devices} QoS 1 devices (10 KB) write until LevelDB fails; the limit is lifted in place (\`prlimit\`: space returns) and both publish again; then kill -9 and restart without the limit on the same data`
  },
  criterion: 'refused HTTP publishes get 503 STORAGE_WRITE_FAILED with Retry-After, refused MQTT publishes get no PUBACK (connection closed); gridgate_log_write_failures_total counts; reads keep working; once space returns, publishing works again without a restart; after kill -9 and a restart without the limit every 200/PUBACKed event is there, no refused one is, offsets gap-free, and publishing works again',
  run: async (size: Size): Promise<CaseResult> => {
    const s = DISK[size]
    const scope = new Scope()
    try {
      const dir = await tempDir('gridgate-rel-crash-')
      scope.defer(dir.remove)
      const httpAcked = new Set<string>()
      const httpRefused = new Set<string>()
      const mqttAcked = new Set<string>()
      const problems: string[] = []
      let refusals = 0
      let mqttCloses = 0
      let failures = 0
      let lostTotal = 0
      let inProcess = ''
      const readyMs: number[] = []
      const devices = Array.from({ length: s.devices }, (_, i) => `disk-${i}`)
      let passwords: string[] = []
      const nextSeq = devices.map(() => 0)
      const pad = 'x'.repeat(10_000)
      let gw: ChildGateway | undefined
      for (const [cycle, limitKiB] of s.limitsKiB.entries()) {
        const limited = await startChild(scope, { env: env(dir.path), shellPrefix: `ulimit -S -f ${limitKiB};` })
        if (cycle === 0) {
          await limited.request('PUT', '/topics/full')
          passwords = await Promise.all(devices.map((id) => registerDevice(limited, id)))
        }
        const round = new Scope()
        try {
          const clients = await Promise.all(devices.map((id, i) => device(limited, round, id, passwords[i] as string)))
          let httpDone = 0
          const closesBefore = mqttCloses
          let bytes = 0 // sent this cycle; bounds the loops should the limit never bite
          const maxBytes = limitKiB * 1024 * 4
          const http = Array.from({ length: s.httpPublishers }, async (_, p) => {
            let consecutive = 0
            for (let i = 0; i < 2000 && consecutive < 3 && bytes < maxBytes; i++) {
              bytes += 200_000
              const batch = Array.from({ length: 10 }, (_, j) => cloudEvent(`c${cycle}-p${p}-${i}-${j}`, pad + pad))
              const res = await limited.publish<ErrorBody | undefined>('full', batch)
              if (res.status === 200) {
                consecutive = 0
                for (const e of batch) httpAcked.add(e.id as string)
                continue
              }
              consecutive++
              refusals++
              for (const e of batch) httpRefused.add(e.id as string)
              if (res.status !== 503 || res.body?.error?.code !== 'STORAGE_WRITE_FAILED' || res.headers.get('retry-after') === null) {
                problems.push(`HTTP ${res.status} ${res.text.slice(0, 80)}`)
              }
            }
            httpDone++
          })
          const mqtt = clients.map(async (c, i) => {
            let extra = 0
            for (let n = 0; n < 20_000 && bytes < maxBytes; n++) {
              bytes += 10_000
              const seq = nextSeq[i] as number
              nextSeq[i] = seq + 1
              if (!await publishAcked(c, `devices/${devices[i] as string}/telemetry`, JSON.stringify({ seq, pad }))) { mqttCloses++; return }
              mqttAcked.add(`${devices[i] as string}:${seq}`)
              // Keep going until HTTP has seen the failure too, then at most 20 more each.
              if (httpDone === s.httpPublishers && ++extra >= 20) return
            }
          })
          await Promise.all(http)
          await within(Promise.all(mqtt), { timeoutMs: 20_000, orElse: undefined })
          // Still failing, still serving.
          const again = await limited.publish('full', cloudEvent(`c${cycle}-again`))
          if (again.status === 200) httpAcked.add(`c${cycle}-again`)
          else httpRefused.add(`c${cycle}-again`)
          if (refusals === 0) problems.push(`cycle ${cycle}: no publish was refused`)
          if ((await limited.request('GET', '/healthz', { auth: null })).status !== 200) problems.push('healthz not 200 while the disk is full')
          const read = await limited.request('GET', '/topics/full/events?fromOffset=0&limit=5')
          if (read.status !== 200) problems.push(`read while full: ${read.status}`)
          const failed = await metric(limited, /^gridgate_log_write_failures_total (\d+)/m)
          failures += failed
          if (failed < 1) problems.push(`cycle ${cycle}: gridgate_log_write_failures_total did not count`)
          if (mqttCloses > closesBefore && await metric(limited, /^gridgate_rejections_total\{code="STORAGE_WRITE_FAILED",source="mqtt"\} (\d+)/m) < 1) {
            problems.push(`cycle ${cycle}: MQTT refusal not counted`)
          }
        } finally {
          await round.close()
        }
        // Space returns while the gateway runs: raise its file-size limit in place.
        const raised = await raiseFileLimit(limited.proc.pid)
        if (raised !== undefined) {
          inProcess = `not tried (${raised})`
        } else {
          let ok = 0
          let total = 0
          for (let i = 0; i < 20; i++) {
            const batch = Array.from({ length: 10 }, (_, j) => cloudEvent(`c${cycle}-back-${i}-${j}`, pad))
            total += batch.length
            const res = await limited.publish('full', batch)
            if (res.status === 200) { ok += batch.length; for (const e of batch) httpAcked.add(e.id as string) } else httpRefused.add(batch[0]?.id as string)
          }
          const back = new Scope()
          let pubacks = 0
          try {
            for (const [i, id] of devices.entries()) {
              const c = await device(limited, back, id, passwords[i] as string)
              for (let n = 0; n < 10; n++) {
                const seq = nextSeq[i] as number
                nextSeq[i] = seq + 1
                if (!await publishAcked(c, `devices/${id}/telemetry`, JSON.stringify({ seq }))) break
                mqttAcked.add(`${id}:${seq}`)
                pubacks++
              }
            }
          } finally {
            await back.close()
          }
          inProcess = `${ok} of ${total} HTTP events and ${pubacks} of ${devices.length * 10} MQTT messages accepted once space returned, without a restart`
          if (ok !== total || pubacks !== devices.length * 10) problems.push(`in-process recovery: ${inProcess}`)
        }
        const ended = await limited.kill('SIGKILL')
        if (ended !== 'SIGKILL') problems.push(`the gateway under the limit exited by itself (${ended})`)
        const restarted = await startAndTimeReady(scope, { env: env(dir.path) })
        gw = restarted.gw
        readyMs.push(restarted.readyMs)
        const full = await replay(gw, 'full')
        const inLog = new Set(full.events.map((r) => String(r.event.id)))
        const lost = [...httpAcked].filter((id) => !inLog.has(id))
        const ghost = [...httpRefused].filter((id) => inLog.has(id))
        lostTotal = lost.length
        if (lost.length > 0) problems.push(`${lost.length} events answered 200 missing (e.g. ${lost[0] ?? ''})`)
        if (ghost.length > 0) problems.push(`${ghost.length} refused events in the log (e.g. ${ghost[0] ?? ''})`)
        if (!gapFree(full.events.map((r) => r.offset))) problems.push('offsets of full not gap-free')
        const tele = await replay(gw, 'telemetry')
        const teleIn = new Set(tele.events.map((r) => `${String(r.event.deviceid)}:${String((r.event.data as { seq?: unknown }).seq)}`))
        const lostMqtt = [...mqttAcked].filter((k) => !teleIn.has(k))
        lostTotal += lostMqtt.length
        if (lostMqtt.length > 0) problems.push(`${lostMqtt.length} PUBACKed messages missing (e.g. ${lostMqtt[0] ?? ''})`)
        // Recovered: both ways of writing work again.
        const after = await gw.publish('full', cloudEvent(`c${cycle}-after`))
        if (after.status === 200) httpAcked.add(`c${cycle}-after`)
        else problems.push(`publish after recovery: ${after.status}`)
        const probe = await device(gw, scope, devices[0] as string, passwords[0] as string)
        const seq = nextSeq[0] as number
        nextSeq[0] = seq + 1
        if (await publishAcked(probe, `devices/${devices[0] as string}/telemetry`, JSON.stringify({ seq }))) mqttAcked.add(`${devices[0] as string}:${seq}`)
        else problems.push('MQTT publish after recovery got no PUBACK')
        await probe.endAsync(true)
        await gw.kill('SIGTERM')
      }
      const worst = Math.max(...readyMs)
      if (worst > READY_LIMIT_MS) problems.push(`restart to ready took ${seconds(worst)}`)
      return {
        figure: `${fmt(httpAcked.size)} events answered 200 and ${fmt(mqttAcked.size)} PUBACKed, ${fmt(lostTotal)} of them lost; ` +
          `${fmt(refusals)} HTTP publishes refused with 503, ${mqttCloses} MQTT connections closed without PUBACK; ` +
          `gridgate_log_write_failures_total ${failures} in all; in-process: ${inProcess}; then kill -9: ready after restart without the limit in ${seconds(worst)} worst; ${s.limitsKiB.length} cycle(s)` +
          (problems.length > 0 ? `; problems: ${problems.slice(0, 4).join('; ')}` : ''),
        pass: problems.length === 0 && refusals > 0 && httpAcked.size > 0
      }
    } finally {
      await scope.close()
    }
  }
}

export const cases: ReliabilityCase[] = [killDuringIngest, killDuringDelivery, diskFull]
