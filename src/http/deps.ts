import type { Config } from '../config/schema.js'
import type { TopicLog } from '../log/types.js'
import type { Health } from '../observability/health.js'
import type { Metrics } from '../observability/metrics.js'

/** What route groups receive; they import no module instances of their own. */
export interface HttpDeps {
  config: Config['http']
  log: TopicLog
  metrics: Metrics
  health: Health
}
