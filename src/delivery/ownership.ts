import type { Clock } from '../core/clock.js'
import type { ClusterSignals } from '../core/signals.js'
import { startStepLoop } from '../core/step-loop.js'
import type { TopicLog } from '../log/types.js'
import { preferredOwner, type Lease, type SubscriptionLeases } from './leases.js'
import type { StoredSubscription, SubscriptionStore } from './store.js'

// Which event subscriptions this node delivers, on a cluster (subscriptions.ts says what
// owning one means). Each interval, and at once when another node signals a change: renew the
// leases held (a lost one: the subscription is closed here), give back those a live node is
// preferred for (rendezvous hashing over the live nodes, leases.ts) once that node was seen
// live for REBALANCE_AFTER intervals, so ownership does not flap, and take the free ones this
// node is preferred for, or any left free for REBALANCE_AFTER intervals. A held subscription
// whose definition changed is opened again with it; one whose definition is gone is closed.

export interface SubscriptionCluster {
  /** This node's id. */
  node: string
  leases: SubscriptionLeases
  /** The ids of the live nodes (this one is counted live anyway). */
  liveNodes: () => Promise<string[]>
  signals: ClusterSignals
  /** How often leases are renewed and ownership reconsidered. */
  intervalMs: number
  /** How long a lease lives without renewal: a dead owner's subscriptions move after it. */
  leaseMs: number
  onError?: (err: unknown) => void
}

/** Intervals a preferred node must be seen live before an owner hands it a subscription, or a free lease waits for it. */
export const REBALANCE_AFTER = 3

export interface Ownership {
  /** Runs the ownership step now (once more after the running one, when one runs). */
  tick: () => Promise<void>
  /** A definition changed here: the other nodes are told, and this one runs its step. */
  changed: () => void
  /** Closes the subscription here without giving its lease back (it was deleted). */
  drop: (key: string) => Promise<void>
  /** Stops, closes what is held and gives the leases back. */
  close: () => Promise<void>
}

type Stored = StoredSubscription

export interface OwnershipOptions {
  cluster: SubscriptionCluster
  store: SubscriptionStore
  log: TopicLog
  clock: Clock
  /** Opens the subscription here, its queue writes fenced with `lease`. */
  activate: (topic: string, name: string, stored: Stored, lease: Lease) => Promise<unknown>
  /** Closes it here (stops its push dispatcher). */
  deactivate: (topic: string, name: string) => Promise<unknown>
}

export function startOwnership (opts: OwnershipOptions): Ownership {
  const { cluster, store, log, clock, activate, deactivate } = opts
  const keyOf = (topic: string, name: string): string => `${topic}!${name}`
  // What this node holds, and what it saw of the others.
  const held = new Map<string, { lease: Lease, json: string, topic: string, name: string }>()
  const seenLive = new Map<string, number>()
  const freeFor = new Map<string, number>()
  let closed = false
  // Ownership changes and local activations run one at a time.
  let chain: Promise<unknown> = Promise.resolve()
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => undefined)
    return run
  }

  async function giveUp (key: string, release: boolean): Promise<void> {
    const h = held.get(key)
    if (h === undefined) return
    held.delete(key)
    await deactivate(h.topic, h.name)
    if (release) await cluster.leases.release(key, h.lease).catch(() => undefined)
  }

  async function rebalance (c: SubscriptionCluster): Promise<void> {
    const defs = new Map<string, { topic: string, name: string, stored: Stored }>()
    for (const d of await store.list()) defs.set(keyOf(d.topic, d.name), d)
    const live = new Set(await c.liveNodes())
    live.add(c.node)
    for (const id of [...seenLive.keys()]) if (!live.has(id)) seenLive.delete(id)
    for (const id of live) seenLive.set(id, (seenLive.get(id) ?? 0) + 1)
    const nodes = [...live].sort()
    let handedOver = false
    // What this node holds: renewed, given back, or reloaded with a changed definition.
    for (const [key, h] of [...held]) {
      if (closed) return
      const d = defs.get(key)
      if (d === undefined || !await c.leases.renew(key, h.lease, c.leaseMs)) { await giveUp(key, d !== undefined); continue }
      const preferred = preferredOwner(key, nodes)
      if (preferred !== undefined && preferred !== c.node && (seenLive.get(preferred) ?? 0) >= REBALANCE_AFTER) {
        await giveUp(key, true)
        handedOver = true
        continue
      }
      const json = JSON.stringify(d.stored)
      if (json !== h.json) {
        await deactivate(d.topic, d.name)
        held.set(key, { ...h, json })
        await activate(d.topic, d.name, d.stored, h.lease).catch(async (err: unknown) => { await giveUp(key, true); throw err })
      }
    }
    // What nobody holds: taken by the preferred node, or by any after it stayed free a while.
    const others = [...defs.keys()].filter((k) => !held.has(k))
    const owners = await c.leases.owners(others)
    for (const [i, key] of others.entries()) {
      if (closed) return
      if (owners[i] !== undefined) { freeFor.delete(key); continue }
      const free = (freeFor.get(key) ?? 0) + 1
      freeFor.set(key, free)
      if (preferredOwner(key, nodes) !== c.node && free < REBALANCE_AFTER) continue
      const d = defs.get(key) as { topic: string, name: string, stored: Stored }
      if (await log.getTopic(d.topic) === undefined) continue
      const lease = await c.leases.acquire(key, c.node, c.leaseMs)
      if (lease === undefined) continue
      freeFor.delete(key)
      held.set(key, { lease, json: JSON.stringify(d.stored), topic: d.topic, name: d.name })
      await activate(d.topic, d.name, d.stored, lease).catch(async (err: unknown) => { await giveUp(key, true); throw err })
    }
    for (const key of [...freeFor.keys()]) if (!defs.has(key)) freeFor.delete(key)
    // The preferred nodes take what was handed over at once, not at their next interval.
    if (handedOver) await c.signals.publish({ kind: 'subscriptions', from: c.node }).catch((err: unknown) => c.onError?.(err))
  }

  const loop = startStepLoop(async () => { await serially(async () => await rebalance(cluster)) }, { clock, intervalMs: cluster.intervalMs, onError: cluster.onError })
  const tick = loop.tick
  const changed = (): void => {
    cluster.signals.publish({ kind: 'subscriptions', from: cluster.node }).catch((err: unknown) => cluster.onError?.(err))
    void tick()
  }
  const stopSignals = cluster.signals.subscribe((sig) => { if (sig.kind === 'subscriptions' && sig.from !== cluster.node) void tick() })

  return {
    tick,
    changed,
    drop: async (key) => { await serially(async () => { await giveUp(key, false) }) },
    async close () {
      closed = true
      stopSignals()
      await loop.stop()
      await serially(async () => { for (const key of [...held.keys()]) await giveUp(key, true) })
      // The others take them over at once instead of at their next interval.
      await cluster.signals.publish({ kind: 'subscriptions', from: cluster.node }).catch(() => undefined)
    }
  }
}
