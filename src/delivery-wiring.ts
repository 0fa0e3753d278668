import type { Config } from './config/schema.js'
import type { Clock } from './core/clock.js'
import { startPushDispatcher } from './delivery/push/dispatcher.js'
import { assertEndpointUrl, createGuardedAgent } from './delivery/push/endpoint-guard.js'
import { retryPolicyOf } from './delivery/push/schedule.js'
import { validateEndpoint, type WebhookClientOptions } from './delivery/push/webhook-client.js'
import type { SubscriptionStore } from './delivery/store.js'
import { openSubscriptions, type SubscriptionCluster, type Subscriptions } from './delivery/subscriptions.js'
import type { TopicLog } from './log/types.js'
import type { Logger } from './observability/logger.js'
import type { Metrics } from './observability/metrics.js'

// Event subscriptions with their push side: the guarded HTTP agent every webhook request
// goes through, the validation handshake, and one dispatcher per push subscription.

export interface DeliveryWiring {
  config: Config
  store: SubscriptionStore
  log: TopicLog
  clock: Clock
  metrics: Metrics
  logger: Logger
  /** Randomness for retry jitter; tests pass a constant. */
  random: () => number
  /** Nodes sharing the store: one owner per subscription (subscriptions.ts). */
  cluster?: SubscriptionCluster
}

/** Opens the subscriptions; their `close` also closes the webhook agent. */
export async function openDelivery (w: DeliveryWiring): Promise<Subscriptions> {
  const { config, log, clock, metrics } = w
  const agent = createGuardedAgent({ allowLoopback: config.webhooks.allowLoopback, connectTimeoutMs: config.webhooks.timeoutSeconds * 1000 })
  const client: WebhookClientOptions = { agent, timeoutMs: config.webhooks.timeoutSeconds * 1000, origin: config.webhooks.origin }
  const deliveryLog = w.logger.child({ component: 'delivery' })
  try {
    const subscriptions = await openSubscriptions({
      store: w.store,
      log,
      clock,
      maxPendingPerSubscription: config.delivery.maxPendingPerSubscription,
      checkEndpoint: async (spec) => {
        const url = spec.push?.endpointUrl ?? ''
        assertEndpointUrl(url, { allowLoopback: config.webhooks.allowLoopback })
        await validateEndpoint(url, client)
      },
      startPush: (sub) => startPushDispatcher(sub, {
        log,
        clock,
        client,
        policy: retryPolicyOf(config.webhooks),
        random: w.random,
        concurrency: config.webhooks.concurrency,
        onAttempt: (s, n, outcome) => metrics.deliveries.inc({ topic: s.topic, subscription: s.name, outcome }, n),
        // A storage outage is logged once when it begins and ends (observers.ts watchStorage).
        // A lost lease (cluster: another node delivers the subscription now) is not a delivery problem either.
        onError: (s, err) => ['STORAGE_UNAVAILABLE', 'SUBSCRIPTION_NOT_OWNED'].includes((err as { code?: unknown } | undefined)?.code as string)
          ? deliveryLog.debug({ err, topic: s.topic, subscription: s.name }, 'push delivery paused')
          : deliveryLog.warn({ err, topic: s.topic, subscription: s.name }, 'push delivery paused')
      }),
      onDeadLetter: (topic, subscription, n) => metrics.deadLettered.inc({ topic, subscription }, n),
      cluster: w.cluster
    })
    return {
      ...subscriptions,
      close: async () => {
        try { await subscriptions.close() } finally { await agent.close() }
      }
    }
  } catch (err) {
    await agent.close()
    throw err
  }
}
