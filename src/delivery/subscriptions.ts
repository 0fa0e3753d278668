import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { ClusterSignals } from '../core/signals.js'
import type { TopicLog } from '../log/types.js'
import { compileFilters } from '../core/filters.js'
import { createEventCache } from './event-cache.js'
import { preferredOwner, type Lease, type SubscriptionLeases } from './leases.js'
import { openQueue, type SubscriptionQueue } from './queue.js'
import type { StoredSubscription, SubscriptionStore } from './store.js'
import { maxDeliveryCount, parseSubscription, renderSubscription, SUBSCRIPTION_NAME, timeToLiveMs, type SubscriptionSpec } from './subscription-spec.js'

// The event subscriptions of every topic: definitions in the SubscriptionStore, one queue
// each, and for push subscriptions a running dispatcher.
//
// On a cluster (`cluster` given: nodes sharing one store) every node knows every definition
// (read from the store on each call that needs one, and every interval), but only one node
// at a time OWNS a subscription: it holds the subscription's lease (leases.ts), and only it
// has the queue open (the same single-node code, loaded from the store when it takes over)
// and, for push, runs the dispatcher. Every queue write carries the lease, so a node that lost
// it writes nothing more. Each interval a node renews its leases, gives up those a live node
// is preferred for (rendezvous hashing over the live nodes, after that node was seen live
// for REBALANCE_AFTER intervals, so ownership does not flap), and takes the free ones it is
// preferred for (or any left free for REBALANCE_AFTER intervals). Changes made on one node
// signal the others, which run their interval at once. Callers of pull calls ask `locate`
// and forward to the owner (http/forward.ts).

export interface SubscriptionDefinition {
  topic: string
  name: string
  spec: SubscriptionSpec
  startOffset: number
  createdAt: string
}

export interface Subscription extends SubscriptionDefinition {
  queue: SubscriptionQueue
}

/** Where a subscription is delivered: here (its queue), or by another node (undefined: by none right now). */
export type Location = { local: Subscription } | { owner: string | undefined }

/** Starts delivering a push subscription; the returned function stops it. */
export type PushStarter = (sub: Subscription) => () => Promise<void>
/** Checks a push endpoint before it is accepted (the webhook validation handshake). */
export type EndpointCheck = (spec: SubscriptionSpec) => Promise<void>

export interface Subscriptions {
  put: (topic: string, name: string, body: unknown) => Promise<{ subscription: Record<string, unknown>, created: boolean }>
  /** The subscription with its queue when this node delivers it; SUBSCRIPTION_NOT_OWNED when another does. */
  get: (topic: string, name: string) => Promise<Subscription>
  /** The definition, wherever it is delivered. */
  definition: (topic: string, name: string) => Promise<SubscriptionDefinition>
  /** The topic's definitions, by name, wherever they are delivered. */
  definitions: (topic: string) => Promise<SubscriptionDefinition[]>
  /** Which node delivers the subscription (SUBSCRIPTION_NOT_FOUND when it does not exist). */
  locate: (topic: string, name: string) => Promise<Location>
  render: (sub: SubscriptionDefinition) => Record<string, unknown>
  /** The subscriptions this node delivers (all of them on one node). */
  list: (topic: string) => Subscription[]
  /** How many subscriptions each of these nodes owns. */
  ownedBy: (nodes: readonly string[]) => Promise<number[]>
  remove: (topic: string, name: string) => Promise<boolean>
  removeTopic: (topic: string) => Promise<void>
  close: () => Promise<void>
}

export interface SubscriptionsOptions {
  store: SubscriptionStore
  log: TopicLog
  clock: Clock
  maxPendingPerSubscription: number
  checkEndpoint: EndpointCheck
  startPush: PushStarter
  onDeadLetter?: (topic: string, name: string, count: number) => void
  /** Several nodes on one store: one owner per subscription. Absent: this node owns everything. */
  cluster?: SubscriptionCluster
}

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

type Stored = StoredSubscription

export async function openSubscriptions (opts: SubscriptionsOptions): Promise<Subscriptions> {
  const { store, log, clock } = opts
  const cache = createEventCache()
  const subs = new Map<string, Subscription>()
  const pushStops = new Map<string, () => Promise<void>>()
  const keyOf = (topic: string, name: string): string => `${topic}!${name}`

  async function activate (topic: string, name: string, stored: Stored, lease?: Lease): Promise<Subscription> {
    const matcher = compileFilters(stored.spec.filters, 'properties.filtersConfiguration')
    const filters = stored.spec.filters
    const matchesAll = (filters.includedEventTypes ?? []).length === 0 && (filters.filters ?? []).length === 0
    const queue = await openQueue({
      store: store.queue(topic, name, lease),
      log,
      topic,
      name,
      matcher,
      matchesAll,
      clock,
      limits: { maxDeliveryCount: maxDeliveryCount(stored.spec), ttlMs: timeToLiveMs(stored.spec), maxPending: opts.maxPendingPerSubscription },
      parse: cache.parse,
      push: stored.spec.mode === 'Push',
      onDeadLetter: (n) => opts.onDeadLetter?.(topic, name, n)
    }, stored.startOffset)
    const sub: Subscription = { topic, name, spec: stored.spec, queue, startOffset: stored.startOffset, createdAt: stored.createdAt }
    subs.set(keyOf(topic, name), sub)
    if (stored.spec.mode === 'Push') pushStops.set(keyOf(topic, name), opts.startPush(sub))
    return sub
  }

  async function deactivate (topic: string, name: string): Promise<Subscription | undefined> {
    const key = keyOf(topic, name)
    const sub = subs.get(key)
    subs.delete(key)
    const stop = pushStops.get(key)
    pushStops.delete(key)
    await stop?.()
    return sub
  }

  const cluster = opts.cluster
  if (cluster === undefined) {
    for (const { topic, name, stored } of await store.list()) {
      if (await log.getTopic(topic) === undefined) continue
      await activate(topic, name, stored)
    }
  }

  const notFound = (topic: string, name: string): GridgateError =>
    new GridgateError('SUBSCRIPTION_NOT_FOUND', `event subscription '${name}' of topic '${topic}' does not exist`, { details: { topic, subscription: name } })
  /** The stored definition (cluster), or the one held here. */
  async function storedOf (topic: string, name: string): Promise<Stored | undefined> {
    if (cluster === undefined) return subs.get(keyOf(topic, name))
    if (store.get !== undefined) return await store.get(topic, name)
    return (await store.list()).find((d) => d.topic === topic && d.name === name)?.stored
  }
  async function missing (topic: string, name: string): Promise<never> {
    if (await log.getTopic(topic) === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })
    throw notFound(topic, name)
  }

  // Ownership (cluster only): what this node holds, and what it saw of the others.
  const held = new Map<string, { lease: Lease, json: string }>()
  const seenLive = new Map<string, number>()
  const freeFor = new Map<string, number>()
  let closed = false
  let ticking: Promise<void> | undefined
  let again = false
  let timer: ReturnType<Clock['setTimer']> | undefined
  let stopSignals: (() => void) | undefined
  // Ownership changes and local activations run one at a time.
  let chain: Promise<unknown> = Promise.resolve()
  const serially = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = chain.then(fn, fn)
    chain = run.catch(() => undefined)
    return run
  }

  async function giveUp (key: string, release: boolean): Promise<void> {
    const h = held.get(key)
    held.delete(key)
    const sub = subs.get(key)
    if (sub !== undefined) await deactivate(sub.topic, sub.name)
    if (release && h !== undefined && cluster !== undefined) await cluster.leases.release(key, h.lease).catch(() => undefined)
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
        held.set(key, { lease: h.lease, json })
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
      held.set(key, { lease, json: JSON.stringify(d.stored) })
      await activate(d.topic, d.name, d.stored, lease).catch(async (err: unknown) => { await giveUp(key, true); throw err })
    }
    for (const key of [...freeFor.keys()]) if (!defs.has(key)) freeFor.delete(key)
    // The preferred nodes take what was handed over at once, not at their next interval.
    if (handedOver) await c.signals.publish({ kind: 'subscriptions', from: c.node }).catch((err: unknown) => c.onError?.(err))
  }

  /** Runs the ownership step now (once more after the running one, when one runs). */
  function tick (): Promise<void> {
    if (cluster === undefined || closed) return Promise.resolve()
    if (ticking !== undefined) { again = true; return ticking }
    ticking = (async () => {
      do {
        again = false
        await serially(async () => await rebalance(cluster)).catch((err: unknown) => cluster.onError?.(err))
        // `again` and `closed` change while this loop awaits.
        // eslint-disable-next-line no-unmodified-loop-condition
      } while (again && !closed)
    })().finally(() => { ticking = undefined })
    return ticking
  }
  const schedule = (): void => {
    if (cluster === undefined || closed) return
    timer = clock.setTimer(cluster.intervalMs, () => { void tick().then(schedule) })
  }
  const changed = (): void => {
    if (cluster === undefined) return
    cluster.signals.publish({ kind: 'subscriptions', from: cluster.node }).catch((err: unknown) => cluster.onError?.(err))
    void tick()
  }
  if (cluster !== undefined) {
    stopSignals = cluster.signals.subscribe((sig) => { if (sig.kind === 'subscriptions' && sig.from !== cluster.node) void tick() })
    void tick()
    schedule()
  }

  async function startOffsetFor (topic: string, spec: SubscriptionSpec): Promise<number> {
    const t = await log.getTopic(topic)
    if (t === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })
    switch (spec.startAt.kind) {
      case 'end': return t.nextOffset
      case 'beginning': return t.firstOffset
      case 'offset': return spec.startAt.offset
      case 'time': {
        const { records, nextOffset } = await log.read(topic, { time: spec.startAt.time }, 1)
        return records[0]?.offset ?? nextOffset
      }
    }
  }

  const render = (s: SubscriptionDefinition): Record<string, unknown> => renderSubscription(s.topic, s.name, s.spec, s.startOffset, s.createdAt)

  const manager: Subscriptions = {
    async put (topic, name, body) {
      if (!SUBSCRIPTION_NAME.test(name)) {
        throw new GridgateError('SUBSCRIPTION_INVALID', `name: '${name.slice(0, 60)}' is invalid: use 1-50 letters, digits, '-', '_' or '.'`, { details: { field: 'name' } })
      }
      if (await log.getTopic(topic) === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })
      const { spec } = parseSubscription(body)
      if (spec.mode === 'Push') await opts.checkEndpoint(spec)
      const existing = await storedOf(topic, name)
      // An update keeps the position and the in-flight state; only a new one picks its start.
      const stored: Stored = existing === undefined
        ? { spec, startOffset: await startOffsetFor(topic, spec), createdAt: new Date(clock.now()).toISOString() }
        : { spec, startOffset: existing.startOffset, createdAt: existing.createdAt }
      await store.put(topic, name, stored)
      if (cluster === undefined) {
        await deactivate(topic, name)
        const sub = await activate(topic, name, stored)
        return { subscription: render(sub), created: existing === undefined }
      }
      // The owner (maybe this node) loads the new definition in its ownership step.
      changed()
      return { subscription: render({ topic, name, ...stored }), created: existing === undefined }
    },

    async get (topic, name) {
      const sub = subs.get(keyOf(topic, name))
      if (sub !== undefined) return sub
      if (cluster === undefined || await storedOf(topic, name) === undefined) return await missing(topic, name)
      throw new GridgateError('SUBSCRIPTION_NOT_OWNED', `event subscription '${name}' of topic '${topic}' is delivered by another node`, { details: { topic, subscription: name } })
    },

    async definition (topic, name) {
      const stored = await storedOf(topic, name)
      if (stored === undefined) return await missing(topic, name)
      return { topic, name, ...stored }
    },

    async definitions (topic) {
      if (cluster === undefined) return manager.list(topic)
      return (await store.list()).filter((d) => d.topic === topic).map((d) => ({ topic: d.topic, name: d.name, ...d.stored }))
    },

    async locate (topic, name) {
      const sub = subs.get(keyOf(topic, name))
      if (sub !== undefined) return { local: sub }
      if (cluster === undefined || await storedOf(topic, name) === undefined) return await missing(topic, name)
      const [lease] = await cluster.leases.owners([keyOf(topic, name)])
      // Held by this node but not open here (it is just taking over or giving up): nobody yet.
      return { owner: lease === undefined || lease.node === cluster.node ? undefined : lease.node }
    },

    async ownedBy (nodes) {
      if (cluster === undefined) return nodes.map(() => subs.size)
      const owners = await cluster.leases.owners((await store.list()).map((d) => keyOf(d.topic, d.name)))
      return nodes.map((n) => owners.filter((l) => l?.node === n).length)
    },

    render,

    list: (topic) => [...subs.values()].filter((s) => s.topic === topic).sort((a, b) => a.name.localeCompare(b.name)),

    async remove (topic, name) {
      if (cluster === undefined) {
        const sub = await deactivate(topic, name)
        if (sub === undefined) return false
        await sub.queue.destroy()
        await store.remove(topic, name)
        return true
      }
      if (await storedOf(topic, name) === undefined) return false
      const key = keyOf(topic, name)
      // The definition first: from then on the owner's fenced writes are refused, wherever it is.
      await store.remove(topic, name)
      await cluster.leases.clear(key)
      await serially(async () => { if (held.has(key)) await giveUp(key, false) })
      await store.queue(topic, name).destroy()
      changed()
      return true
    },

    async removeTopic (topic) {
      for (const sub of await manager.definitions(topic)) await manager.remove(topic, sub.name)
      cache.drop(topic)
    },

    async close () {
      closed = true
      timer?.cancel()
      stopSignals?.()
      await ticking
      // On a cluster the leases are given back, so other nodes take over at once.
      await serially(async () => { for (const key of [...held.keys()]) await giveUp(key, true) })
      // The others take them over at once instead of at their next interval.
      if (cluster !== undefined) await cluster.signals.publish({ kind: 'subscriptions', from: cluster.node }).catch(() => undefined)
      for (const stop of pushStops.values()) await stop()
      pushStops.clear()
    }
  }
  return manager
}
