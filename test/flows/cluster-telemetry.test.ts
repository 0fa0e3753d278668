import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTumbling } from '../../src/telemetry/windows.js'
import type { CloudEvent, Replay } from '../helpers/api.js'
import { startCluster, type ClusterNodeProcess, type TestCluster } from '../helpers/cluster.js'
import { TEST_ENGINE } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useRedisServer } from '../helpers/redis.js'
import { reached, until } from '../helpers/wait.js'

// Windowed telemetry across three gateway processes on one redis-server: the source stream is
// processed by one node at a time (the holder of its lease), windows are defined and read
// through any node, and when the owner is killed (SIGKILL) mid-stream another node takes the
// stream over from the stored snapshot: no closed window is lost, none is emitted twice, none
// with other contents. Real parts only; the cases run in order on one cluster.

const redis = useRedisServer()
const INTERVAL_MS = 100
const EXPIRY_MS = 1000
const DEVICES = 3
const READINGS = 600
let cluster: TestCluster
let nodes: ClusterNodeProcess[]

interface NodeList { value: Array<{ id: string, owns: { telemetry?: number } }> }
interface Reading { ts: number, v: number }
interface WindowData { count: number, sum: number, min: number, max: number }

const alive = (): ClusterNodeProcess[] => nodes.filter((n) => n.proc.exitCode === null && n.proc.signalCode === null)

/** The node holding the telemetry stream, as every live node's list says; undefined while none or several do. */
async function owner (): Promise<ClusterNodeProcess | undefined> {
  const [via] = alive()
  const list = await via!.request<NodeList>('GET', '/cluster/nodes')
  const holders = list.body.value.filter((n) => (n.owns.telemetry ?? 0) > 0)
  return holders.length === 1 ? alive().find((n) => n.node === holders[0]!.id) : undefined
}

/** The node holding the stream, waited for while it is between owners. */
async function currentOwner (): Promise<ClusterNodeProcess> {
  let found: ClusterNodeProcess | undefined
  await until(async () => { found = await owner(); return found !== undefined }, { timeoutMs: 40_000, what: 'one node holding the telemetry stream' })
  return found as ClusterNodeProcess
}

async function all<D> (via: ClusterNodeProcess, topic: string): Promise<Array<CloudEvent<D>>> {
  const out: Array<CloudEvent<D>> = []
  let from = 0
  for (let guard = 0; guard < 1000; guard++) {
    const page = await via.request<Replay<D> | undefined>('GET', `/topics/${topic}/events?fromOffset=${from}&limit=1000`)
    if (page.body?.value === undefined || page.body.value.length === 0) break
    out.push(...page.body.value.map((r) => r.event))
    from = page.body.nextOffset
  }
  return out
}

const reading = (base: number, d: number, i: number): Reading => ({ ts: base + i * 37 + d, v: (i * 7 + d) % 101 })
const event = (d: number, r: Reading, id: string): Record<string, unknown> => cloudEvent(id, r, { type: 'device.telemetry', deviceid: `s-${d}` })

describe.skipIf(TEST_ENGINE === 'memory')('windowed telemetry across three nodes on one Redis', { timeout: 150_000 }, () => {
  beforeAll(async () => {
    const { url } = await redis.server()
    cluster = await startCluster(3, {
      redisUrl: url,
      keyPrefix: redis.freshPrefix(),
      config: {
        cluster: { heartbeatIntervalMs: INTERVAL_MS, heartbeatExpiryMs: EXPIRY_MS },
        telemetry: {
          enabled: true,
          sources: [{ topic: 'telemetry', types: ['device.telemetry'], timeField: 'ts' }],
          checkpointIntervalMs: 20,
          snapshotIntervalSeconds: 0.2,
          eventTime: { lateArrivalToleranceSeconds: 3600, earlyArrivalLimitSeconds: 86400 },
          windows: [{ name: 'tumble', window: { kind: 'tumbling', sizeSeconds: 1 }, aggregates: ['count', 'sum', 'min', 'max'] }]
        }
      }
    })
    nodes = cluster.nodes
  })
  afterAll(async () => { await cluster?.stop() })

  it('one node processes the stream, and a window put on node 2 is read on node 3, listed on node 1 and run by the owner', async () => {
    await currentOwner()
    const [n1, n2, n3] = nodes as [ClusterNodeProcess, ClusterNodeProcess, ClusterNodeProcess]
    const put = await n2.request('PUT', '/windows/hop', { body: { window: { kind: 'tumbling', sizeSeconds: 2 }, outputTopic: 'hop-out', aggregates: ['count'] } })
    expect(put.status).toBe(201)
    expect((await n3.request<{ name: string, outputTopic: string }>('GET', '/windows/hop')).body).toMatchObject({ name: 'hop', outputTopic: 'hop-out' })
    expect((await n1.request<{ value: Array<{ name: string }> }>('GET', '/windows')).body.value.map((w) => w.name)).toEqual(['hop', 'tumble'])
    // The owner runs it: readings published through another node close windows of it.
    const base = Math.floor(Date.now() / 1000) * 1000 - 600_000
    await n1.publish('telemetry', Array.from({ length: 100 }, (_, i) => cloudEvent(`hop-${i}`, { ts: base + i * 100, v: i }, { type: 'device.telemetry', deviceid: 'h-0' })))
    await until(async () => (await all(n3, 'hop-out')).length >= 3, { timeoutMs: 40_000, what: 'windows of the new definition' })
    // Deleted on node 3: gone on every node.
    expect((await n3.request('DELETE', '/windows/hop')).status).toBe(204)
    expect((await n1.request('GET', '/windows/hop')).status).toBe(404)
    expect((await n2.request<{ value: Array<{ name: string }> }>('GET', '/windows')).body.value.map((w) => w.name)).toEqual(['tumble'])
  })

  it('after a kill -9 of the owner mid-stream another node continues: no closed window lost, emitted twice or with other contents', async () => {
    // The stream may be between owners at any moment (a handover to the preferred node, or a
    // lease that lapsed on a loaded machine): the owner is read when it is needed, the kill
    // goes to whichever node holds the stream then, and the rest is published through another.
    let publisher = nodes[0] as ClusterNodeProcess
    const base = Math.floor(Date.now() / 1000) * 1000 - 120_000
    const sent = new Array<number>(DEVICES).fill(0)
    const publishSome = async (d: number, upTo: number): Promise<void> => {
      for (let i = sent[d] as number; i < upTo; i += 20) {
        const n = Math.min(20, upTo - i)
        await publisher.publish('telemetry', Array.from({ length: n }, (_, k) => event(d, reading(base, d, i + k), `r-${d}-${i + k}`)))
        sent[d] = i + n
      }
    }
    // Half of the readings, some windows out, then the owner dies.
    await Promise.all(Array.from({ length: DEVICES }, async (_, d) => await publishSome(d, READINGS / 2)))
    await until(async () => (await all(publisher, 'telemetry-windows')).length >= 20, { timeoutMs: 40_000, what: 'windows before the kill' })
    const first = await currentOwner()
    publisher = alive().find((n) => n !== first) as ClusterNodeProcess
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')
    // The rest meanwhile, then a far-ahead reading per device closes every window.
    await Promise.all(Array.from({ length: DEVICES }, async (_, d) => await publishSome(d, READINGS)))
    await publisher.publish('telemetry', Array.from({ length: DEVICES }, (_, d) => event(d, { ts: base + 3_600_000, v: 0 }, `end-${d}`)))
    await until(async () => { const o = await owner(); return o !== undefined && o !== first }, { timeoutMs: 40_000, what: 'another node holding the stream' })

    // The expected windows: the pure operator over exactly what the log holds.
    const log = (await all<Reading>(publisher, 'telemetry')).filter((e) => e.type === 'device.telemetry' && String(e.id).match(/^(r|end)-/) !== null)
    const expected = new Map<string, string>()
    for (let d = 0; d < DEVICES; d++) {
      const tumble = createTumbling(1000, 0, { percentiles: false })
      for (const e of log.filter((x) => x.deviceid === `s-${d}`)) {
        tumble.add(e.data.ts, e.data.v)
        for (const w of tumble.advance(e.data.ts)) expected.set(`tumble/s-${d}/${w.end}/v`, JSON.stringify([w.aggregate.count, w.aggregate.sum, w.aggregate.min, w.aggregate.max]))
      }
    }
    let windows: Array<CloudEvent<WindowData>> = []
    const mine = (e: CloudEvent<WindowData>): boolean => /^tumble\/s-\d\//.test(e.id) && Number(e.id.split('/')[2]) >= base
    await reached(async () => {
      windows = (await all<WindowData>(publisher, 'telemetry-windows')).filter(mine)
      return windows.length >= expected.size
    }, { timeoutMs: 40_000 }) // what arrived is judged below
    const got = new Map(windows.map((e) => [e.id, JSON.stringify([e.data.count, e.data.sum, e.data.min, e.data.max])]))
    expect(windows.length).toBe(got.size) // no id twice
    expect(got).toEqual(expected)
    expect(expected.size).toBeGreaterThan(40)

    // Rollups are answered by every node, whichever holds the stream.
    for (const via of alive()) {
      await until(async () => {
        const res = await via.request<{ value: Array<{ metric: string, lastTime: string }> } | Array<{ metric: string }>>('GET', '/telemetry/s-1')
        return res.status === 200 && JSON.stringify(res.body).includes('"v"')
      }, { timeoutMs: 40_000, what: `device s-1's metrics on ${via.node}` })
    }
  })
})
