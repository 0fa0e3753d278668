import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import { compileFilters } from '../core/filters.js'
import { createEventCache } from './event-cache.js'
import type { Lease } from './leases.js'
import { startOwnership, type SubscriptionCluster } from './ownership.js'
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
// it writes nothing more. Which node owns what, and when it moves: ownership.ts. Changes made
// on one node signal the others. Callers of pull calls ask `locate` and forward to the owner
// (http/forward.ts).

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

export { REBALANCE_AFTER, type SubscriptionCluster } from './ownership.js'

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
    // Its counts not yet stored are stored (on a cluster, while the lease is still held).
    await sub?.queue.close()
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

  // On a cluster: which subscriptions this node delivers (ownership.ts).
  const ownership = cluster === undefined ? undefined : startOwnership({ cluster, store, log, clock, activate, deactivate })

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
      ownership?.changed()
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
      await ownership?.drop(key)
      await store.queue(topic, name).destroy()
      ownership?.changed()
      return true
    },

    async removeTopic (topic) {
      for (const sub of await manager.definitions(topic)) await manager.remove(topic, sub.name)
      cache.drop(topic)
    },

    async close () {
      // On a cluster the leases are given back, so other nodes take over at once.
      await ownership?.close()
      for (const stop of pushStops.values()) await stop()
      pushStops.clear()
      for (const sub of subs.values()) await sub.queue.close()
    }
  }
  return manager
}
