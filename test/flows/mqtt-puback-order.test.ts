import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import type { AppendResult, TopicLog } from '../../src/log/types.js'
import { startTestGateway, type TestGateway } from '../helpers/gateway.js'
import { connectDevice, registerDevice, whenClosed } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { pause, within } from '../helpers/wait.js'

// What a QoS 1 PUBACK promises the device: its message is durably in the log. So the PUBACK
// may leave only after the append resolved. Reading the log after the PUBACK cannot show the
// order (it passes when the PUBACK goes first and the append happens to be quick), so these
// tests hold the append at the log's door: the gateway's append to `telemetry` does not start
// until the test releases it. A gateway that sent the PUBACK first would send it while the
// append is held, and the tests would see it.
//
// The seam: ingest calls `append` on the gateway's TopicLog object (`gateway.log`) at the
// time of each message, so replacing that method on the object intercepts every device append.

const teardown = useTeardown()

/** How long a test watches for a PUBACK that must not come while the append is held. */
const QUIET_PERIOD_MS = 500
const WAIT_MS = 10_000

type Step = 'append started' | 'append resolved' | 'append failed' | 'puback'

interface HeldAppend {
  /** Resolves when the gateway called append for the topic (the message is at the log's door). */
  started: Promise<void>
  /** Lets the held append through to the real log. */
  release: () => void
  /** Makes the held append fail instead (a failed write). */
  fail: (err: Error) => void
}

/** Holds the next append to `topic` before it reaches the real log, noting each step in `steps`. */
function holdNextAppend (log: TopicLog, topic: string, steps: Step[]): HeldAppend {
  const real = log.append
  let started: () => void = () => {}
  let release: () => void = () => {}
  let fail: (err: Error) => void = () => {}
  const startedP = new Promise<void>((resolve) => { started = resolve })
  const gate = new Promise<void>((resolve, reject) => { release = resolve; fail = reject })
  gate.catch(() => {}) // observed by the held append
  log.append = async (t: string, events: readonly Buffer[]): Promise<AppendResult> => {
    if (t !== topic) return await real.call(log, t, events)
    log.append = real // only this one is held
    steps.push('append started')
    started()
    try {
      await gate
      const result = await real.call(log, t, events)
      steps.push('append resolved')
      return result
    } catch (err) {
      steps.push('append failed')
      throw err
    }
  }
  teardown(() => { log.append = real; release() }) // never leave the gateway stuck on a failed test
  return { started: startedP, release, fail }
}

/** Notes every PUBACK the device receives (the packet itself, not mqtt.js's callback). */
function notePubacks (device: MqttClient, steps: Step[]): void {
  device.on('packetreceive', (packet) => { if (packet.cmd === 'puback') steps.push('puback') })
}

async function telemetryData (gw: TestGateway): Promise<unknown[]> {
  const res = await gw.request<{ value: Array<{ event: { data: unknown } }> }>('GET', '/topics/telemetry/events?limit=10')
  expect(res.status).toBe(200)
  return res.body.value.map((r) => r.event.data)
}

async function setup (id: string): Promise<{ gw: TestGateway, device: MqttClient, steps: Step[] }> {
  const gw = await startTestGateway()
  teardown(gw.stop)
  const password = await registerDevice(gw, id)
  const device = await connectDevice(gw.gateway.listeners.mqtt, id, password)
  teardown(() => device.endAsync(true))
  const steps: Step[] = []
  notePubacks(device, steps)
  return { gw, device, steps }
}

describe('QoS 1 PUBACK and the durable append', () => {
  it('sends no PUBACK while the append is held, and sends it once the append resolved; the event is readable then', async () => {
    const { gw, device, steps } = await setup('dev-order')
    const held = holdNextAppend(gw.gateway.log, 'telemetry', steps)
    const acked = device.publishAsync('devices/dev-order/telemetry', '{"n":1}', { qos: 1 })
    await within(held.started, { timeoutMs: WAIT_MS, what: 'the gateway to start appending the message' })

    await pause(QUIET_PERIOD_MS) // the quiet period this test is about: no PUBACK may come in it
    expect(steps).toEqual(['append started'])
    expect(await telemetryData(gw)).toEqual([])

    held.release()
    await within(acked, { timeoutMs: WAIT_MS, what: 'the PUBACK after the append was released' })
    expect(steps).toEqual(['append started', 'append resolved', 'puback'])
    expect(await telemetryData(gw)).toEqual([{ n: 1 }])
  })

  it('sends no PUBACK at all when the held append fails: the device is disconnected and retransmits later', async () => {
    const { gw, device, steps } = await setup('dev-fail')
    const held = holdNextAppend(gw.gateway.log, 'telemetry', steps)
    const closed = whenClosed(device)
    device.publish('devices/dev-fail/telemetry', '{"n":1}', { qos: 1 })
    await within(held.started, { timeoutMs: WAIT_MS, what: 'the gateway to start appending the message' })

    await pause(QUIET_PERIOD_MS) // no PUBACK while held
    expect(steps).toEqual(['append started'])

    held.fail(new Error('disk full (simulated)'))
    await within(closed, { timeoutMs: WAIT_MS, what: 'the gateway to close the connection after the failed append' })
    expect(steps).toEqual(['append started', 'append failed'])
    expect(await telemetryData(gw)).toEqual([])
  })
})
