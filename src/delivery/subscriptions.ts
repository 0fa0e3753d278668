import type { Clock } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'
import type { TopicLog } from '../log/types.js'
import { compileFilters } from '../core/filters.js'
import { createEventCache } from './event-cache.js'
import { openQueue, type SubscriptionQueue } from './queue.js'
import type { StoredSubscription, SubscriptionStore } from './store.js'
import { maxDeliveryCount, parseSubscription, renderSubscription, SUBSCRIPTION_NAME, timeToLiveMs, type SubscriptionSpec } from './subscription-spec.js'

// The event subscriptions of every topic: definitions in the SubscriptionStore, one queue
// each, and for push subscriptions a running dispatcher.

export interface Subscription {
  topic: string
  name: string
  spec: SubscriptionSpec
  queue: SubscriptionQueue
  startOffset: number
  createdAt: string
}

/** Starts delivering a push subscription; the returned function stops it. */
export type PushStarter = (sub: Subscription) => () => Promise<void>
/** Checks a push endpoint before it is accepted (the webhook validation handshake). */
export type EndpointCheck = (spec: SubscriptionSpec) => Promise<void>

export interface Subscriptions {
  put: (topic: string, name: string, body: unknown) => Promise<{ subscription: Record<string, unknown>, created: boolean }>
  get: (topic: string, name: string) => Promise<Subscription>
  render: (sub: Subscription) => Record<string, unknown>
  list: (topic: string) => Subscription[]
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
}

type Stored = StoredSubscription

export async function openSubscriptions (opts: SubscriptionsOptions): Promise<Subscriptions> {
  const { store, log, clock } = opts
  const cache = createEventCache()
  const subs = new Map<string, Subscription>()
  const pushStops = new Map<string, () => Promise<void>>()
  const keyOf = (topic: string, name: string): string => `${topic}!${name}`

  async function activate (topic: string, name: string, stored: Stored): Promise<Subscription> {
    const matcher = compileFilters(stored.spec.filters, 'properties.filtersConfiguration')
    const filters = stored.spec.filters
    const matchesAll = (filters.includedEventTypes ?? []).length === 0 && (filters.filters ?? []).length === 0
    const queue = await openQueue({
      store: store.queue(topic, name),
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

  for (const { topic, name, stored } of await store.list()) {
    if (await log.getTopic(topic) === undefined) continue
    await activate(topic, name, stored)
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

  const render = (s: Subscription): Record<string, unknown> => renderSubscription(s.topic, s.name, s.spec, s.startOffset, s.createdAt)

  const manager: Subscriptions = {
    async put (topic, name, body) {
      if (!SUBSCRIPTION_NAME.test(name)) {
        throw new GridgateError('SUBSCRIPTION_INVALID', `name: '${name.slice(0, 60)}' is invalid: use 1-50 letters, digits, '-', '_' or '.'`, { details: { field: 'name' } })
      }
      if (await log.getTopic(topic) === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })
      const { spec } = parseSubscription(body)
      if (spec.mode === 'Push') await opts.checkEndpoint(spec)
      const existing = subs.get(keyOf(topic, name))
      // An update keeps the position and the in-flight state; only a new one picks its start.
      const stored: Stored = existing === undefined
        ? { spec, startOffset: await startOffsetFor(topic, spec), createdAt: new Date(clock.now()).toISOString() }
        : { spec, startOffset: existing.startOffset, createdAt: existing.createdAt }
      await store.put(topic, name, stored)
      await deactivate(topic, name)
      const sub = await activate(topic, name, stored)
      return { subscription: render(sub), created: existing === undefined }
    },

    async get (topic, name) {
      const sub = subs.get(keyOf(topic, name))
      if (sub === undefined) {
        if (await log.getTopic(topic) === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${topic}' does not exist`, { details: { topic } })
        throw new GridgateError('SUBSCRIPTION_NOT_FOUND', `event subscription '${name}' of topic '${topic}' does not exist`, { details: { topic, subscription: name } })
      }
      return sub
    },

    render,

    list: (topic) => [...subs.values()].filter((s) => s.topic === topic).sort((a, b) => a.name.localeCompare(b.name)),

    async remove (topic, name) {
      const sub = await deactivate(topic, name)
      if (sub === undefined) return false
      await sub.queue.destroy()
      await store.remove(topic, name)
      return true
    },

    async removeTopic (topic) {
      for (const sub of manager.list(topic)) await manager.remove(topic, sub.name)
      cache.drop(topic)
    },

    async close () {
      for (const stop of pushStops.values()) await stop()
      pushStops.clear()
    }
  }
  return manager
}
