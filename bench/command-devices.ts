import type { Socket } from 'node:net'
import { performance, PerformanceObserver } from 'node:perf_hooks'
import { connect, type MqttClient } from 'mqtt'
import { pacedStarts } from './common.js'

// The device fleet of the commands bench (bench/commands.ts), a child process with an IPC
// channel (advanced serialization), so the devices do not share an event loop with the
// HTTP callers or the MQTT requester in the bench process. Each device is one mqtt.js
// client (MQTT 3.1.1, TCP, clean session) that subscribes to `devices/{id}/commands/#` at
// QoS 1 and answers every message on `devices/{id}/commands/{name}/{commandId}` at once
// with `{"status":"succeeded","result":<the payload it got>}` on
// `devices/{id}/responses/{commandId}` at QoS 1. The same code answers gridgate and bare
// aedes. The bench sends commands ({ call, cmd, ... }) and gets one reply per call
// ({ reply, ok, result | error }); connection progress streams as { stream: 'connecting' }.

export type FleetDevice = [id: string, password: string | undefined]

export type FleetCommand =
  | { cmd: 'connect', group: string, url: string, devices: FleetDevice[], concurrency: number, rate: number, keepalive: number }
  | { cmd: 'counts', group: string }
  | { cmd: 'end', group: string }
  | { cmd: 'loop' }

export interface FleetConnectResult {
  connected: number
  failed: number
  firstError?: string
  seconds: number
}

export interface FleetCounts {
  /** Command messages received. */
  received: number
  /** Answers published and acknowledged by the broker (PUBACK). */
  answered: number
  /** Answers whose publish failed. */
  failed: number
  firstError?: string
  /** Devices whose connection is still open. */
  alive: number
}

export interface FleetStream { stream: 'connecting', group: string, connected: number, failed: number }

interface Sim {
  client: MqttClient
  alive: boolean
}

interface Group {
  devices: Sim[]
  received: number
  answered: number
  failed: number
  firstError?: string
}

const groups = new Map<string, Group>()

/** Garbage-collection pauses of this process (ms). */
let gcMs = 0
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcMs += e.duration }).observe({ entryTypes: ['gc'] })

const ANSWER_HEAD = Buffer.from('{"status":"succeeded","result":')
const ANSWER_TAIL = Buffer.from('}')
const NULL = Buffer.from('null')

/**
 * Nagle's algorithm off on the device's socket (mqtt.js leaves it on): a device writes its
 * answer and the PUBACK of the command back to back, and with Nagle the second small write
 * waits for the broker's delayed ACK (40 ms on Linux) whenever the broker has nothing to send.
 */
function noDelay (client: MqttClient): void {
  (client.stream as Partial<Socket> | undefined)?.setNoDelay?.(true)
}

function send (message: unknown): void {
  process.send?.(message)
}

/** Answers one command message; `prefix` is `devices/{id}/`. */
function answer (group: Group, client: MqttClient, prefix: string, topic: string, payload: Buffer): void {
  group.received += 1
  // devices/{id}/commands/{name}/{commandId}: the command id is the last level.
  const commandId = topic.slice(topic.lastIndexOf('/') + 1)
  if (!topic.startsWith(prefix) || commandId === '') {
    group.failed += 1
    group.firstError ??= `unexpected topic '${topic}'`
    return
  }
  const body = Buffer.concat([ANSWER_HEAD, payload.length === 0 ? NULL : payload, ANSWER_TAIL])
  client.publish(`${prefix}responses/${commandId}`, body, { qos: 1 }, (err) => {
    if (err === undefined || err === null) {
      group.answered += 1
    } else {
      group.failed += 1
      group.firstError ??= `${prefix}responses/${commandId}: ${err.message}`
    }
  })
}

async function connectGroup (c: Extract<FleetCommand, { cmd: 'connect' }>): Promise<FleetConnectResult> {
  const group: Group = groups.get(c.group) ?? { devices: [], received: 0, answered: 0, failed: 0 }
  groups.set(c.group, group)
  let connected = 0
  let failed = 0
  let failedFirst: string | undefined
  const t0 = performance.now()
  const progressTimer = setInterval(() => send({ stream: 'connecting', group: c.group, connected, failed } satisfies FleetStream), 1000)
  try {
    await pacedStarts(c.devices.length, c.rate, c.concurrency, (i, done) => {
      const [id, password] = c.devices[i] as FleetDevice
      const client = connect(c.url, {
        clientId: id,
        username: password === undefined ? undefined : id,
        password,
        clean: true,
        protocolVersion: 4,
        keepalive: c.keepalive,
        reconnectPeriod: 0,
        connectTimeout: 60_000,
        resubscribe: false
      })
      noDelay(client)
      const prefix = `devices/${id}/`
      let settled = false
      const settle = (err?: string): void => {
        if (settled) return
        settled = true
        if (err === undefined) {
          connected += 1
          const sim: Sim = { client, alive: true }
          group.devices.push(sim)
          client.on('close', () => { sim.alive = false })
        } else {
          failed += 1
          failedFirst ??= `${id}: ${err}`
          client.end(true)
        }
        done()
      }
      client.on('message', (topic, payload) => { answer(group, client, prefix, topic, payload) })
      client.once('connect', () => {
        client.subscribe(`${prefix}commands/#`, { qos: 1 }, (err, granted) => {
          if (err !== undefined && err !== null) { settle(`subscribe: ${err.message}`); return }
          const qos = granted?.[0]?.qos
          if (qos !== 1) { settle(`subscribe to ${prefix}commands/# granted QoS ${String(qos)}`); return }
          settle()
        })
      })
      client.on('error', (e) => settle(e.message))
      client.once('close', () => settle('closed before SUBACK'))
    })
  } finally {
    clearInterval(progressTimer)
  }
  const result: FleetConnectResult = { connected, failed, seconds: (performance.now() - t0) / 1000 }
  if (failedFirst !== undefined) result.firstError = failedFirst
  return result
}

async function endGroup (name: string): Promise<number> {
  const group = groups.get(name)
  if (group === undefined) return 0
  groups.delete(name)
  await Promise.all(group.devices.map((sim) => new Promise<void>((resolve) => { sim.client.end(true, {}, () => resolve()) })))
  return group.devices.length
}

async function execute (c: FleetCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'connect': return await connectGroup(c)
    case 'counts': {
      const g = groups.get(c.group)
      const counts: FleetCounts = { received: g?.received ?? 0, answered: g?.answered ?? 0, failed: g?.failed ?? 0, alive: g?.devices.filter((d) => d.alive).length ?? 0 }
      if (g?.firstError !== undefined) counts.firstError = g.firstError
      return counts
    }
    case 'end': return await endGroup(c.group)
    case 'loop': return { loopActiveMs: performance.eventLoopUtilization().active, gcMs }
  }
}

process.on('message', (m: unknown) => {
  const { call, ...command } = m as { call: number } & FleetCommand
  execute(command as FleetCommand).then(
    (result) => { send({ reply: call, ok: true, result }) },
    (err: unknown) => { send({ reply: call, ok: false, error: (err as Error).stack ?? String(err) }) }
  )
})
// The bench going away ends the fleet too.
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))
process.stdout.write(JSON.stringify({ msg: 'listening', listeners: {} }) + '\n')
