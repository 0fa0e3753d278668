import { describe, expect, it } from 'vitest'
import type { Replay } from '../helpers/api.js'
import { spawnGateway, type ChildGateway } from '../helpers/child.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { within } from '../helpers/wait.js'

const teardown = useTeardown()
const KEY = 'mqtt-crash-key-0123456789'

async function start (dir: string): Promise<ChildGateway> {
  const gw = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn' } })
  teardown(() => gw.kill('SIGKILL'))
  return gw
}

describe('QoS 1 across kill -9', () => {
  it('every PUBACKed message is in the log after the gateway is killed and restarted', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await start(dir.path)
    const devices = 8
    const acked = new Set<string>()
    const passwords = await Promise.all(Array.from({ length: devices }, (_, i) => registerDevice(first, `crash-${i}`)))
    const clients = await Promise.all(passwords.map((p, i) => connectDevice(first.listeners.mqtt as string, `crash-${i}`, p)))
    teardown(() => Promise.all(clients.map((c) => c.endAsync(true))))
    let stop = false
    let reached: () => void = () => {}
    const enough = new Promise<void>((resolve) => { reached = resolve })
    const publishers = clients.map(async (c, i) => {
      for (let seq = 0; seq < 100_000; seq++) {
        if (stop) return
        try {
          await c.publishAsync(`devices/crash-${i}/telemetry`, JSON.stringify({ seq }), { qos: 1 })
        } catch { return } // the gateway is gone
        acked.add(`crash-${i}:${seq}`)
        if (acked.size >= 500) reached()
      }
    })
    await within(enough, { timeoutMs: 30_000, orElse: undefined }) // then kill, whatever was reached: judged below
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')
    stop = true
    // The socket is dead: no PUBACK can arrive after this point. (mqtt.js may never settle
    // publishes that were in flight, so the publishers are not awaited.)
    void publishers
    const ackedBeforeKill = [...acked]
    expect(ackedBeforeKill.length).toBeGreaterThanOrEqual(500)

    const second = await start(dir.path)
    const logged = new Set<string>()
    let from = 0
    for (let guard = 0; guard < 1000; guard++) {
      const page = await second.request<Replay<{ seq: number }>>('GET', `/topics/telemetry/events?fromOffset=${from}&limit=1000`)
      if (page.body.value.length === 0) break
      for (const r of page.body.value) logged.add(`${r.event.deviceid as string}:${r.event.data.seq}`)
      from = page.body.nextOffset
    }
    expect(ackedBeforeKill.filter((k) => !logged.has(k))).toEqual([])
  })
})
