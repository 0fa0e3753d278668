import { topicMatches } from '../core/topic-match.js'

// Which namespace topic and CloudEvent type a device message goes to. Pure.

export interface Route<S = unknown> {
  filter: string
  topic: string
  type: string
  /** A compiled data schema, if the route has one. */
  schema?: S
  /** A top-level payload field whose value becomes the CloudEvent id (idempotent publish). */
  idField?: string
}

/** The first route whose filter matches the MQTT topic, or undefined (the message is not logged). */
export function matchRoute<S> (routes: ReadonlyArray<Route<S>>, mqttTopic: string): Route<S> | undefined {
  for (const r of routes) if (topicMatches(r.filter, mqttTopic)) return r
  return undefined
}
