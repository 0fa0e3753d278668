import { connect, type MqttClient } from 'mqtt'
import type { Child } from './children.js'
import { compact, latencyHistogram, makeTempDir, median, progress, removeTempDir, summarise, type CaseResult, type SystemResult } from './common.js'
import type { Device } from './mqtt-load.js'
import {
  connectGroups, CONNECT_RATE, deviceIds, newTarget, ratioCase, registerDevices, round, startAll, startGridgate, startLoadGenerator, systemResult,
  type Load, type Phase, type Server
} from './mqtt-ingest.js'
import { REDIS_MISSING, redisServerInstalled, startRedisServer, type RedisServer } from '../test/helpers/redis-server.js'

// The cluster part (issue 14's goals): closed-loop MQTT fan-in on one gridgate node of the
// redis engine against one node of the leveldb engine, and on two redis nodes together
// against one, all in one run on this machine; then the delivery latency of a QoS 1 message
// published on node 1 to a subscriber on node 2. The redis-server is started here
// (`--appendonly yes --appendfsync always`, test/helpers/redis-server.ts), so a PUBACK from
// the redis nodes waits for Redis' fsync just as one from the leveldb node waits for LevelDB's.

export const REDIS_VS_LEVELDB_GOAL = 0.5
export const TWO_NODES_GOAL = 1.3
const CROSS_NODE_MESSAGES = 2000
const CROSS_NODE_RATE = 500

export interface ClusterBenchOptions {
  baseDir: string
  warmupSeconds: number
  seconds: number
  rounds: number
  devices: number
  inflight: number
}

async function crossNodeLatency (from: string, to: string, publisher: Device, subscriber: Device): Promise<{ summary: ReturnType<typeof summarise>, received: number }> {
  const histogram = latencyHistogram()
  const open = async (url: string, [id, password]: Device): Promise<MqttClient> => await new Promise((resolve, reject) => {
    const c = connect(url, { clientId: id, username: id, password, protocolVersion: 4, reconnectPeriod: 0, clean: true })
    c.once('connect', () => resolve(c))
    c.once('error', reject)
  })
  const sub = await open(to, subscriber)
  const pub = await open(from, publisher)
  try {
    const topic = `devices/${publisher[0]}/telemetry`
    await sub.subscribeAsync(topic, { qos: 1 })
    let received = 0
    const all = new Promise<void>((resolve) => {
      sub.on('message', (_t, payload) => {
        const sent = (JSON.parse(payload.toString()) as { sent: number }).sent
        histogram.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000)))
        if (++received === CROSS_NODE_MESSAGES) resolve()
      })
    })
    const gap = 1000 / CROSS_NODE_RATE
    for (let i = 0; i < CROSS_NODE_MESSAGES; i++) {
      const due = performance.now() + gap
      void pub.publishAsync(topic, JSON.stringify({ sent: performance.now(), i }), { qos: 1 })
      const wait = due - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    await Promise.race([all, new Promise((resolve) => setTimeout(resolve, 15_000))])
    return { summary: summarise(histogram), received }
  } finally {
    histogram.destroy()
    pub.end(true)
    sub.end(true)
  }
}

export async function benchCluster (opts: ClusterBenchOptions): Promise<{ cases: CaseResult[], warnings: string[] }> {
  const warnings: string[] = []
  if (!redisServerInstalled()) {
    warnings.push(`cluster part skipped: ${REDIS_MISSING}`)
    return { cases: [], warnings }
  }
  const openFiles = opts.devices * 4 + 1024
  const dirs = [await makeTempDir(opts.baseDir, 'gridgate-bench-cluster-leveldb-'), await makeTempDir(opts.baseDir, 'gridgate-bench-cluster-a-'), await makeTempDir(opts.baseDir, 'gridgate-bench-cluster-b-')]
  const children: Child[] = []
  let redis: RedisServer | undefined
  try {
    progress.line('\n[cluster] starting redis-server (appendonly yes, appendfsync always), a load generator, gridgate on leveldb and two gridgate nodes on redis')
    redis = await startRedisServer()
    const onRedis = {
      storage: { engine: 'redis' },
      redis: { url: redis.url, keyPrefix: 'bench:' },
      // The latency probe's subscriber reads another device's telemetry (templates, not JS templates).
      // eslint-disable-next-line no-template-curly-in-string
      mqtt: { permissions: { publish: ['devices/${client.id}/telemetry'], subscribe: ['devices/${client.id}/commands/#', 'devices/+/telemetry'] } }
    }
    const [load] = await startAll([startLoadGenerator(openFiles)], openFiles, warnings)
    if (load === undefined) throw new Error('no load generator')
    children.push(load.child)
    const servers = await startAll([
      startGridgate('gridgate, leveldb', dirs[0] as string, true, openFiles),
      startGridgate('gridgate, redis node 1', dirs[1] as string, true, openFiles, undefined, onRedis),
      startGridgate('gridgate, redis node 2', dirs[2] as string, true, openFiles, undefined, onRedis)
    ], openFiles, warnings)
    children.push(...servers.map((s) => s.child))
    const [level, nodeA, nodeB] = servers as [Server, Server, Server]

    // Every device connects to the node it was registered on (a node's registry is read at
    // its start), and no device is in two groups (a second connection would take it over).
    const half = Math.max(1, Math.floor(opts.devices / 2))
    const [levelDevices] = await registerDevices([level], deviceIds('lvl', opts.devices)) as [Device[]]
    const [oneDevices] = await registerDevices([nodeA], deviceIds('one', opts.devices)) as [Device[]]
    const [twoA] = await registerDevices([nodeA], deviceIds('twoa', half)) as [Device[]]
    const [twoB] = await registerDevices([nodeB], deviceIds('twob', opts.devices - half)) as [Device[]]
    const [probes] = await registerDevices([nodeA], deviceIds('probe', 2)) as [Device[]]
    await connectGroups(load.ipc, [
      { server: level, group: 'leveldb', devices: levelDevices },
      { server: nodeA, group: 'redis-one', devices: oneDevices },
      // One group over both nodes: a run drives them together.
      { server: nodeA, group: 'redis-two', devices: twoA },
      { server: nodeB, group: 'redis-two', devices: twoB }
    ], CONNECT_RATE)

    // Latency first, on idle nodes: after the fan-in the nodes work off what it left behind for a while.
    progress.line(`\n[cluster latency] ${CROSS_NODE_MESSAGES} QoS 1 messages at ${CROSS_NODE_RATE}/s published on node 1, received by a QoS 1 subscriber on node 2`)
    const cross = await crossNodeLatency(nodeA.mqtt, nodeB.mqtt, probes[0] as Device, probes[1] as Device)
    const same = await crossNodeLatency(nodeA.mqtt, nodeA.mqtt, probes[0] as Device, probes[1] as Device)
    progress.line(`  node 1 → node 2: p50 ${cross.summary.p50Ms.toFixed(2)} ms, p99 ${cross.summary.p99Ms.toFixed(2)} ms (${cross.received} received); node 1 → node 1: p50 ${same.summary.p50Ms.toFixed(2)}, p99 ${same.summary.p99Ms.toFixed(2)} ms`)

    const tLevel = newTarget(level, 'leveldb', true)
    const tOne = newTarget(nodeA, 'redis-one', true)
    // Counted on the load generator's side only: the two nodes have no common metrics.
    const tTwo = newTarget(nodeA, 'redis-two', false)
    const phase: Phase = { opts: { ...opts, rate: 1000, idle: 0 }, load, servers, quiesceSeconds: 0 }
    const window: Load = { mode: 'window', inflight: opts.inflight }
    progress.line(`\n[cluster fan-in] ${opts.devices} devices × ${opts.inflight} QoS 1 publishes in flight, ${opts.rounds} round(s) of ${opts.seconds}s`)
    for (let r = 0; r < opts.rounds; r++) {
      progress.line(` round ${r + 1}/${opts.rounds}`)
      for (const t of r % 2 === 0 ? [tLevel, tOne, tTwo] : [tTwo, tOne, tLevel]) await round(phase, t, window)
    }

    const windowOf = `one QoS 1 publish → its PUBACK (load generator side), ${opts.inflight} in flight per device`
    const text = (engine: string): string => `gridgate start, storage.engine ${engine}, mqtt.persistence true, default telemetry; ${opts.devices} mqtt.js clients in one load-generator child`
    const levelResult = systemResult('gridgate, leveldb (child)', text('leveldb'), windowOf, tLevel.window, tLevel.windowHistogram, tLevel.windowBatches)
    const oneResult = systemResult('gridgate, redis, one node (child)', text('redis (redis-server on this machine, appendfsync always)'), windowOf, tOne.window, tOne.windowHistogram, tOne.windowBatches)
    const twoResult = systemResult('gridgate, redis, two nodes (children)', `${text('redis')}; half of the devices on each node`, windowOf, tTwo.window, tTwo.windowHistogram)
    for (const t of [tLevel, tOne, tTwo]) { t.windowHistogram.destroy(); t.pacedHistogram.destroy() }

    const redisVsLevel = ratioCase('cluster-fan-in-redis-vs-leveldb', `mqtt fan-in on one node, redis engine vs leveldb engine, ${opts.devices} devices × ${opts.inflight} in flight`, levelResult, oneResult, REDIS_VS_LEVELDB_GOAL)
    redisVsLevel.notes = ['Both nodes are gridgate children with the default config but the engine; the redis-server runs on the same 2 cores with appendonly yes and appendfsync always, so each group commit is one Redis script call and one fsync of the AOF.']
    const twoVsOne = ratioCase('cluster-fan-in-two-nodes', `mqtt fan-in, two redis nodes together vs one, ${opts.devices} devices × ${opts.inflight} in flight`, oneResult, twoResult, TWO_NODES_GOAL)
    twoVsOne.notes = [
      'The two nodes share this machine\'s 2 cores with the load generator and redis-server, so a second node brings no core of its own: what it adds is a second group commit, whose round trips to Redis (one script call and one AOF fsync each) overlap the first node\'s. Where each node has its own cores, CPU adds to that.'
    ]
    const crossCase: CaseResult = {
      id: 'cluster-cross-node-latency',
      title: `cluster delivery latency, QoS 1 published on node 1 → subscriber on node 2, ${CROSS_NODE_RATE} msg/s`,
      baseline: latencySystem('node 1 → node 1 (same node)', same.summary, CROSS_NODE_MESSAGES),
      gridgate: latencySystem('node 1 → node 2', cross.summary, cross.received),
      ratio: cross.summary.p99Ms / same.summary.p99Ms,
      roundRatios: [cross.summary.p99Ms / same.summary.p99Ms],
      medianRoundRatio: median([cross.summary.p99Ms / same.summary.p99Ms]),
      compare: { what: 'p99 publish → delivery', unit: 'ms p99', gridgate: cross.summary.p99Ms, baseline: same.summary.p99Ms, digits: 2 },
      notes: [
        `node 1 → node 2: p50 ${cross.summary.p50Ms.toFixed(2)}, p99 ${cross.summary.p99Ms.toFixed(2)}, max ${cross.summary.maxMs.toFixed(2)} ms, ${cross.received} of ${CROSS_NODE_MESSAGES} received; ` +
          `node 1 → node 1: p50 ${same.summary.p50Ms.toFixed(2)}, p99 ${same.summary.p99Ms.toFixed(2)}, max ${same.summary.maxMs.toFixed(2)} ms. ` +
          'Publisher and subscriber are in the bench process (one clock); every message goes through mqemitter-redis, so the subscriber\'s node makes little difference.'
      ]
    }
    progress.line(`  fan-in: leveldb ${compact(levelResult.eventsPerSecond)}/s, redis one node ${compact(oneResult.eventsPerSecond)}/s, redis two nodes ${compact(twoResult.eventsPerSecond)}/s`)
    return { cases: [redisVsLevel, twoVsOne, crossCase], warnings }
  } finally {
    for (const c of children.reverse()) await c.stop()
    await redis?.stop()
    for (const d of dirs) await removeTempDir(d)
  }
}

function latencySystem (name: string, latency: ReturnType<typeof summarise>, events: number): SystemResult {
  return {
    name,
    description: 'mqtt.js publisher and QoS 1 subscriber in the bench process',
    events,
    seconds: events / CROSS_NODE_RATE,
    eventsPerSecond: CROSS_NODE_RATE,
    opsPerSecond: CROSS_NODE_RATE,
    errors: 0,
    latency,
    latencyOf: 'publish call → message at the subscriber',
    rounds: [],
    loopUtilization: 0
  }
}
