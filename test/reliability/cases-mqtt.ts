import { WebSocket } from 'ws'
import type { MqttClient } from 'mqtt'
import type { ReliabilityCase } from './case.js'
import type { Device, List } from '../helpers/api.js'
import { connectDevice } from '../helpers/mqtt.js'
import { tempDir } from '../helpers/tmp.js'
import {
  alive, closedWithin, connectPacket, fdsOf, mb, metric, mutatedPacket, pool, publishPacket, pubrelPacket, rawConnect, rawLogin,
  liveHeap, registerMany, rng, rssOf, snapshotOptions, startTarget, validPacket, type RawConnection, type Target
} from './mqtt-helpers.js'
import { pause, reached, within } from '../helpers/wait.js'

// Malformed, oversized, slow, churning and abusive MQTT clients against a child gateway.

const LOOP_PERMISSIONS = `  permissions:
    publish: ['devices/\${client.id}/telemetry', 'devices/\${client.id}/telemetry/#', 'devices/\${client.id}/events/#', 'devices/\${client.id}/commands/loop']
    subscribe: ['devices/\${client.id}/commands/#']`

const fmt = (n: number): string => n.toLocaleString('en-US')
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`

/** A device that publishes QoS 1 telemetry and to its own command topic, and must get each loop message back. */
interface Canary { stop: () => Promise<{ rounds: number, failures: number, maxMs: number }> }

async function startCanary (t: Target, id: string, password: string): Promise<Canary> {
  const client: MqttClient = await connectDevice(t.mqtt, id, password, { keepalive: 30 })
  await client.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 })
  const state = { running: true }
  let rounds = 0
  let failures = 0
  let maxMs = 0
  const waiting = new Map<string, () => void>()
  client.on('message', (_topic, payload) => { waiting.get(payload.toString())?.() })
  const loop = (async () => {
    for (let seq = 0; state.running && seq < 1_000_000; seq++) {
      const t0 = Date.now()
      const tag = `loop-${seq}`
      const echoed = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000)
        waiting.set(tag, () => { clearTimeout(timer); resolve(true) })
      })
      const ok = await within((async () => {
        await client.publishAsync(`devices/${id}/telemetry`, JSON.stringify({ seq }), { qos: 1 })
        await client.publishAsync(`devices/${id}/commands/loop`, tag, { qos: 1 })
        return await echoed
      })().catch(() => false), { timeoutMs: 5000, orElse: false })
      waiting.delete(tag)
      rounds++
      if (!ok) failures++
      maxMs = Math.max(maxMs, Date.now() - t0)
      if (!ok && client.disconnected) return
      await pause(50) // the canary's pace
    }
  })()
  return {
    stop: async () => {
      state.running = false
      await loop
      await client.endAsync(true).catch(() => {})
      return { rounds, failures, maxMs }
    }
  }
}

/** Samples the child's RSS every 200 ms. */
function rssSampler (pid: number): { max: () => number, stop: () => void } {
  let max = rssOf(pid)
  const timer = setInterval(() => { max = Math.max(max, rssOf(pid)) }, 200)
  return { max: () => max, stop: () => clearInterval(timer) }
}

// ------------------------------------------------------------------ 6. malformed MQTT

const FUZZ_TIMEOUT_S = 2 // connectTimeoutSeconds of the fuzzed gateway
const FUZZ_KEEPALIVE_S = 1 // keep-alive of the fuzzers' own logins: closed after 1.5 s of silence
const SLACK_MS = 1500

const malformed: ReliabilityCase = {
  name: 'malformed MQTT packets (seeded fuzzing)',
  action: (size) => `${fmt(size === 'ci' ? 500 : 20_000)} raw TCP connections, half before and half after a valid CONNECT, each sending mutated packets of every type (bit flips, truncation, inflated and 268,435,455 lengths, QoS 3, bad flags, NUL/wildcards/1,000 levels in topics, reserved types) or random bytes; a canary device publishes QoS 1 and receives its own messages throughout`,
  criterion: `the gateway never exits; every connection is closed, within 1 s of its last bytes, or, where the bytes are a valid prefix or valid packets, by the connect timeout (${FUZZ_TIMEOUT_S} s after opening) or keep-alive (1.5 × ${FUZZ_KEEPALIVE_S} s after the last packet) + ${SLACK_MS / 1000} s; no canary round fails; RSS grows < 100 MB`,
  run: async (size) => {
    const n = size === 'ci' ? 500 : 20_000
    const concurrency = size === 'ci' ? 40 : 80
    const baseSeed = Number(process.env.GRIDGATE_FUZZ_SEED ?? Math.floor(Math.random() * 1e9))
    const t = await startTarget(`  connectTimeoutSeconds: ${FUZZ_TIMEOUT_S}
  authFailures: { freeAttempts: 0, baseDelayMs: 0, maxDelayMs: 0, windowSeconds: 1 }
${LOOP_PERMISSIONS}`)
    const open = new Set<RawConnection>()
    let sampler: ReturnType<typeof rssSampler> | undefined
    try {
      const [canaryDev] = await registerMany(t.gw, 'canary', 1)
      const fuzzers = await registerMany(t.gw, 'fuzz', concurrency)
      const canary = await startCanary(t, canaryDev?.id ?? '', canaryDev?.password ?? '')
      await pause(500) // the canary's first rounds, before the RSS baseline
      const rss0 = rssOf(t.pid)
      sampler = rssSampler(t.pid)
      let fast = 0
      let maxFast = 0
      let held = 0
      let maxHeld = 0
      const violations: string[] = []
      await pool(n, concurrency, async (i, worker) => {
        const seed = baseSeed + i
        const r = rng(seed)
        const after = r.int(2) === 1
        const dev = fuzzers[worker] as { id: string, password: string }
        let c: RawConnection
        try {
          c = after ? await rawLogin(t.mqtt, dev.id, dev.password, FUZZ_KEEPALIVE_S) : await rawConnect(t.mqtt)
        } catch (err) {
          violations.push(`seed ${seed}: setup failed: ${(err as Error).message}`)
          return
        }
        open.add(c)
        try {
          const kinds: string[] = []
          const parts: Buffer[] = []
          for (let k = 1 + r.int(3); k > 0; k--) {
            if (r.int(4) === 0) { parts.push(validPacket(r, dev.id)); kinds.push('valid') } else {
              const m = mutatedPacket(r, dev.id)
              parts.push(m.bytes)
              kinds.push(m.name)
            }
          }
          c.write(Buffer.concat(parts))
          const sent = Date.now()
          const quick = await closedWithin(c, sent, 1000)
          if (quick !== undefined) {
            fast++
            maxFast = Math.max(maxFast, quick)
            return
          }
          // Still open: the bytes were a valid prefix or valid packets; the timeouts must close it.
          const limit = after ? FUZZ_KEEPALIVE_S * 1500 + SLACK_MS : Math.max(0, c.opened + FUZZ_TIMEOUT_S * 1000 + SLACK_MS - sent)
          const late = await closedWithin(c, sent, Math.max(limit, 1000))
          if (late === undefined) {
            violations.push(`seed ${seed} (${after ? 'after' : 'before'} CONNECT; ${kinds.join('+')}): still open after ${sec(Math.max(limit, 1000))}`)
            return
          }
          held++
          maxHeld = Math.max(maxHeld, late)
        } finally {
          c.destroy()
          open.delete(c)
        }
      })
      const c = await canary.stop()
      sampler.stop()
      const growth = sampler.max() - rss0
      const up = alive(t)
      const pass = up && violations.length === 0 && c.failures === 0 && c.rounds > 0 && growth < 100 * 1_048_576
      const figure = `base seed ${baseSeed}: ${fmt(fast)} closed within 1 s (max ${fmt(maxFast)} ms), ${fmt(held)} valid prefixes closed by the timeouts (max ${sec(maxHeld)}), ${violations.length} left open${violations.length > 0 ? ` [${violations.slice(0, 3).join('; ')}]` : ''}; canary ${fmt(c.rounds)} rounds, ${c.failures} failed, slowest ${fmt(c.maxMs)} ms; RSS ${mb(rss0)} → max ${mb(sampler.max())}; gateway ${up ? 'alive' : 'EXITED'}`
      return { figure, pass }
    } finally {
      sampler?.stop()
      for (const c of open) c.destroy()
      await t.stop()
    }
  }
}

// ------------------------------------------------------------------ 7. oversized and slow

async function wsClose (url: string, send: (ws: WebSocket) => void): Promise<{ code: number, ms: number }> {
  const ws = new WebSocket(url, 'mqtt')
  ws.on('error', () => {})
  try {
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('close', () => reject(new Error('ws closed before open'))) })
    const t0 = Date.now()
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    send(ws)
    const code = await within(closed, { timeoutMs: 5000, orElse: -1 })
    return { code, ms: Date.now() - t0 }
  } finally {
    ws.terminate()
  }
}

/** Declares a 256 MB PUBLISH and keeps sending up to 32 MB of it while the socket stays open. */
async function declareHuge (c: RawConnection): Promise<{ sentBytes: number, ms: number | undefined }> {
  const t0 = Date.now()
  c.write(Buffer.from([0x32, 0xff, 0xff, 0xff, 0x7f]))
  let sentBytes = 5
  const chunk = Buffer.alloc(1_048_576, 0x61)
  const state = { closed: false }
  void c.closed.then(() => { state.closed = true })
  for (let i = 0; i < 32 && !state.closed; i++) {
    if (!c.write(chunk)) await within(Promise.race([new Promise((resolve) => c.socket.once('drain', resolve)), c.closed]), { timeoutMs: 2000, orElse: undefined })
    if (!state.closed) sentBytes += chunk.length
  }
  return { sentBytes, ms: await closedWithin(c, t0, 5000) }
}

const oversized: ReliabilityCase = {
  name: 'oversized and slow MQTT clients',
  action: (size) => `a PUBLISH declaring 268,435,455 bytes followed by up to 32 MB (before and after CONNECT), a 300 KB publish, a 2 MB WebSocket message and a 2 MB publish in 64 KB WebSocket frames, a CONNECT and a PUBLISH dribbled a byte every 100 ms, a silent socket, a partial CONNECT, a silent logged-in client (connect timeout and keep-alive ${size === 'ci' ? 2 : 10} s)`,
  criterion: 'oversized packets closed within 1 s of the length bytes, RSS grows < 32 MB (not by the declared size); silent, partial and dribbled connections closed at the connect timeout (+0…1.5 s) or at 1.5 × keep-alive (+0…1.5 s), never before; the gateway stays up',
  run: async (size) => {
    const timeout = size === 'ci' ? 2 : 10
    const keepalive = size === 'ci' ? 2 : 10
    const t = await startTarget(`  connectTimeoutSeconds: ${timeout}\n  authFailures: { freeAttempts: 100 }`)
    const conns: RawConnection[] = []
    const track = (c: RawConnection): RawConnection => { conns.push(c); return c }
    try {
      const devs = await registerMany(t.gw, 'big', 6)
      const d = (i: number): { id: string, password: string } => devs[i] as { id: string, password: string }
      const rss0 = rssOf(t.pid)
      const sampler = rssSampler(t.pid)
      const notes: string[] = []
      let ok = true
      const check = (cond: boolean, note: string): void => { if (!cond) ok = false; notes.push(cond ? note : `FAIL ${note}`) }

      const pre = await declareHuge(track(await rawConnect(t.mqtt)))
      check(pre.ms !== undefined && pre.ms < 1000, `256 MB declared before CONNECT: closed in ${pre.ms ?? '∞'} ms after ${mb(pre.sentBytes)} sent`)
      const post = await declareHuge(track(await rawLogin(t.mqtt, d(0).id, d(0).password, 60)))
      check(post.ms !== undefined && post.ms < 1000, `after CONNECT: ${post.ms ?? '∞'} ms, ${mb(post.sentBytes)} sent`)

      const big = track(await rawLogin(t.mqtt, d(1).id, d(1).password, 60))
      const t300 = Date.now()
      big.write(publishPacket(`devices/${d(1).id}/telemetry`, Buffer.alloc(300 * 1024, 0x62), 1, 7))
      const ms300 = await closedWithin(big, t300, 5000)
      check(ms300 !== undefined && ms300 < 1000 && big.received().length === 4, `300 KB publish: closed in ${ms300 ?? '∞'} ms without PUBACK`)

      const frame = await wsClose(t.ws, (ws) => ws.send(Buffer.alloc(2 * 1_048_576)))
      check(frame.code === 1009 && frame.ms < 1000, `2 MB WebSocket message: close ${frame.code} in ${frame.ms} ms`)
      const split = await wsClose(t.ws, (ws) => {
        ws.send(connectPacket({ clientId: d(2).id, username: d(2).id, password: d(2).password, keepalive: 60 }))
        const whole = publishPacket(`devices/${d(2).id}/telemetry`, Buffer.alloc(2 * 1_048_576), 0)
        for (let at = 0; at < whole.length; at += 65_536) ws.send(whole.subarray(at, at + 65_536))
      })
      check(split.code !== -1 && split.ms < 1000, `2 MB publish in 64 KB WebSocket frames: closed (${split.code}) in ${split.ms} ms`)
      sampler.stop()
      const growth = sampler.max() - rss0
      check(growth < 32 * 1_048_576, `RSS ${mb(rss0)} → max ${mb(sampler.max())}`)

      // The slow ones, side by side: each must close in its window, not before.
      const windowCheck = async (label: string, c: RawConnection, from: () => number, expectMs: number, feed?: () => Promise<void>): Promise<void> => {
        const feeding = feed?.()
        const ms = await closedWithin(c, from(), expectMs + SLACK_MS + 2000)
        await feeding
        const at = ms // measured from `from()`
        check(at !== undefined && at >= expectMs - 300 && at <= expectMs + SLACK_MS, `${label}: closed after ${at === undefined ? '∞' : sec(at)} (expected ${sec(expectMs)})`)
      }
      const silent = track(await rawConnect(t.mqtt))
      const partial = track(await rawConnect(t.mqtt))
      partial.write(connectPacket({ clientId: 'x', username: 'x', password: 'y' }).subarray(0, 6))
      const dribbleConnect = track(await rawConnect(t.mqtt))
      const idle = track(await rawLogin(t.mqtt, d(3).id, d(3).password, keepalive))
      const idleFrom = Date.now()
      const dribblePublish = track(await rawLogin(t.mqtt, d(4).id, d(4).password, keepalive))
      const dribbleFrom = Date.now()
      const dribble = (c: RawConnection, bytes: Buffer) => async () => {
        for (let i = 0; i < bytes.length && !c.socket.destroyed && !c.socket.closed; i++) {
          c.write(bytes.subarray(i, i + 1))
          await pause(100) // a byte every 100 ms: the dribble
        }
      }
      const longConnect = connectPacket({ clientId: d(5).id, username: d(5).id, password: d(5).password + 'x'.repeat(400), keepalive: 60 })
      await Promise.all([
        windowCheck('silent socket', silent, () => silent.opened, timeout * 1000),
        windowCheck('partial CONNECT', partial, () => partial.opened, timeout * 1000),
        windowCheck('CONNECT dribbled a byte per 100 ms', dribbleConnect, () => dribbleConnect.opened, timeout * 1000, dribble(dribbleConnect, longConnect)),
        windowCheck(`silent client, keep-alive ${keepalive} s`, idle, () => idleFrom, keepalive * 1500),
        windowCheck('PUBLISH dribbled a byte per 100 ms', dribblePublish, () => dribbleFrom, keepalive * 1500,
          dribble(dribblePublish, publishPacket(`devices/${d(4).id}/telemetry`, Buffer.alloc(400, 0x63), 1, 9)))
      ])
      const up = alive(t)
      check(up, up ? 'gateway alive' : 'gateway EXITED')
      return { figure: notes.join('; '), pass: ok }
    } finally {
      for (const c of conns) c.destroy()
      await t.stop()
    }
  }
}

// ------------------------------------------------------------------ 8. connection churn

const churn: ReliabilityCase = {
  name: 'MQTT connection churn',
  action: (size) => `${fmt(size === 'ci' ? 300 : 5000)} connect + subscribe + QoS 1 publish cycles by ${size === 'ci' ? 20 : 50} devices at once, half ended with DISCONNECT, half by destroying the socket`,
  criterion: 'afterwards gridgate_mqtt_connected_clients is 0 and no device is connected (within 10 s); open fds within +5 of the warm baseline; live heap (after a full GC) within +8 MB of it; RSS within +128 MB (V8 grows its heap lazily)',
  run: async (size) => {
    const n = size === 'ci' ? 300 : 5000
    const concurrency = size === 'ci' ? 20 : 50
    const scratch = await tempDir('gridgate-rel-heap-')
    const t = await startTarget('  authFailures: { freeAttempts: 100 }', snapshotOptions(scratch.path)).catch(async (err: unknown) => { await scratch.remove(); throw err })
    const clients = new Set<MqttClient>()
    try {
      const devs = await registerMany(t.gw, 'churn', concurrency)
      let failures = 0
      const cycle = async (i: number, worker: number): Promise<void> => {
        const dev = devs[worker] as { id: string, password: string }
        let c: MqttClient | undefined
        try {
          c = await connectDevice(t.mqtt, dev.id, dev.password, { keepalive: 30 })
          clients.add(c)
          await c.subscribeAsync(`devices/${dev.id}/commands/#`, { qos: 1 })
          await c.publishAsync(`devices/${dev.id}/telemetry`, JSON.stringify({ i }), { qos: 1 })
          if (i % 2 === 0) await c.endAsync()
          else {
            const closed = new Promise<void>((resolve) => c?.once('close', () => resolve()))
            c.stream.destroy()
            await within(closed, { timeoutMs: 2000, orElse: undefined })
            await c.endAsync(true)
          }
        } catch {
          failures++
          await c?.endAsync(true).catch(() => {})
        } finally {
          if (c !== undefined) clients.delete(c)
        }
      }
      const warm = Math.min(100, Math.floor(n / 4))
      await pool(warm, concurrency, cycle)
      const settle = async (): Promise<{ gauge: number | undefined, connected: number, ms: number }> => {
        const t0 = Date.now()
        let gauge: number | undefined
        let connected = -1
        await reached(async () => {
          gauge = await metric(t.gw, 'gridgate_mqtt_connected_clients')
          const list = await t.gw.request<List<Device>>('GET', '/devices')
          connected = list.body.value.filter((x) => x.connected).length
          return gauge === 0 && connected === 0
        }, { timeoutMs: 10_000, everyMs: 100 })
        return { gauge, connected, ms: Date.now() - t0 }
      }
      await settle()
      const fd0 = fdsOf(t.pid)
      const heap0 = await liveHeap(t, scratch.path)
      const rss0 = rssOf(t.pid) // after the snapshot, which itself takes memory the process keeps
      await pool(n - warm, concurrency, (i, w) => cycle(i + warm, w))
      const end = await settle()
      const fd1 = fdsOf(t.pid)
      const rss1 = rssOf(t.pid)
      const heap1 = await liveHeap(t, scratch.path)
      const up = alive(t)
      const pass = up && failures === 0 && end.gauge === 0 && end.connected === 0 && fd1 - fd0 <= 5 && rss1 - rss0 < 128 * 1_048_576 && heap0 > 0 && heap1 - heap0 < 8 * 1_048_576
      return {
        pass,
        figure: `${fmt(n)} cycles, ${failures} failed; connected gauge ${end.gauge ?? 'missing'} and ${end.connected} devices connected ${sec(end.ms)} after the last; fds ${fd0} → ${fd1}; RSS (from after the first snapshot) ${mb(rss0)} → ${mb(rss1)}; live heap ${mb(heap0)} → ${mb(heap1)}; gateway ${up ? 'alive' : 'EXITED'}`
      }
    } finally {
      for (const c of clients) await c.endAsync(true).catch(() => {})
      await t.stop()
      await scratch.remove()
    }
  }
}

// ------------------------------------------------------------------ 9. abuse

const BAD_CONNACK = '20020004'

async function connackOf (url: string, clientId: string, password: string): Promise<{ hex: string, ms: number }> {
  const t0 = Date.now()
  const c = await rawConnect(url)
  try {
    c.write(connectPacket({ clientId, username: clientId, password, keepalive: 30 }))
    await c.waitBytes(4, 20_000)
    return { hex: c.received().subarray(0, 4).toString('hex'), ms: Date.now() - t0 }
  } finally { c.destroy() }
}

const abuse: ReliabilityCase = {
  name: 'MQTT abuse: guessing, connection, retained and QoS 2 floods',
  action: (size) => `${fmt(size === 'ci' ? 100 : 2000)} wrong passwords for one device, ${size === 'ci' ? 8 : 16} at a time, while another device connects every 200 ms; unknown user vs wrong password; 25 + 25 + 1 sockets against limits of 24 per address and 48 in all (from 127.0.0.1/.2/.3); retained publishes on ${size === 'ci' ? 20 : 500} + 1 topics (limit ${size === 'ci' ? 20 : 500}); 200 QoS 2 PUBLISH without PUBREL (limit 32), then 100 complete QoS 2 flows`,
  criterion: 'guesses beyond the 3 free ones wait ≥ 0.9 × the 1 s cap (median) while the good device connects in < 200 ms (median) and < 1 s (every time); identical CONNACK (4) for unknown user and wrong password; sockets over the limits closed at once (< 500 ms) and room freed on close; the retained publish over the cap and the 33rd unreleased QoS 2 close the connection, nothing over a cap acknowledged; complete QoS 2 flows unaffected',
  run: async (size) => {
    const guesses = size === 'ci' ? 100 : 2000
    const attackers = size === 'ci' ? 8 : 16
    const retainedCap = size === 'ci' ? 20 : 500
    const t = await startTarget(`  connectTimeoutSeconds: 5
  authFailures: { freeAttempts: 3, baseDelayMs: 100, maxDelayMs: 1000, windowSeconds: 300 }
  maxConnections: 48
  maxConnectionsPerAddress: 24
  maxRetainedPerDevice: ${retainedCap}
  maxInflightQos2: 32`)
    const conns: RawConnection[] = []
    const track = (c: RawConnection): RawConnection => { conns.push(c); return c }
    try {
      const [victim, good, other, flood, q2] = await registerMany(t.gw, 'abuse', 5) as Array<{ id: string, password: string }>
      if (victim === undefined || good === undefined || other === undefined || flood === undefined || q2 === undefined) throw new Error('registration failed')
      const notes: string[] = []
      let ok = true
      const check = (cond: boolean, note: string): void => { if (!cond) ok = false; notes.push(cond ? note : `FAIL ${note}`) }

      // Guessing, with a good device connecting alongside.
      const answerMs: number[] = []
      let wrongCodes = 0
      const attack = { on: true }
      const goodMs: number[] = []
      const warmup = await connectDevice(t.mqtt, good.id, good.password, { keepalive: 30 })
      await warmup.endAsync()
      const goodLoop = (async () => {
        while (attack.on) {
          const t0 = Date.now()
          try {
            const c = await connectDevice(t.mqtt, good.id, good.password, { keepalive: 30 })
            goodMs.push(Date.now() - t0)
            await c.endAsync()
          } catch { goodMs.push(Number.POSITIVE_INFINITY) }
          await pause(200) // a good device connects every 200 ms meanwhile
        }
      })()
      await pool(guesses, attackers, async (i) => {
        const a = await connackOf(t.mqtt, victim.id, `guess-${i}`)
        answerMs.push(a.ms)
        if (a.hex !== BAD_CONNACK) wrongCodes++
      })
      attack.on = false
      await goodLoop
      const late = answerMs.slice(Math.floor(answerMs.length / 2)).sort((a, b) => a - b)
      const median = late[Math.floor(late.length / 2)] ?? 0
      const goodMax = Math.max(...goodMs)
      const goodMedian = [...goodMs].sort((a, b) => a - b)[Math.floor(goodMs.length / 2)] ?? 0
      check(wrongCodes === 0 && median >= 900, `${fmt(guesses)} guesses: median answer ${fmt(median)} ms in the second half, ${wrongCodes} not CONNACK 4`)
      check(goodMs.length > 0 && goodMax < 1000 && goodMedian < 200, `good device meanwhile: ${goodMs.length} connects, median ${fmt(goodMedian)} ms, slowest ${fmt(goodMax)} ms`)

      const unknown = await connackOf(t.mqtt, 'nobody-at-all', 'whatever')
      const wrong = await connackOf(t.mqtt, other.id, 'wrong')
      check(unknown.hex === BAD_CONNACK && wrong.hex === unknown.hex, `unknown user → ${unknown.hex} in ${unknown.ms} ms, wrong password → ${wrong.hex} in ${wrong.ms} ms`)

      // Connection limits (sockets before CONNECT are held by the 5 s connect timeout).
      const refusedWithin = async (local: string): Promise<number | undefined> => {
        const c = track(await rawConnect(t.mqtt, local))
        return await closedWithin(c, c.opened, 500)
      }
      for (let i = 0; i < 24; i++) track(await rawConnect(t.mqtt, '127.0.0.1'))
      const overAddress = await refusedWithin('127.0.0.1')
      for (let i = 0; i < 24; i++) track(await rawConnect(t.mqtt, '127.0.0.2'))
      await pause(100) // the quiet period: none of the 48 may be closed in it
      const heldOpen = conns.filter((c) => !c.socket.closed).length
      const overTotal = await refusedWithin('127.0.0.3')
      check(overAddress !== undefined && overTotal !== undefined && heldOpen === 48,
        `connection limits: 48 held open, the 25th from one address closed in ${overAddress ?? '∞'} ms, the 49th in all in ${overTotal ?? '∞'} ms`)
      for (const c of conns.splice(0)) c.destroy()
      let relogin = false
      for (let i = 0; i < 20 && !relogin; i++) {
        try { track(await rawLogin(t.mqtt, other.id, other.password, 30)); relogin = true } catch { await pause(100) } // back-off
      }
      check(relogin, relogin ? 'room freed once they closed' : 'no room after closing')

      // Retained flood.
      const rf = track(await rawLogin(t.mqtt, flood.id, flood.password, 60))
      let retainedAcked = 0
      for (let i = 0; i <= retainedCap; i++) {
        const before = rf.received().length
        rf.write(publishPacket(`devices/${flood.id}/telemetry/r${i}`, Buffer.from('{"r":1}'), 1, 1 + (i % 60_000), true))
        if (!await rf.waitBytes(before + 4, 5000)) break
        retainedAcked++
      }
      const rfClosed = await closedWithin(rf, Date.now(), 2000)
      check(retainedAcked === retainedCap && rfClosed !== undefined, `retained on ${retainedCap + 1} topics: ${retainedAcked} PUBACKed, then the connection ${rfClosed !== undefined ? 'closed' : 'stayed OPEN'}`)

      // Unreleased QoS 2 flood.
      const rss0 = rssOf(t.pid)
      const qc = track(await rawLogin(t.mqtt, q2.id, q2.password, 60))
      let pubrecs = 0
      for (let id = 1; id <= 200; id++) {
        qc.write(publishPacket(`devices/${q2.id}/telemetry`, Buffer.alloc(1024, 0x64), 2, id))
        if (!await qc.waitBytes(4 + 4 * id, 3000)) break
        pubrecs++
      }
      const qClosed = await closedWithin(qc, Date.now(), 3000)
      check(qClosed !== undefined && pubrecs === 32, `200 QoS 2 PUBLISH without PUBREL, one by one: ${pubrecs} PUBRECs, then the connection ${qClosed !== undefined ? 'closed' : 'stayed OPEN'}; RSS ${mb(rss0)} → ${mb(rssOf(t.pid))}`)
      // A device that completes its QoS 2 flows is not affected by the cap.
      const qd = track(await rawLogin(t.mqtt, q2.id, q2.password, 60))
      let completed = 0
      for (let id = 1; id <= 100; id++) {
        const before = qd.received().length
        qd.write(publishPacket(`devices/${q2.id}/telemetry`, Buffer.from('{"q":2}'), 2, id))
        if (!await qd.waitBytes(before + 4, 3000)) break
        qd.write(pubrelPacket(id))
        if (!await qd.waitBytes(before + 8, 3000)) break
        completed++
      }
      check(completed === 100, `100 complete QoS 2 flows on a new connection: ${completed} PUBCOMPed`)

      const up = alive(t)
      check(up, up ? 'gateway alive' : 'gateway EXITED')
      return { figure: notes.join('; '), pass: ok }
    } finally {
      for (const c of conns) c.destroy()
      await t.stop()
    }
  }
}

export const cases: ReliabilityCase[] = [malformed, oversized, churn, abuse]
