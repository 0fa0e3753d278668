import type { TimerHandle } from '../core/clock.js'
import { deviceSource, jsonCloudEvent } from '../core/cloudevent-writer.js'
import { commandTopic, parseDeviceTopic } from '../core/device-topic.js'
import { GridgateError } from '../core/errors.js'
import type { ClusterSignals, Signal } from '../core/signals.js'
import type { Commands, CommandsOptions } from './commands.js'
import { COMMANDS_TOPIC } from './commands.js'
import { isEnd, newCommand, nextDeadline, parseResponse, transition, view, type Command, type CommandEvent } from './lifecycle.js'
import type { SharedCommandStore } from './store.js'

// Commands on a store shared by the nodes of a cluster (the `redis` engine). The lifecycle is
// the same pure state machine as on one node (lifecycle.ts) and every transition is still
// stored with its event in one atomic write, but no node's memory decides anything: each step
// takes the command's lock in the store, reads the command, applies the transition and writes
// it (SharedCommandStore.locked), so two nodes acting on one command at once (a timeout here,
// the device's answer there, a cancel on a third) apply one after the other, and a command
// that ended stays ended: each transition happens, and is an event, once.
//
// - Sending: the node that holds the device's connection (channel.isReady) sends: when the
//   device subscribes to its commands (the broker tells), when a command is created on this
//   node, and when another node created one (a `commands` signal, repeated after 1, 2, 4, 8 and
//   16 × max(1 s, 10 sweep intervals) while the command is pending). The pending commands are
//   read from the store, so lost signals only delay a command, at worst to the device's next
//   connection.
// - Timers: deadlines are in the store (`due`, written with each state), and every node looks
//   for due ones every `sweepIntervalMs`: a command times out or expires within that interval of
//   its deadline, whichever nodes are alive, once (the step reads the state under the lock).
// - `?wait=`: a node whose caller waits hears a `commandEnded` signal from the node that ended
//   the command, and reads the state again every `sweepIntervalMs` in case it missed it.

export interface SharedCommandsOptions extends CommandsOptions {
  shared: SharedCommandStore
  signals: ClusterSignals
  /** This node's id (signals from it are skipped). */
  node: string
  sweepIntervalMs: number
}

type Waiter = () => void

export async function openSharedCommands (opts: SharedCommandsOptions): Promise<Commands> {
  const { store, shared, log, clock, ids, channel, observer, signals } = opts
  if (await log.getTopic(COMMANDS_TOPIC) === undefined) await log.createTopic(COMMANDS_TOPIC)
  const waiters = new Map<string, Set<Waiter>>()
  const running = new Set<Promise<unknown>>()
  // Devices being sent to, and what was asked meanwhile: another pass, with the sent ones too (`all`).
  const sending = new Map<string, { again: boolean, all: boolean }>()
  let closed = false
  const keyOf = (deviceId: string, id: string): string => `${deviceId}!${id}`
  const track = <T>(p: Promise<T>): Promise<T> => {
    running.add(p)
    void p.catch(() => undefined).then(() => running.delete(p))
    return p
  }
  const signal = (s: Omit<Signal, 'from'>): void => {
    signals.publish({ ...s, from: opts.node } as Signal).catch((err: unknown) => observer?.error?.(err, String(s.id ?? s.deviceId)))
  }

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

  const wake = (deviceId: string, id: string): void => {
    for (const w of waiters.get(keyOf(deviceId, id)) ?? []) w()
  }

  /**
   * One step of a command: under its lock, the stored state, the transition, its write. `event`
   * may depend on the state read (a deadline). Returns the command after the step (undefined
   * for an unknown command).
   */
  async function step (deviceId: string, id: string, eventOf: (c: Command) => CommandEvent | undefined): Promise<Command | undefined> {
    return await track(shared.locked(deviceId, id, async () => {
      const c = await store.get(deviceId, id)
      if (c === undefined || isEnd(c.status)) return c
      const e = eventOf(c)
      if (e === undefined) return c
      const t = transition(c, e, clock.now())
      if (t.kind === 'ignored') return c
      if (t.kind === 'changed') observer?.transition?.(t.command.status)
      await store.update(t.command, t.kind === 'changed' ? { topic: COMMANDS_TOPIC, bytes: eventFor(t.command) } : undefined)
      if (isEnd(t.command.status)) {
        wake(deviceId, id)
        signal({ kind: 'commandEnded', deviceId, id })
      }
      return t.command
    }))
  }
  const apply = async (deviceId: string, id: string, event: CommandEvent): Promise<Command | undefined> => await step(deviceId, id, () => event)

  /**
   * Sends the device's commands from the store in creation order while it listens here: the
   * pending ones, and with `resend` the sent and unanswered ones too (a device that connects
   * again has lost what was in flight).
   */
  async function sendQueue (deviceId: string, resend: boolean): Promise<void> {
    if (closed) return
    const asked = sending.get(deviceId)
    if (asked !== undefined) {
      asked.again = true
      asked.all ||= resend
      return
    }
    const state = { again: true, all: resend }
    sending.set(deviceId, state)
    try {
      while (state.again) {
        const all = state.all
        state.again = false
        state.all = false
        if (!channel.isReady(deviceId) || closed) return
        for (const c of await shared.openOf(deviceId)) {
          if (c.status !== 'pending' && !(all && c.sendCount > 0)) continue
          const now = await apply(deviceId, c.id, { type: 'send' })
          if (now === undefined || isEnd(now.status) || now.status === 'pending') continue
          await channel.publish(commandTopic(now.deviceId, now.name, now.id), Buffer.from(JSON.stringify(now.payload ?? null)))
          if (!channel.isReady(deviceId)) return
        }
      }
    } catch (err) {
      observer?.error?.(err, deviceId)
    } finally {
      sending.delete(deviceId)
    }
  }

  // A command created here for a device that is not listening here: every node hears of it
  // (the one holding the device sends it), and again a few times while it stays pending, in
  // case that signal was lost (pub/sub is at most once).
  const reminders = new Set<TimerHandle>()
  const remind = (deviceId: string, id: string, n: number): void => {
    if (closed) return
    signal({ kind: 'commands', deviceId })
    if (n >= 5) return
    const t = clock.setTimer(Math.max(1000, 10 * opts.sweepIntervalMs) * 2 ** n, () => {
      reminders.delete(t)
      store.get(deviceId, id).then((c) => { if (c?.status === 'pending') remind(deviceId, id, n + 1) }, () => undefined)
    })
    reminders.add(t)
  }

  // Timeouts and expiries of every node's commands, due or overdue.
  let timer: TimerHandle | undefined
  let sweeping: Promise<void> = Promise.resolve()
  const sweep = async (): Promise<void> => {
    const now = clock.now()
    for (const { deviceId, id } of await shared.due(now, 1000)) {
      if (closed) return
      await step(deviceId, id, (c) => {
        const d = nextDeadline(c)
        return d !== undefined && d.at <= now ? { type: d.event } : undefined
      }).catch((err: unknown) => observer?.error?.(err, id))
    }
  }
  const schedule = (): void => {
    if (closed) return
    timer = clock.setTimer(opts.sweepIntervalMs, () => {
      sweeping = sweep().catch((err: unknown) => observer?.error?.(err, 'sweep')).then(schedule)
    })
  }
  schedule()

  const stopSignals = signals.subscribe((s) => {
    if (s.from === opts.node || typeof s.deviceId !== 'string') return
    if (s.kind === 'commands') void sendQueue(s.deviceId, false)
    else if (s.kind === 'commandEnded' && typeof s.id === 'string') wake(s.deviceId, s.id)
  })
  channel.onReady((deviceId) => { void sendQueue(deviceId, true) })
  channel.onAcked((deviceId, topic) => {
    const t = parseDeviceTopic(topic)
    if (t?.kind === 'command' && t.deviceId === deviceId) apply(deviceId, t.commandId, { type: 'ack' }).catch((err: unknown) => observer?.error?.(err, t.commandId))
  })

  async function find (deviceId: string, id: string): Promise<Command> {
    const c = await store.get(deviceId, id)
    if (c === undefined) throw new GridgateError('COMMAND_NOT_FOUND', `device '${deviceId}' has no command '${id}'`, { details: { device: deviceId, command: id } })
    return c
  }

  return {
    async create (deviceId, req) {
      if (req.id !== undefined) {
        const existing = await store.get(deviceId, req.id)
        if (existing !== undefined) return { command: view(existing), created: false }
      }
      const openCount = (await shared.openOf(deviceId)).length
      if (openCount >= opts.maxOpenPerDevice) {
        throw new GridgateError('TOO_MANY_COMMANDS', `device '${deviceId}' already has ${openCount} open commands (limit ${opts.maxOpenPerDevice})`)
      }
      const seq = await store.nextSeq()
      const now = clock.now()
      const c = newCommand({ id: req.id ?? ids.next(), deviceId, name: req.name, payload: req.payload, timeoutSeconds: req.timeoutSeconds, ttlSeconds: req.ttlSeconds, seq }, now)
      // The same caller-chosen id created on two nodes at once: the lock lets one add it.
      const added = await track(shared.locked(deviceId, c.id, async () => {
        const existing = await store.get(deviceId, c.id)
        if (existing !== undefined) return existing
        observer?.transition?.('pending')
        await store.add(c, { topic: COMMANDS_TOPIC, bytes: eventFor(c) })
        return undefined
      }))
      if (added !== undefined) return { command: view(added), created: false }
      if (channel.isReady(deviceId)) void sendQueue(deviceId, false)
      else remind(deviceId, c.id, 0)
      return { command: view(await store.get(deviceId, c.id) ?? c), created: true }
    },

    get: async (deviceId, id) => view(await find(deviceId, id)),

    async list (deviceId, { status, limit, cursor }) {
      const { commands, next } = await store.list(deviceId, { status, limit, beforeSeq: cursor })
      return { value: commands.map(view), next }
    },

    async cancel (deviceId, id) {
      const c = await find(deviceId, id)
      if (c.status !== 'pending') throw new GridgateError('COMMAND_NOT_CANCELABLE', `command '${id}' is ${c.status}; only a pending command can be canceled`)
      const after = await apply(deviceId, id, { type: 'cancel' })
      // Sent by another node meanwhile: the state under the lock decided.
      if (after !== undefined && after.status !== 'canceled') throw new GridgateError('COMMAND_NOT_CANCELABLE', `command '${id}' is ${after.status}; only a pending command can be canceled`)
      return view(await find(deviceId, id))
    },

    async wait (deviceId, id, ms) {
      let c = await find(deviceId, id)
      if (isEnd(c.status) || ms <= 0) return view(c)
      const key = keyOf(deviceId, id)
      const end = clock.now() + ms
      return await new Promise((resolve) => {
        let done = false
        let poll: TimerHandle | undefined
        let reading = false
        const finish = (): void => {
          if (done) return
          done = true
          poll?.cancel()
          waiters.get(key)?.delete(check)
          if (waiters.get(key)?.size === 0) waiters.delete(key)
          resolve(view(c))
        }
        // Woken by a signal or a timer: the stored state decides.
        const check = (): void => {
          if (done || reading) return
          reading = true
          store.get(deviceId, id).then((now) => {
            reading = false
            if (now !== undefined) c = now
            if (isEnd(c.status) || clock.now() >= end) finish()
            else arm()
          }, () => { reading = false; arm() })
        }
        const arm = (): void => {
          poll?.cancel()
          if (!done) poll = clock.setTimer(Math.max(0, Math.min(opts.sweepIntervalMs, end - clock.now())), check)
        }
        let set = waiters.get(key)
        if (set === undefined) waiters.set(key, set = new Set())
        set.add(check)
        arm()
      })
    },

    async onResponse (deviceId, commandId, payload) {
      const answer = parseResponse(payload)
      if (answer === undefined) { observer?.response?.('invalid'); return }
      const c = await store.get(deviceId, commandId)
      if (c === undefined) { observer?.response?.('unknown'); return }
      if (isEnd(c.status)) { observer?.response?.('late'); return }
      observer?.response?.(c.status === 'sent' || c.status === 'delivered' ? 'matched' : 'late')
      // An answer proves the message arrived: delivered first when the PUBACK was not seen.
      await step(deviceId, commandId, (now) => now.status === 'sent' ? { type: 'ack' } : undefined)
      await apply(deviceId, commandId, { type: 'respond', ...answer })
    },

    async close () {
      closed = true
      timer?.cancel()
      for (const t of reminders) t.cancel()
      stopSignals()
      await sweeping
      await Promise.all([...running].map(async (p) => await p.catch(() => undefined)))
    }
  }
}
