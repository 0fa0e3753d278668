import { afterEach, describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { createLocalLeases, type SubscriptionLeases } from '../../src/core/leases.js'
import { createLocalSignals } from '../../src/core/signals.js'
import { REBALANCE_AFTER, startTelemetryOwnership, streamKey, type TelemetryOwnership } from '../../src/telemetry/ownership.js'
import type { StoreFence } from '../../src/telemetry/store.js'
import { until } from '../helpers/wait.js'

// Which node processes each telemetry source stream, between "nodes" in one process over
// in-process leases and signals on a manual clock. The streams themselves are what each node
// is told to run (own / extend / disown); the kill -9 flow with real streams and Redis is
// test/flows/cluster-telemetry.test.ts.

const INTERVAL = 100
const LEASE = 1000
const SOURCES = ['telemetry', 'plant-a', 'plant-b', 'plant-c', 'plant-d', 'plant-e']
const running: TelemetryOwnership[] = []
afterEach(async () => { for (const o of running.splice(0)) await o.close().catch(() => undefined) })

interface Node {
  id: string
  /** What this node runs now, with the end of its writes. */
  streams: Map<string, { fence: StoreFence, until: number }>
  disowned: Array<[string, boolean]>
  ownership: TelemetryOwnership
}

function setup () {
  const clock = new ManualClock(1_000_000)
  const shared = createLocalLeases(clock)
  const signals = createLocalSignals()
  const live = new Set<string>()
  const dead = new Set<string>()
  const start = (id: string): Node => {
    live.add(id)
    // A dead node's lease calls fail and its timers never run again, as a killed process.
    const guard = <T>(fn: () => Promise<T>): Promise<T> => dead.has(id) ? new Promise<T>(() => {}) : fn()
    const leases: SubscriptionLeases = {
      acquire: (...a) => guard(() => shared.acquire(...a)),
      renew: (...a) => guard(() => shared.renew(...a)),
      release: (...a) => guard(() => shared.release(...a)),
      clear: (...a) => guard(() => shared.clear(...a)),
      owners: (...a) => guard(() => shared.owners(...a))
    }
    const node: Node = { id, streams: new Map(), disowned: [], ownership: undefined as unknown as TelemetryOwnership }
    node.ownership = startTelemetryOwnership({
      node: id,
      leases,
      liveNodes: async () => [...live],
      signals,
      sources: SOURCES,
      clock,
      intervalMs: INTERVAL,
      leaseMs: LEASE,
      telemetry: {
        own: async (source, fence, until) => { node.streams.set(source, { fence, until }) },
        extend: async (source, until) => { const s = node.streams.get(source); if (s !== undefined) s.until = until },
        disown: async (source, checkpoint) => { node.streams.delete(source); node.disowned.push([source, checkpoint]) },
        reloadWindows: async () => {}
      }
    })
    running.push(node.ownership)
    return node
  }
  // Its calls hang from now on: it is not closed at the end either.
  const kill = (n: Node): void => { dead.add(n.id); live.delete(n.id); running.splice(running.indexOf(n.ownership), 1) }
  /** Advances the clock by intervals, letting each step's promises run. */
  const intervals = async (k: number): Promise<void> => {
    for (let i = 0; i < k; i++) {
      clock.advance(INTERVAL)
      for (let j = 0; j < 20; j++) await Promise.resolve()
    }
  }
  return { clock, shared, start, kill, intervals }
}

const owners = (nodes: Node[]): Map<string, string[]> => {
  const out = new Map<string, string[]>(SOURCES.map((s) => [s, []]))
  for (const n of nodes) for (const s of n.streams.keys()) out.get(s)?.push(n.id)
  return out
}

describe('telemetry stream ownership', () => {
  it('each source stream runs on exactly one node, spread over the nodes, writing until one interval before its lease ends', async () => {
    const { start, intervals, clock, shared } = setup()
    const nodes = [start('n1'), start('n2'), start('n3')]
    await until(async () => { await intervals(1); return [...owners(nodes).values()].every((o) => o.length === 1) }, { timeoutMs: 10_000, what: 'one owner per stream' })
    await intervals(2 * REBALANCE_AFTER)
    const map = owners(nodes)
    for (const [source, who] of map) {
      expect(who).toHaveLength(1)
      const lease = (await shared.owners([streamKey(source)]))[0]
      expect(lease?.node).toBe(who[0])
      const s = nodes.find((n) => n.id === who[0])?.streams.get(source)
      expect(s?.fence).toEqual({ key: streamKey(source), lease })
      // Renewed every interval: the writes' end is ahead of now by at least lease − 2 intervals.
      expect(s!.until).toBeGreaterThanOrEqual(clock.now() + LEASE - 2 * INTERVAL)
      expect(s!.until).toBeLessThanOrEqual(clock.now() + LEASE - INTERVAL)
    }
    expect(new Set([...map.values()].map((w) => w[0])).size).toBeGreaterThan(1)
    expect(await nodes[0]!.ownership.ownedBy(['n1', 'n2', 'n3'])).toEqual(['n1', 'n2', 'n3'].map((id) => [...map.values()].filter((w) => w[0] === id).length))
  })

  it("a dead node's streams move to the others once its leases lapse, never while they stand", async () => {
    const { start, kill, intervals } = setup()
    const nodes = [start('n1'), start('n2')]
    await until(async () => { await intervals(1); return [...owners(nodes).values()].every((o) => o.length === 1) }, { timeoutMs: 10_000, what: 'one owner per stream' })
    const victim = nodes.find((n) => n.streams.size > 0) as Node
    const other = nodes.find((n) => n !== victim) as Node
    const held = [...victim.streams.keys()]
    kill(victim)
    // Within the lease nobody else runs them.
    await intervals(LEASE / INTERVAL - 3)
    for (const s of held) expect(other.streams.has(s)).toBe(false)
    await until(async () => { await intervals(1); return held.every((s) => other.streams.has(s)) }, { timeoutMs: 10_000, what: 'the survivor running the dead node\'s streams' })
    for (const s of held) expect(other.streams.get(s)?.fence.lease.node).toBe(other.id)
  })

  it('a node that joins gets its share after the hysteresis: the owner hands over with a final checkpoint', async () => {
    const { start, intervals } = setup()
    const first = start('n1')
    await until(async () => { await intervals(1); return first.streams.size === SOURCES.length }, { timeoutMs: 10_000, what: 'n1 running every stream' })
    const joiner = start('n2')
    await until(async () => { await intervals(1); return joiner.streams.size > 0 && [...owners([first, joiner]).values()].every((o) => o.length === 1) }, { timeoutMs: 10_000, what: 'n2 taking its share' })
    await intervals(2 * REBALANCE_AFTER)
    expect(first.disowned.length).toBe(joiner.streams.size)
    expect(first.disowned.every(([, checkpoint]) => checkpoint)).toBe(true)
    expect([...owners([first, joiner]).values()].every((o) => o.length === 1)).toBe(true)
  })

  it('a lost lease stops the stream here without a checkpoint', async () => {
    const { start, intervals, shared } = setup()
    const n = start('n1')
    await until(async () => { await intervals(1); return n.streams.has('telemetry') }, { timeoutMs: 10_000, what: 'n1 running the stream' })
    // Another holder now (the lease lapsed while this node was paused, say).
    await shared.clear(streamKey('telemetry'))
    await shared.acquire(streamKey('telemetry'), 'n9', 60_000)
    await until(async () => { await intervals(1); return !n.streams.has('telemetry') }, { timeoutMs: 10_000, what: 'the stream stopped on n1' })
    expect(n.disowned).toContainEqual(['telemetry', false])
  })
})
