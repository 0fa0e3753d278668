import { randomBytes, randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { resolve } from 'node:path'
import { createAuthenticator } from './broker/authenticate.js'
import { refuseWhileUnavailable } from './broker/storage-gate.js'
import { openCommands, type Commands } from './commands/commands.js'
import { createBroker } from './broker/broker.js'
import { startMqttListeners } from './broker/listeners.js'
import { resolveAccessKeys } from './config/access-key.js'
import type { Config } from './config/schema.js'
import { compileClientGroups } from './core/client-groups.js'
import { systemClock, type Clock } from './core/clock.js'
import { responseCommandId } from './core/device-topic.js'
import { GridgateError } from './core/errors.js'
import { uuidGenerator, type IdGenerator } from './core/ids.js'
import { createHttpServer } from './http/server.js'
import { createIngest } from './ingest/ingest.js'
import { compileSchemas } from './ingest/schemas.js'
import { startRetentionSweeper, type RetentionSweeper } from './log/retention-sweeper.js'
import type { TopicLog } from './log/types.js'
import { createHealth } from './observability/health.js'
import { createLogger, type Logger } from './observability/logger.js'
import { createMetrics, type Metrics } from './observability/metrics.js'
import { openRegistry, type Registry } from './registry/devices.js'
import { createClusterNode, newNodeId, type NodeDirectory } from './registry/nodes.js'
import { createSchemaRegistry } from './schemas/registry.js'
import { openStorageEngine, type StorageEngine } from './storage/engine.js'
import type { Telemetry } from './telemetry/telemetry.js'
import { openTelemetryWiring } from './telemetry-wiring.js'
import { startTelemetryOwnership, type TelemetryOwnership } from './telemetry/ownership.js'
import { openDelivery } from './delivery-wiring.js'
import { openTwins, type TwinsModule } from './twins/module.js'
import type { ProjectionOptions } from './twins/projection.js'
import { startTwinsThread } from './twins-thread.js'
import type { Subscriptions } from './delivery/subscriptions.js'
import { keyAnnouncement, readTls, urlOf } from './startup-io.js'
import { brokerObserver, commandsObserver, connectionMetrics, ingestObserver, logObserver, duringOutage, watchState, watchStorage } from './observers.js'

// The composition root: builds every module from the one frozen Config, starts them in
// dependency order and stops them in reverse. Nothing else constructs modules.

export interface GatewayOptions {
  clock?: Clock
  ids?: IdGenerator
  /** Randomness for retry jitter; tests pass a constant. */
  random?: () => number
  /** Where relative paths of the config (schemas, certificates) start; the config file's directory. */
  configDir?: string
  logger?: Logger
  /** Aborts start-up: what was opened is closed and startGateway rejects with SHUTTING_DOWN. */
  signal?: AbortSignal
  /** Where a generated access key is announced (stderr by default). */
  announce?: (text: string) => void
}

export interface Listeners {
  http: string
  mqtt: string
  ws: string
  mqtts?: string
  wss?: string
}

export interface Gateway {
  readonly config: Config
  /** Which storage engine holds the state. */
  readonly engine: StorageEngine['kind']
  readonly log: TopicLog
  readonly metrics: Metrics
  readonly listeners: Listeners
  /** The HTTP keys in force (configured or generated). */
  readonly accessKeys: readonly string[]
  readonly registry: Registry
  readonly telemetry: Telemetry
  /** Device twins, when `twins.enabled`. */
  readonly twins: TwinsModule | undefined
  /** This node of the cluster (a cluster of one on the embedded engines) and the live nodes. */
  readonly node: NodeDirectory
  /** Runs one retention sweep now. */
  sweepRetention: () => Promise<number>
  stop: () => Promise<void>
}

export async function startGateway (config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const clock = options.clock ?? systemClock
  const ids = options.ids ?? uuidGenerator
  const configDir = options.configDir ?? process.cwd()
  const logger = options.logger ?? createLogger(config.log.level)
  // Not kept across restarts: registry/nodes.ts says why.
  const nodeId = config.cluster.nodeId ?? newNodeId(hostname(), randomBytes(4).toString('hex'))
  // On a cluster every series names its node.
  const metrics = createMetrics(config.storage.engine === 'redis' ? { node: nodeId } : {})
  const health = createHealth()
  const dataDir = resolve(config.dataDir)
  const stops: Array<() => Promise<void>> = [async () => { metrics.close() }]
  const stopAll = async (): Promise<void> => {
    health.setReady(false)
    while (stops.length > 0) {
      try { await stops.pop()?.() } catch (err) { logger.error({ err }, 'error while stopping') }
    }
  }

  // Between the steps of start-up: a signal (SIGTERM during start) stops it there.
  const interrupted = (): void => {
    if (options.signal?.aborted === true) throw new GridgateError('SHUTTING_DOWN', 'start-up was interrupted')
  }

  try {
    interrupted()
    const { keys, generated } = await resolveAccessKeys(config.http.keys, dataDir)
    const effective: Config = Object.freeze({ ...config, http: Object.freeze({ ...config.http, keys: Object.freeze(keys) as string[] }) })

    const engine: StorageEngine = await openStorageEngine({
      engine: config.storage.engine,
      dataDir,
      redis: config.redis,
      clock,
      sync: config.storage.sync,
      writeBufferBytes: config.storage.writeBufferBytes,
      log: {
        maxBatchEvents: config.storage.maxBatchEvents,
        maxBatchBytes: config.storage.maxBatchBytes,
        cacheBytes: config.storage.segmentCacheBytes,
        commitDelayMs: config.storage.commitDelayMs,
        defaultRetention: { maxAgeSeconds: config.retention.maxAgeSeconds, maxBytes: config.retention.maxBytes },
        observer: logObserver(metrics)
      },
      onError: (err) => logger.warn({ err }, 'redis connection error (MQTT emitter or persistence)')
    })
    stops.push(() => engine.close())
    // Redis unreachable: /readyz 503, the storage metrics, a log line when it goes and comes back.
    const unwatchStorage = watchStorage(engine.availability, health, metrics, logger, () => clock.now())
    stops.push(async () => { unwatchStorage() })
    interrupted()
    logger.debug({ engine: engine.kind }, 'storage open')
    const log = engine.topics
    for (const t of config.topics) await log.createTopic(t.name, t.retention, t.deduplication)

    const registry = await openRegistry(engine.devices, clock, engine.presence)
    const clientGroups = compileClientGroups(config.mqtt.clientGroups)
    const schemas = await compileSchemas(config.routes, configDir)
    const schemaRegistry = createSchemaRegistry({ store: engine.schemas, log, clock })
    // Routes' subjects are compiled before the first message (one without a version yet is not an error).
    for (const r of config.routes) if (r.schemaSubject !== undefined) await schemaRegistry.preload({ subject: r.schemaSubject, version: r.schemaVersion })
    const ingest = createIngest({
      log,
      routes: config.routes.map((r, i) => ({
        filter: r.filter,
        topic: r.topic,
        type: r.type,
        schema: schemas[i],
        ...(r.idField === undefined ? {} : { idField: r.idField }),
        // A registry subject: its version in force is looked up per message (schemas/registry.ts).
        ...(r.schemaSubject === undefined ? {} : { registrySchema: { subject: r.schemaSubject, current: schemaRegistry.handle({ subject: r.schemaSubject, version: r.schemaVersion }).current } })
      })),
      namespace: config.namespace,
      clock,
      ids,
      observer: ingestObserver(metrics)
    })
    for (const topic of ingest.topics()) if (await log.getTopic(topic) === undefined) await log.createTopic(topic)

    const node = createClusterNode({
      id: nodeId,
      store: engine.nodes,
      clock,
      // On the embedded engines the node store is this process's own: no heartbeat to keep.
      intervalMs: engine.kind === 'redis' ? config.cluster.heartbeatIntervalMs : null,
      expiryMs: config.cluster.heartbeatExpiryMs,
      instance: randomUUID(),
      onError: (err) => logger[duringOutage(err) ? 'debug' : 'warn']({ err }, 'node heartbeat failed'),
      owns: async (ids) => {
        const devices = await engine.presence.count(ids)
        const subs = await subscriptionsPort.ownedBy(ids)
        const streams = await telemetryOwnersPort.ownedBy(ids)
        return ids.map((_, i) => ({ devices: devices[i] ?? 0, subscriptions: subs[i] ?? 0, telemetry: streams[i] ?? 0 }))
      }
    })

    // The node lists what it owns, the subscriptions need the node: a late-bound port.
    let subscriptionsPort: Pick<Subscriptions, 'ownedBy'> = { ownedBy: async (ids) => ids.map(() => 0) }
    let telemetryOwnersPort: Pick<TelemetryOwnership, 'ownedBy'> = { ownedBy: async (ids) => ids.map(() => 0) }
    const mqttLog = logger.child({ component: 'mqtt' })
    // Commands need the broker to send, the broker hands answers to commands: a late-bound port.
    let commandsPort: Pick<Commands, 'onResponse'> = { onResponse: async () => {} }
    const broker = await createBroker({
      clientGroups,
      config: config.mqtt,
      clock,
      registry,
      authenticator: refuseWhileUnavailable(createAuthenticator({ registry, clock, allowAnonymous: config.mqtt.allowAnonymous, backoff: config.mqtt.authFailures }), () => engine.availability.available),
      persistence: config.mqtt.persistence ? engine.mqttPersistence : undefined,
      mq: engine.mqttEmitter,
      node: node.id,
      signals: engine.signals,
      // Where other nodes may exist: this node's connections against the shared presence records,
      // and dead nodes' records swept (a node that never announced itself: after a grace for its start-up).
      ...(engine.kind === 'redis' ? { presenceSweep: { intervalMs: config.cluster.heartbeatIntervalMs, startupGraceMs: Math.max(60_000, 3 * config.cluster.heartbeatExpiryMs) } } : {}),
      // `$replay/{topic}/{position}` subscriptions read the namespace topics (broker/replay.ts).
      replay: {
        log,
        observer: {
          replayed: (topic, n) => metrics.replayMessages.inc({ topic }, n),
          failed: (err, clientId, filter, stopped) => mqttLog[duringOutage(err) ? 'debug' : 'warn']({ err, clientId, filter }, stopped ? 'replay stopped: its topic is gone' : 'replay read failed; trying again')
        }
      },
      ports: {
        // Not async: on the PUBACK path the append's promise is the one to wait for.
        onPublish: (msg) => {
          // devices/{id}/responses/{commandId}: an answer to a command, from that device only.
          const commandId = responseCommandId(msg.mqttTopic, msg.deviceId)
          if (commandId !== undefined) {
            return commandsPort.onResponse(msg.deviceId, commandId, msg.payload).then(() => ingest.handle(msg))
          }
          return ingest.handle(msg)
        },
        onLive: (connected, transport, live) => connectionMetrics(metrics, connected, transport, live),
        onConnection: (deviceId, connected, details) => {
          mqttLog.debug({ deviceId, connected, ...details }, connected ? 'device connected' : 'device disconnected')
          ingest.connection(deviceId, connected, details).catch((err: unknown) => mqttLog[duringOutage(err) ? 'debug' : 'warn']({ err, deviceId }, 'connection event not recorded'))
        }
      },
      observer: {
        ...brokerObserver(metrics, mqttLog),
        // While Redis is unreachable the outage is reported once (watchStorage), not per sweep.
        teardownError: (err) => { mqttLog.error({ err }, 'tearing down a closed connection failed') },
        connectError: (err) => { mqttLog.error({ err }, 'going on with a connection\'s CONNECT failed') },
        presenceError: (err, deviceId) => { if (engine.availability.available) mqttLog.warn({ err, deviceId }, 'presence record not written or read; the next sweep repairs it') }
      }
    })
    const mqtt = await startMqttListeners(broker.aedes, {
      host: config.mqtt.host,
      port: config.mqtt.port,
      wsPort: config.mqtt.wsPort,
      tlsPort: config.mqtt.tlsPort,
      wssPort: config.mqtt.wssPort,
      tls: await readTls(config.mqtt.tls, configDir),
      maxWsPayload: config.mqtt.maxPayloadBytes + 65_536,
      // The largest publish within the payload limit: payload, a topic of up to 65,535 bytes, ids.
      maxPacketBytes: config.mqtt.maxPayloadBytes + 65_541,
      maxConnections: config.mqtt.maxConnections,
      maxConnectionsPerAddress: config.mqtt.maxConnectionsPerAddress,
      traffic: broker.traffic
    }).catch(async (err: unknown) => { await broker.close(); throw err })
    // Clients first (aedes closes them and writes their state), then the sockets.
    stops.push(async () => { await broker.close(); await mqtt.close() })
    interrupted()
    logger.debug('mqtt listeners open')

    const subscriptions = await openDelivery({
      config,
      store: engine.subscriptions,
      log,
      clock,
      metrics,
      logger,
      random: options.random ?? Math.random,
      // Several nodes on one store: one owner per subscription, under a lease in the store.
      cluster: engine.subscriptionLeases === undefined
        ? undefined
        : {
            node: node.id,
            leases: engine.subscriptionLeases,
            liveNodes: async () => (await engine.nodes.list()).map((r) => r.id),
            signals: engine.signals,
            intervalMs: config.cluster.heartbeatIntervalMs,
            leaseMs: config.cluster.heartbeatExpiryMs,
            onError: (err) => logger[duringOutage(err) ? 'debug' : 'warn']({ err }, 'subscription ownership step failed')
          }
    })
    subscriptionsPort = subscriptions
    stops.push(() => subscriptions.close())
    watchState(metrics, log, subscriptions)
    interrupted()

    const commands = await openCommands({
      store: engine.commands,
      log,
      clock,
      ids,
      channel: broker.commands,
      namespace: config.namespace,
      maxOpenPerDevice: config.commands.maxOpenPerDevice,
      observer: commandsObserver(metrics, logger),
      // Several nodes on one store: each step under the command's lock there, deadlines found by every node.
      cluster: engine.sharedCommands === undefined ? undefined : { shared: engine.sharedCommands, signals: engine.signals, node: node.id, sweepIntervalMs: config.cluster.heartbeatIntervalMs }
    })
    commandsPort = commands
    stops.push(() => commands.close())
    interrupted()

    // In its worker thread unless the config says otherwise or a test injected a clock
    // (telemetry-wiring.ts); either way its state is in its own store.
    const opened: Telemetry = await openTelemetryWiring({ config, engine, log, clock, systemTime: clock === systemClock, metrics, logger, cluster: engine.subscriptionLeases !== undefined })
    stops.push(() => opened.close())
    let telemetry = opened
    // Several nodes on one store: each source stream processed by one node, under a lease.
    if (engine.subscriptionLeases !== undefined && config.telemetry.enabled) {
      const owners = startTelemetryOwnership({
        node: node.id,
        leases: engine.subscriptionLeases,
        liveNodes: async () => (await engine.nodes.list()).map((r) => r.id),
        signals: engine.signals,
        sources: config.telemetry.sources.map((s) => s.topic),
        telemetry: opened,
        clock,
        intervalMs: config.cluster.heartbeatIntervalMs,
        leaseMs: config.cluster.heartbeatExpiryMs,
        onError: (err) => logger[duringOutage(err) ? 'debug' : 'warn']({ err }, 'telemetry ownership step failed')
      })
      // First on stop: the streams' final checkpoints and leases go before telemetry closes.
      stops.push(() => owners.close())
      telemetryOwnersPort = owners
      telemetry = {
        ...opened,
        putWindow: async (name, body) => { const r = await opened.putWindow(name, body); owners.windowsChanged(); return r },
        deleteWindow: async (name) => { await opened.deleteWindow(name); owners.windowsChanged() }
      }
    }
    interrupted()

    // Device twins: projected from the routed topics (never on the PUBACK path); desired
    // documents go to devices retained at QoS 1 through the broker.
    let twins: TwinsModule | undefined
    if (config.twins.enabled) {
      twins = await openTwins({
        config: { ...config.twins, sources: config.twins.sources ?? [...new Set(config.routes.map((r) => r.topic))] },
        namespace: config.namespace,
        log,
        store: engine.twins,
        clock,
        publish: (topic, payload) => new Promise<void>((resolve, reject) => {
          broker.aedes.publish({ cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false }, (err?: Error) => { err === undefined || err === null ? resolve() : reject(err) })
        }),
        // Several nodes on one store: one projects at a time, under a lease.
        ...(engine.subscriptionLeases === undefined ? {} : { cluster: { leases: engine.subscriptionLeases, node: node.id, intervalMs: config.cluster.heartbeatIntervalMs, leaseMs: config.cluster.heartbeatExpiryMs } }),
        onError: (err) => logger[duringOutage(err) ? 'debug' : 'warn']({ err }, 'twin projection step failed; retrying'),
        // In its worker thread: nothing of it on the ingest loop but serving its reads and writes.
        ...(config.twins.worker && clock === systemClock
          ? {
              runProjection: async (o: ProjectionOptions) => {
                const thread = await startTwinsThread({ projection: o, openLog: engine.openTopicLog, store: engine.twins, logger: logger.child({ component: 'twins' }), onCrash: () => metrics.workerCrashes.inc({ worker: 'twins' }) })
                metrics.watchLoop('twins', thread.loop)
                return thread
              }
            }
          : {})
      })
      stops.push(() => (twins as TwinsModule).close())
    }
    interrupted()

    const sweeper: RetentionSweeper = startRetentionSweeper(log, clock, config.retention.sweepIntervalSeconds * 1000,
      (err) => logger[duringOutage(err) ? 'debug' : 'error']({ err }, 'retention sweep failed'))
    stops.push(() => sweeper.stop())
    interrupted()

    const http = createHttpServer({ config: effective.http, log, metrics, health, engine: engine.kind, registry, clientGroups, subscriptions, commands, telemetry, commandLimits: config.commands, clock, disconnectDevice: (id) => broker.disconnect(id), retained: broker.retained, nodes: node, schemas: schemaRegistry, ...(twins === undefined ? {} : { twins }), ...(engine.subscriptionLeases === undefined ? {} : { subscriptionCluster: { ownerWaitMs: config.cluster.heartbeatExpiryMs + 3 * config.cluster.heartbeatIntervalMs } }) }, logger)
    await http.listen({ host: config.http.host, port: config.http.port })
    stops.push(() => http.close())
    interrupted()

    const listeners: Listeners = { http: urlOf('http', http.server.address()), ...mqtt.urls } as Listeners
    // First: on stop, the other nodes see this one gone before it closes anything.
    // (Its connections' presence records are left to it meanwhile: broker.leave.)
    stops.push(async () => { await broker.leave().catch(() => undefined); await node.stop() })
    // Other nodes forward calls to the listed http listener: the advertised URL when there is one.
    const advertised = config.cluster.advertiseHttpUrl?.replace(/\/$/, '')
    await node.start({ ...listeners, ...(advertised === undefined ? {} : { http: advertised }) })
    interrupted()
    if (generated !== undefined) {
      const announce = options.announce ?? ((text: string) => process.stderr.write(text))
      announce(keyAnnouncement(generated.file, generated.key, listeners.http))
    }

    interrupted()
    health.setReady(true)
    // Scripts wait for this line, so it is written at any level short of 'silent'.
    const startup = logger.isLevelEnabled('info') || config.log.level === 'silent' ? logger : logger.child({}, { level: 'info' })
    for (const [listener, url] of Object.entries(listeners)) startup.info({ listener, url }, 'listener bound')
    startup.info({ listeners, engine: engine.kind, ...(engine.kind === 'redis' ? { node: node.id } : {}), ...(engine.durable ? { dataDir } : {}) }, 'listening')

    return {
      config: effective,
      engine: engine.kind,
      log,
      metrics,
      listeners,
      accessKeys: keys,
      registry,
      telemetry,
      twins,
      node,
      sweepRetention: () => sweeper.sweep(),
      stop: stopAll
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
