import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Replay } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useRedisServer } from '../helpers/redis.js'
import { useTeardown } from '../helpers/teardown.js'
import { until } from '../helpers/wait.js'

// Issue 14's crash case: a device publishing QoS 1 on node 1 when node 1 is killed (SIGKILL,
// no clean stop) reconnects to node 2 and goes on; every message that got a PUBACK, from
// either node, is in the namespace topic when read through node 3. Real parts only: three
// gateway processes, a real redis-server (appendfsync always), a real mqtt.js device.

const redis = useRedisServer()
const teardown = useTeardown()
const IN_FLIGHT = 8
let cluster: TestCluster
let n1: ClusterNodeProcess, n2: ClusterNodeProcess, n3: ClusterNodeProcess

/**
 * Publishes seq, seq+1, … with IN_FLIGHT QoS 1 publishes outstanding until stopped or the
 * connection ends; records each PUBACKed seq. `stop(drain)` returns the next unused seq; with
 * `drain` it first waits for the outstanding PUBACKs (mqtt.js never settles the publishes of
 * a connection that died, so after a kill they are abandoned instead).
 */
function publishLoop (client: MqttClient, topic: string, first: number, acked: Set<number>): { stop: (drain: boolean) => Promise<number> } {
  let next = first
  const state = { stopped: false }
  const lanes = Array.from({ length: IN_FLIGHT }, async () => {
    while (!state.stopped && client.connected) {
      const seq = next++
      try {
        await client.publishAsync(topic, JSON.stringify({ seq }), { qos: 1 })
        acked.add(seq)
      } catch {
        return // the connection went away with this publish unanswered: not acknowledged
      }
    }
  })
  return {
    stop: async (drain) => {
      state.stopped = true
      if (drain) await Promise.all(lanes)
      return next
    }
  }
}

/** Every seq in the telemetry topic (read through `via`, a page at a time). */
async function loggedSeqs (via: ClusterNodeProcess): Promise<Set<number>> {
  const seqs = new Set<number>()
  let from = 0
  for (let page = 0; page < 1000; page++) {
    const res = await via.request<Replay<{ seq: number }>>('GET', `/topics/telemetry/events?fromOffset=${from}&limit=1000`)
    expect(res.status).toBe(200)
    for (const r of res.body.value) seqs.add((r.event as { data: { seq: number } }).data.seq)
    if (res.body.value.length === 0) return seqs
    from = res.body.nextOffset
  }
  throw new Error('more pages than a bounded read allows')
}

describe.skipIf(TEST_ENGINE === 'memory')('a node killed under QoS 1 load', () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(3, { redisUrl: url, keyPrefix: redis.freshPrefix(), config: { cluster: { heartbeatIntervalMs: 100, heartbeatExpiryMs: 1000 } } })
    ;[n1, n2, n3] = cluster.nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
  })
  afterAll(async () => { await cluster?.stop() })

  it('loses no PUBACKed message when the device moves to node 2 after node 1 is killed', async () => {
    const id = 'crash-pub-1'
    const password = await registerDevice(n1, id)
    const topic = `devices/${id}/telemetry`
    const acked = new Set<number>()

    const first = await connectDevice(n1.listeners.mqtt as string, id, password)
    first.on('error', () => {})
    teardown(() => first.endAsync(true))
    const before = publishLoop(first, topic, 0, acked)
    await until(() => acked.size >= 300, { timeoutMs: 20_000, what: '300 PUBACKs from node 1' })
    await n1.kill('SIGKILL')
    const next = await before.stop(false)
    const ackedOnNode1 = acked.size

    // As a device with a list of brokers: the next one, with the same session.
    const second = await connectDevice(n2.listeners.mqtt as string, id, password)
    second.on('error', () => {})
    const after = publishLoop(second, topic, next, acked)
    await until(() => acked.size >= ackedOnNode1 + 300, { timeoutMs: 20_000, what: '300 PUBACKs from node 2' })
    await after.stop(true)
    await second.endAsync()

    const logged = await loggedSeqs(n3)
    const lost = [...acked].filter((seq) => !logged.has(seq))
    expect(lost).toEqual([])
    expect(ackedOnNode1).toBeGreaterThanOrEqual(300)
    expect(acked.size).toBeGreaterThanOrEqual(ackedOnNode1 + 300)
  })
})
