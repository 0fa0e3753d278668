import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { CloudEvent, Replay } from '../helpers/api.js'
import { createTumbling, createSessionWindow } from '../../src/telemetry/windows.js'
import { spawnGateway, type ChildGateway } from '../helpers/child.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { reached } from '../helpers/wait.js'

const teardown = useTeardown()
const KEY = 'telemetry-crash-key-0123456789'
const DEVICES = 4

const CONFIG = `
telemetry:
  sources: [{ topic: telemetry, types: [device.telemetry], timeField: ts }]
  checkpointIntervalMs: 20
  eventTime: { lateArrivalToleranceSeconds: 3600, earlyArrivalLimitSeconds: 86400 }
  windows:
    - { name: tumble, window: { kind: tumbling, sizeSeconds: 1 }, aggregates: [count, sum, min, max] }
    - { name: sess, window: { kind: session, timeoutSeconds: 0.25, maxDurationSeconds: 2 }, aggregates: [count, sum], outputTopic: sessions }
`

async function start (dir: string, config: string): Promise<ChildGateway> {
  const gw = await spawnGateway({ args: ['start', '--config', config], env: { GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn' } })
  teardown(() => gw.kill('SIGKILL'))
  return gw
}

interface Reading { ts: number, v: number }
interface WindowData { count: number, sum: number, min: number, max: number }

async function all<D> (gw: ChildGateway, topic: string): Promise<Array<CloudEvent<D>>> {
  const out: Array<CloudEvent<D>> = []
  let from = 0
  for (let guard = 0; guard < 1000; guard++) {
    const page = await gw.request<Replay<D> | undefined>('GET', `/topics/${topic}/events?fromOffset=${from}&limit=1000`)
    if (page.body?.value === undefined || page.body.value.length === 0) break
    out.push(...page.body.value.map((r) => r.event))
    from = page.body.nextOffset
  }
  return out
}

/** Readings of device d: value i at base + i·37 ms, with a pause every 40 readings so sessions close. */
function reading (base: number, d: number, i: number): { ts: number, v: number } {
  return { ts: base + i * 37 + Math.floor(i / 40) * 500 + d, v: (i * 7 + d) % 101 }
}

describe('continuous windows across kill -9', () => {
  it('after SIGKILL and restart no closed window is lost, emitted twice or emitted with other contents', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const config = join(dir.path, 'gridgate.yaml')
    await writeFile(config, CONFIG)
    const base = Math.floor(Date.now() / 1000) * 1000 - 60_000
    const total = 1000

    const first = await start(join(dir.path, 'data'), config)
    const passwords = await Promise.all(Array.from({ length: DEVICES }, (_, d) => registerDevice(first, `s-${d}`)))
    let clients = await Promise.all(passwords.map((p, d) => connectDevice(first.listeners.mqtt as string, `s-${d}`, p)))
    const sent = new Array<number>(DEVICES).fill(0)
    // Publish until some windows went out, then kill the gateway mid-stream.
    const publishers = clients.map(async (c, d) => {
      for (let i = 0; i < total; i++) {
        try {
          await c.publishAsync(`devices/s-${d}/telemetry`, JSON.stringify(reading(base, d, i)), { qos: 1 })
        } catch { return }
        sent[d] = i + 1
      }
    })
    await reached(async () => (await all<WindowData>(first, 'telemetry-windows')).length >= 20, { timeoutMs: 30_000 })
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')
    void publishers
    await Promise.all(clients.map((c) => c.endAsync(true)))

    // Start again and send the rest (from the first reading not acknowledged), then one far-ahead reading.
    const second = await start(join(dir.path, 'data'), config)
    clients = await Promise.all(passwords.map((p, d) => connectDevice(second.listeners.mqtt as string, `s-${d}`, p)))
    teardown(() => Promise.all(clients.map((c) => c.endAsync(true))))
    const stored = await all<Reading>(second, 'telemetry')
    await Promise.all(clients.map(async (c, d) => {
      const have = stored.filter((e) => e.deviceid === `s-${d}`).length
      for (let i = have; i < total; i++) await c.publishAsync(`devices/s-${d}/telemetry`, JSON.stringify(reading(base, d, i)), { qos: 1 })
      await c.publishAsync(`devices/s-${d}/telemetry`, JSON.stringify({ ts: base + 3_600_000, v: 0 }), { qos: 1 })
    }))

    // The expected windows: the pure operators over exactly what the log holds.
    const log = await all<Reading>(second, 'telemetry')
    const expected = new Map<string, string>()
    const expectedSessions = new Map<string, string>()
    for (let d = 0; d < DEVICES; d++) {
      const tumble = createTumbling(1000, 0, { percentiles: false })
      const sess = createSessionWindow(250, 2000, { percentiles: false })
      for (const e of log.filter((x) => x.deviceid === `s-${d}`)) {
        tumble.add(e.data.ts, e.data.v)
        sess.add(e.data.ts, e.data.v)
        for (const w of tumble.advance(e.data.ts)) expected.set(`tumble/s-${d}/${w.end}/v`, JSON.stringify([w.aggregate.count, w.aggregate.sum, w.aggregate.min, w.aggregate.max]))
        for (const w of sess.advance(e.data.ts)) expectedSessions.set(`sess/s-${d}/${w.end}/v`, JSON.stringify([w.aggregate.count, w.aggregate.sum]))
      }
    }
    let windows: Array<CloudEvent<WindowData>> = []
    let sessions: Array<CloudEvent<WindowData>> = []
    await reached(async () => {
      windows = await all<WindowData>(second, 'telemetry-windows')
      sessions = await all<WindowData>(second, 'sessions')
      return windows.length >= expected.size && sessions.length >= expectedSessions.size
    }, { timeoutMs: 30_000, everyMs: 20 }) // what arrived is judged below
    const got = new Map(windows.map((e) => [e.id, JSON.stringify([e.data.count, e.data.sum, e.data.min, e.data.max])]))
    const gotSessions = new Map(sessions.map((e) => [e.id, JSON.stringify([e.data.count, e.data.sum])]))
    expect(windows.length).toBe(got.size) // no id twice
    expect(sessions.length).toBe(gotSessions.size)
    expect(got).toEqual(expected)
    expect(gotSessions).toEqual(expectedSessions)
    expect(expected.size).toBeGreaterThan(40)
  })
})
