import { describe, expect, it } from 'vitest'
import type { CommandChannel } from '../../src/broker/command-channel.js'
import { COMMANDS_TOPIC, openCommands, type Commands } from '../../src/commands/commands.js'
import { createInProcessSharedCommands } from '../../src/commands/store.js'
import { ManualClock } from '../../src/core/clock.js'
import { commandTopic } from '../../src/core/device-topic.js'
import { createLocalSignals } from '../../src/core/signals.js'
import { openMemoryDb } from '../../src/storage/level/db.js'
import { levelCommandStore } from '../../src/storage/level/command-store.js'
import { openLevelTopicLogs } from '../../src/storage/level/topic-log.js'
import { until } from '../helpers/wait.js'

// Commands on a store shared by several nodes (shared-commands.ts), two "nodes" in this process
// on one store, one signal bus and a manual clock: which node sends, who ends a command, timers
// that fire once whoever sweeps, and a node that is gone. The store is the memory engine's
// adapter with an in-process SharedCommandStore (locks in this process); Redis' is tested in
// shared-command-store.test.ts and across processes in test/flows/cluster-commands.test.ts.

const SWEEP_MS = 100

/** A broker's command channel with devices that are "here" or not, recording what it sends. */
function fakeChannel () {
  const ready = new Set<string>()
  const readyListeners: Array<(id: string) => void> = []
  const sent: string[] = []
  const channel: CommandChannel = {
    publish: async (topic) => { sent.push(topic) },
    isReady: (id) => ready.has(id),
    onReady: (l) => { readyListeners.push(l) },
    onAcked: () => {}
  }
  return { channel, sent, connect: (id: string) => { ready.add(id); for (const l of readyListeners) l(id) }, leave: (id: string) => { ready.delete(id) } }
}

async function setup () {
  const db = await openMemoryDb()
  const clock = new ManualClock(Date.UTC(2026, 0, 1))
  const logs = await openLevelTopicLogs({ storage: db, clock, sync: false, maxBatchEvents: 1000, maxBatchBytes: 1 << 20, cacheBytes: 0, defaultRetention: { maxAgeSeconds: 0, maxBytes: 0 } })
  const store = await levelCommandStore(db, { sync: false, logs })
  const shared = createInProcessSharedCommands(store)
  const signals = createLocalSignals()
  let n = 0
  const node = async (name: string): Promise<{ commands: Commands, channel: ReturnType<typeof fakeChannel> }> => {
    const channel = fakeChannel()
    const commands = await openCommands({
      store,
      log: logs.view(),
      clock,
      ids: { next: () => `${name}-${++n}` },
      channel: channel.channel,
      namespace: 'gridgate',
      maxOpenPerDevice: 10,
      cluster: { shared, signals, node: name, sweepIntervalMs: SWEEP_MS }
    })
    return { commands, channel }
  }
  const transitions = async (id: string): Promise<string[]> => {
    const { records } = await logs.view().read(COMMANDS_TOPIC, { offset: 0 }, 1000)
    return records
      .map((r) => JSON.parse(r.bytes.toString()) as { type: string, data: { id: string } })
      .filter((e) => e.data.id === id)
      .map((e) => e.type.slice('device.command.'.length))
  }
  const status = async (id: string): Promise<string | undefined> => (await store.get('dev-1', id))?.status
  const cleanup = async (...nodes: Commands[]): Promise<void> => {
    for (const c of nodes) await c.close()
    await store.close()
    await logs.close()
    await db.close()
  }
  return { clock, node, transitions, status, cleanup }
}

const request = { name: 'reboot', payload: { delay: 1 }, timeoutSeconds: 5, ttlSeconds: 60 }
const answer = Buffer.from(JSON.stringify({ status: 'succeeded', result: { ok: true } }))

describe('commands on a shared store, two nodes', () => {
  it('sends a command created on node A from node B, which holds the device; the answer on B wakes a wait on A', async () => {
    const { node, transitions, cleanup } = await setup()
    const a = await node('a')
    const b = await node('b')
    try {
      b.channel.connect('dev-1')
      const { command } = await a.commands.create('dev-1', request)
      const id = command.id as string
      await until(() => b.channel.sent.length === 1, { timeoutMs: 5000, what: 'the send on node B' })
      expect(b.channel.sent).toEqual([commandTopic('dev-1', 'reboot', id)])
      expect(a.channel.sent).toEqual([])
      const waiting = a.commands.wait('dev-1', id, 30_000)
      await b.commands.onResponse('dev-1', id, answer)
      expect(await waiting).toMatchObject({ status: 'succeeded', result: { ok: true } })
      expect(await transitions(id)).toEqual(['pending', 'sent', 'delivered', 'succeeded'])
      // A late answer (on either node) changes nothing.
      await a.commands.onResponse('dev-1', id, answer)
      expect(await transitions(id)).toEqual(['pending', 'sent', 'delivered', 'succeeded'])
    } finally { await cleanup(a.commands, b.commands) }
  })

  it('sends pending commands in creation order when the device comes to a node, and resends unanswered ones when it comes back', async () => {
    const { node, status, cleanup } = await setup()
    const a = await node('a')
    const b = await node('b')
    try {
      const first = (await a.commands.create('dev-1', { ...request, name: 'one' })).command.id as string
      const second = (await b.commands.create('dev-1', { ...request, name: 'two' })).command.id as string
      b.channel.connect('dev-1')
      await until(async () => await status(second) === 'sent', { timeoutMs: 5000, what: 'both sent' })
      expect(b.channel.sent).toEqual([commandTopic('dev-1', 'one', first), commandTopic('dev-1', 'two', second)])
      b.channel.leave('dev-1')
      a.channel.connect('dev-1')
      await until(() => a.channel.sent.length === 2, { timeoutMs: 5000, what: 'both resent from node A' })
      expect((await a.commands.get('dev-1', first)).sendCount).toBe(2)
    } finally { await cleanup(a.commands, b.commands) }
  })

  it('times a command out once when both nodes sweep, and expires one whose node is gone', async () => {
    const { clock, node, transitions, status, cleanup } = await setup()
    const a = await node('a')
    const b = await node('b')
    try {
      a.channel.connect('dev-1')
      const timing = (await a.commands.create('dev-1', request)).command.id as string
      await until(async () => await status(timing) === 'sent', { timeoutMs: 5000, what: 'sent' })
      const expiring = (await a.commands.create('dev-2', { ...request, ttlSeconds: 2 })).command.id as string
      // Node A stops; node B alone fires its timers from the store.
      await a.commands.close()
      for (let t = 0; t < 60; t++) {
        clock.advance(SWEEP_MS)
        await new Promise((resolve) => setImmediate(resolve))
      }
      await until(async () => await status(timing) === 'timedOut', { timeoutMs: 5000, what: 'the timeout' })
      await until(async () => (await b.commands.get('dev-2', expiring)).status === 'expired', { timeoutMs: 5000, what: 'the expiry' })
      for (let t = 0; t < 20; t++) clock.advance(SWEEP_MS)
      expect(await transitions(timing)).toEqual(['pending', 'sent', 'timedOut'])
      expect(await transitions(expiring)).toEqual(['pending', 'expired'])
    } finally { await cleanup(b.commands) }
  })

  it('applies a timeout and an answer arriving together in one order: one end, one event', async () => {
    const { clock, node, transitions, status, cleanup } = await setup()
    const a = await node('a')
    const b = await node('b')
    try {
      a.channel.connect('dev-1')
      const id = (await a.commands.create('dev-1', request)).command.id as string
      await until(async () => await status(id) === 'sent', { timeoutMs: 5000, what: 'sent' })
      clock.advance(5000) // due now: node B's sweep and node A's answer race
      const racing = a.commands.onResponse('dev-1', id, answer)
      clock.advance(SWEEP_MS)
      await racing
      await until(async () => ['succeeded', 'timedOut'].includes(await status(id) ?? ''), { timeoutMs: 5000, what: 'an end' })
      for (let t = 0; t < 10; t++) {
        clock.advance(SWEEP_MS)
        await new Promise((resolve) => setImmediate(resolve))
      }
      const ends = (await transitions(id)).filter((t) => t === 'succeeded' || t === 'timedOut')
      expect(ends).toHaveLength(1)
    } finally { await cleanup(a.commands, b.commands) }
  })

  it('refuses to cancel a command another node sent, and cancels a pending one from any node', async () => {
    const { node, status, cleanup } = await setup()
    const a = await node('a')
    const b = await node('b')
    try {
      const pending = (await a.commands.create('dev-1', request)).command.id as string
      expect(await b.commands.cancel('dev-1', pending)).toMatchObject({ status: 'canceled' })
      a.channel.connect('dev-1')
      const sent = (await a.commands.create('dev-1', request)).command.id as string
      await until(async () => await status(sent) === 'sent', { timeoutMs: 5000, what: 'sent' })
      await expect(b.commands.cancel('dev-1', sent)).rejects.toMatchObject({ code: 'COMMAND_NOT_CANCELABLE' })
    } finally { await cleanup(a.commands, b.commands) }
  })
})
