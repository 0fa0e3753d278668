import type { Clock } from '../../src/core/clock.js'
import { openQueue, type SubscriptionQueue } from '../../src/delivery/queue.js'
import type { QueueStore } from '../../src/delivery/store.js'
import type { TopicLog } from '../../src/log/types.js'

/** A pull queue on topic `orders` named `s1`, every event matching, over `store`: what the queue tests open. */
export async function openOrdersQueue (store: QueueStore, log: TopicLog, clock: Clock): Promise<SubscriptionQueue> {
  return await openQueue({
    store,
    log,
    topic: 'orders',
    name: 's1',
    matcher: () => true,
    matchesAll: true,
    clock,
    limits: { maxDeliveryCount: 10, ttlMs: 86_400_000, maxPending: 1000 },
    parse: () => undefined,
    push: false
  }, 0)
}
