import type { CommandChannel } from '../broker/broker.js'
import type { Clock, TimerHandle } from '../core/clock.js'
import { deviceSource, jsonCloudEvent } from '../core/cloudevent-writer.js'
import { commandTopic, parseDeviceTopic } from '../core/device-topic.js'
import { GridgateError } from '../core/errors.js'
import type { IdGenerator } from '../core/ids.js'
import type { TopicLog } from '../log/types.js'
import { isEnd, newCommand, nextDeadline, parseResponse, transition, view, type Command, type CommandEvent, type CommandStatus } from './lifecycle.js'
import type { CommandRequest } from './request.js'
import { openSharedCommands } from './shared-commands.js'
import type { ClusterSignals } from '../core/signals.js'
import type { CommandStore, SharedCommandStore } from './store.js'

// Commands to devices: stored, sent over MQTT when the device is there (in creation order),
// followed to an end state, with every transition a CloudEvent on the `commands` topic.
// Decisions are taken on the in-memory state, synchronously; each command's writes then go
// out in order, each state with its transition event in one atomic write (CommandStore).
// A command is published without waiting for its `sent` write: after a crash before that
// write it is still pending and is sent again (at least once, as every resend).

export const COMMANDS_TOPIC = 'commands'

export interface CommandsObserver {
  transition?: (status: CommandStatus) => void
  /** An answer that changed nothing: late, repeated, unknown, or not a valid answer. */
  response?: (outcome: 'matched' | 'late' | 'unknown' | 'invalid') => void
  error?: (err: unknown, commandId: string) => void
}

export interface Commands {
  create: (deviceId: string, req: CommandRequest) => Promise<{ command: Record<string, unknown>, created: boolean }>
  get: (deviceId: string, id: string) => Promise<Record<string, unknown>>
  list: (deviceId: string, opts: { status?: CommandStatus, limit: number, cursor?: number }) => Promise<{ value: Array<Record<string, unknown>>, next?: number }>
  cancel: (deviceId: string, id: string) => Promise<Record<string, unknown>>
  /** Resolves with the command once it ends, or as it is when `ms` runs out. */
  wait: (deviceId: string, id: string, ms: number) => Promise<Record<string, unknown>>
  /** A device's message on devices/{id}/responses/{commandId}. */
  onResponse: (deviceId: string, commandId: string, payload: Buffer) => Promise<void>
  close: () => Promise<void>
}

export interface CommandsOptions {
  /** Where commands are kept; the caller opened it and closes it after `close`. */
  store: CommandStore
  log: TopicLog
  clock: Clock
  ids: IdGenerator
  channel: CommandChannel
  namespace: string
  maxOpenPerDevice: number
  observer?: CommandsObserver
  /**
   * On a store shared by several nodes: every step under the command's lock in the store,
   * timers from the store (shared-commands.ts). Absent: this process decides (below).
   */
  cluster?: { shared: SharedCommandStore, signals: ClusterSignals, node: string, sweepIntervalMs: number }
}

export async function openCommands (opts: CommandsOptions): Promise<Commands> {
  if (opts.cluster !== undefined) return await openSharedCommands({ ...opts, ...opts.cluster })
  const { store, log, clock, ids, channel, observer } = opts
  if (await log.getTopic(COMMANDS_TOPIC) === undefined) await log.createTopic(COMMANDS_TOPIC)

  const open = new Map<string, Command>() // `${deviceId}!${id}` -> command not ended
  const timers = new Map<string, TimerHandle>()
  const waiters = new Map<string, Array<(c: Command) => void>>()
  const chains = new Map<string, Promise<void>>()
  const sending = new Set<string>() // devices whose queue is being sent
  // Sent but unanswered commands go out again whenever their device comes back: a clean
  // session lost the message with the connection, and after a restart nobody knows.
  const needsResend = new Set<string>()
  let closed = false
  const keyOf = (deviceId: string, id: string): string => `${deviceId}!${id}`

  function eventFor (c: Command): Buffer {
    return Buffer.from(jsonCloudEvent({
      id: ids.next(),
      source: deviceSource(opts.namespace, c.deviceId),
      type: `device.command.${c.status}`,
      subject: `devices/${c.deviceId}/commands/${c.id}`,
      time: c.updatedAt,
      deviceId: c.deviceId,
      data: view(c)
    }))
  }

  /** Writes in order per command: the state, with the transition's event in the same atomic write. */
  function persist (c: Command, isNew: boolean, withEvent: boolean): Promise<void> {
    const key = keyOf(c.deviceId, c.id)
    const event = withEvent ? { topic: COMMANDS_TOPIC, bytes: eventFor(c) } : undefined
    const run = (chains.get(key) ?? Promise.resolve()).then(async () => {
      await (isNew ? store.add(c, event) : store.update(c, event))
    })
    const tail = run.catch((err: unknown) => observer?.error?.(err, c.id))
    chains.set(key, tail)
    void tail.then(() => { if (chains.get(key) === tail) chains.delete(key) })
    return run
  }

  function arm (c: Command): void {
    const key = keyOf(c.deviceId, c.id)
    timers.get(key)?.cancel()
    timers.delete(key)
    const d = nextDeadline(c)
    if (d === undefined || closed) return
    timers.set(key, clock.setTimer(Math.max(0, d.at - clock.now()), () => {
      timers.delete(key)
      void apply(c.deviceId, c.id, { type: d.event })
    }))
  }

  /** Applies an event to an open command; returns the transition (and its write). */
  function apply (deviceId: string, id: string, event: CommandEvent): Promise<void> {
    const key = keyOf(deviceId, id)
    const c = open.get(key)
    if (c === undefined) return Promise.resolve()
    const t = transition(c, event, clock.now())
    if (t.kind === 'ignored') return Promise.resolve()
    const next = t.command
    if (isEnd(next.status)) {
      open.delete(key)
      timers.get(key)?.cancel()
      timers.delete(key)
    } else {
      open.set(key, next)
      if (t.kind === 'changed') arm(next)
    }
    if (t.kind === 'changed') observer?.transition?.(next.status)
    const written = persist(next, false, t.kind === 'changed')
    if (isEnd(next.status)) {
      void written.finally(() => {
        for (const w of waiters.get(key) ?? []) w(next)
        waiters.delete(key)
      })
    }
    return written
  }

  /** Sends the device's open commands in creation order, if it is listening. */
  async function sendQueue (deviceId: string): Promise<void> {
    if (sending.has(deviceId) || closed) return
    sending.add(deviceId)
    try {
      for (;;) {
        if (!channel.isReady(deviceId)) return
        const due = [...open.values()]
          .filter((c) => c.deviceId === deviceId && (c.status === 'pending' || needsResend.has(keyOf(c.deviceId, c.id))))
          .sort((a, b) => a.seq - b.seq)
        if (due.length === 0) return
        // A command is published without waiting for its own `sent` write (its failure is
        // reported by persist), but the next one waits for it: a device's backlog goes out at
        // the pace of the writes, not all at once into a socket that may not be reading.
        let previous: Promise<void> = Promise.resolve()
        for (const c of due) {
          needsResend.delete(keyOf(c.deviceId, c.id))
          await previous
          previous = apply(deviceId, c.id, { type: 'send' }).catch(() => undefined)
          const now = open.get(keyOf(deviceId, c.id))
          if (now === undefined) continue
          await channel.publish(commandTopic(now.deviceId, now.name, now.id), Buffer.from(JSON.stringify(now.payload ?? null)))
        }
      }
    } catch (err) {
      observer?.error?.(err, deviceId)
    } finally {
      sending.delete(deviceId)
    }
  }

  for (const c of await store.loadOpen()) {
    open.set(keyOf(c.deviceId, c.id), c)
    if (c.status !== 'pending') needsResend.add(keyOf(c.deviceId, c.id))
    arm(c)
  }

  channel.onReady((deviceId) => {
    for (const c of open.values()) {
      if (c.deviceId === deviceId && c.status !== 'pending' && c.sendCount > 0) needsResend.add(keyOf(c.deviceId, c.id))
    }
    void sendQueue(deviceId)
  })
  channel.onAcked((deviceId, topic) => {
    const t = parseDeviceTopic(topic)
    if (t?.kind === 'command' && t.deviceId === deviceId) void apply(deviceId, t.commandId, { type: 'ack' })
  })
  // Devices that are already listening when the gateway starts.
  for (const deviceId of new Set([...open.values()].map((c) => c.deviceId))) void sendQueue(deviceId)

  async function find (deviceId: string, id: string): Promise<Command> {
    const c = open.get(keyOf(deviceId, id)) ?? await store.get(deviceId, id)
    if (c === undefined) throw new GridgateError('COMMAND_NOT_FOUND', `device '${deviceId}' has no command '${id}'`, { details: { device: deviceId, command: id } })
    return c
  }

  return {
    async create (deviceId, req) {
      if (req.id !== undefined) {
        const existing = open.get(keyOf(deviceId, req.id)) ?? await store.get(deviceId, req.id)
        if (existing !== undefined) return { command: view(existing), created: false }
      }
      // The seq comes from the store (on a shared engine, across instances). Creates that ran
      // while it was on its way are in `open`, so the checks below come after it, with no await.
      const seq = await store.nextSeq()
      const concurrent = req.id === undefined ? undefined : open.get(keyOf(deviceId, req.id))
      if (concurrent !== undefined) return { command: view(concurrent), created: false }
      let openCount = 0
      for (const c of open.values()) if (c.deviceId === deviceId) openCount++
      if (openCount >= opts.maxOpenPerDevice) {
        throw new GridgateError('TOO_MANY_COMMANDS', `device '${deviceId}' already has ${openCount} open commands (limit ${opts.maxOpenPerDevice})`)
      }
      const now = clock.now()
      const c = newCommand({ id: req.id ?? ids.next(), deviceId, name: req.name, payload: req.payload, timeoutSeconds: req.timeoutSeconds, ttlSeconds: req.ttlSeconds, seq }, now)
      const key = keyOf(deviceId, c.id)
      open.set(key, c)
      observer?.transition?.('pending')
      try {
        await persist(c, true, true)
      } catch (err) {
        open.delete(key)
        throw err
      }
      arm(c)
      void sendQueue(deviceId)
      return { command: view(open.get(key) ?? c), created: true }
    },

    get: async (deviceId, id) => view(await find(deviceId, id)),

    async list (deviceId, { status, limit, cursor }) {
      // Writes still on their way are in memory only; wait for them so the list is complete.
      await Promise.all([...chains.values()])
      const { commands, next } = await store.list(deviceId, { status, limit, beforeSeq: cursor })
      return { value: commands.map((c) => view(open.get(keyOf(c.deviceId, c.id)) ?? c)), next }
    },

    async cancel (deviceId, id) {
      const c = await find(deviceId, id)
      if (c.status !== 'pending') throw new GridgateError('COMMAND_NOT_CANCELABLE', `command '${id}' is ${c.status}; only a pending command can be canceled`)
      await apply(deviceId, id, { type: 'cancel' })
      return view(await find(deviceId, id))
    },

    async wait (deviceId, id, ms) {
      const c = await find(deviceId, id)
      const key = keyOf(deviceId, id)
      if (isEnd(c.status) || ms <= 0) return view(c)
      return await new Promise((resolve) => {
        const timer = clock.setTimer(ms, () => {
          const list = waiters.get(key) ?? []
          waiters.set(key, list.filter((w) => w !== done))
          resolve(view(open.get(key) ?? c))
        })
        const done = (ended: Command): void => { timer.cancel(); resolve(view(ended)) }
        waiters.set(key, [...(waiters.get(key) ?? []), done])
      })
    },

    async onResponse (deviceId, commandId, payload) {
      const answer = parseResponse(payload)
      if (answer === undefined) { observer?.response?.('invalid'); return }
      const c = open.get(keyOf(deviceId, commandId))
      if (c === undefined) {
        observer?.response?.(await store.get(deviceId, commandId) === undefined ? 'unknown' : 'late')
        return
      }
      // An answer to a command not sent yet (a device guessing ids) changes nothing either.
      observer?.response?.(c.status === 'sent' || c.status === 'delivered' ? 'matched' : 'late')
      // An answer proves the message arrived, even if its PUBACK has not been seen (aedes
      // reports PUBACKs of clean sessions without the message): record delivered first.
      if (c.status === 'sent') void apply(deviceId, commandId, { type: 'ack' })
      await apply(deviceId, commandId, { type: 'respond', ...answer })
    },

    async close () {
      closed = true
      for (const t of timers.values()) t.cancel()
      timers.clear()
      // Every write has settled; the store itself is the caller's to close.
      await Promise.all([...chains.values()])
    }
  }
}
