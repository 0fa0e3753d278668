import type { RetainedMessages } from '../broker/broker.js'
import type { Config } from '../config/schema.js'
import type { Commands } from '../commands/commands.js'
import type { ClientGroups } from '../core/client-groups.js'
import type { Clock } from '../core/clock.js'
import type { Subscriptions } from '../delivery/subscriptions.js'
import type { TopicLog } from '../log/types.js'
import type { Health } from '../observability/health.js'
import type { Metrics } from '../observability/metrics.js'
import type { Registry } from '../registry/devices.js'
import type { SchemaRegistry } from '../schemas/registry.js'
import type { NodeDirectory } from '../registry/nodes.js'
import type { Telemetry } from '../telemetry/telemetry.js'
import type { TwinsModule } from '../twins/module.js'

/** What route groups receive; they import no module instances of their own. */
export interface HttpDeps {
  config: Config['http']
  log: TopicLog
  metrics: Metrics
  health: Health
  /** The storage engine's name (`leveldb`, `memory`), reported by /readyz. */
  engine: string
  registry: Registry
  /** mqtt.clientGroups: device views show the groups a device is in. */
  clientGroups: ClientGroups
  subscriptions: Subscriptions
  commands: Commands
  telemetry: Telemetry
  commandLimits: Config['commands']
  clock: Clock
  /** Closes a device's MQTT connections. */
  disconnectDevice: (id: string) => void
  /** The MQTT retained messages (GET/DELETE /retained). */
  retained: RetainedMessages
  /** The schema registry (/schemas), topics' schemas and HTTP publish checks. */
  schemas: SchemaRegistry
  /** The nodes of the cluster (GET /cluster/nodes); calls on a subscription's queue are forwarded to its owner. */
  nodes: NodeDirectory
  /** On a cluster: how long a call on a queue waits for a subscription without an owner (http/forward.ts). */
  subscriptionCluster?: { ownerWaitMs: number }
  /** Device twins (/devices/{id}/twin); absent when twins.enabled is false. */
  twins?: Pick<TwinsModule, 'get' | 'history' | 'patchDesired' | 'defaultTopic' | 'sources'>
}
