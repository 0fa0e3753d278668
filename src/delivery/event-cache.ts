import type { LogRecord } from '../log/types.js'

// Filters need the parsed event. Subscriptions of one topic read the same offsets, so each
// event is parsed once and shared: the matchers never parse an event again.

export interface EventCache {
  parse: (topic: string, record: LogRecord) => Record<string, unknown> | undefined
  drop: (topic: string) => void
}

export function createEventCache (maxPerTopic = 10_000): EventCache {
  const topics = new Map<string, Map<number, Record<string, unknown> | undefined>>()
  return {
    parse (topic, record) {
      let cache = topics.get(topic)
      if (cache === undefined) {
        cache = new Map()
        topics.set(topic, cache)
      }
      if (cache.has(record.offset)) return cache.get(record.offset)
      let value: Record<string, unknown> | undefined
      try {
        const parsed: unknown = JSON.parse(record.bytes.toString('utf8'))
        value = parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed as Record<string, unknown> : undefined
      } catch {
        value = undefined // the log only holds validated events; this is a guard, not a path
      }
      cache.set(record.offset, value)
      if (cache.size > maxPerTopic) cache.delete(cache.keys().next().value as number)
      return value
    },
    drop: (topic) => { topics.delete(topic) }
  }
}
