import { durationSeconds, EXIT, intOption, stringOption, UsageError, type Values } from './args.js'
import { pathOf } from './client.js'
import type { Command, List } from './command.js'
import { bytes, cell, json, keyValues, seconds, table } from './format.js'

// gridgate topics list|show|create|rm|events: namespace topics and one page of replay.

interface Topic {
  name: string
  retention?: { maxAgeSeconds?: number, maxBytes?: number }
  createdAt?: string
  firstOffset?: number
  nextOffset?: number
  events?: number
  bytes?: number
  [field: string]: unknown
}

export interface LoggedEvent {
  offset: number
  time: string
  event: Record<string, unknown>
}

export interface Replay extends List<LoggedEvent> { nextOffset: number }

/** One event on one line: offset, time, type, subject, data. */
export function eventLine (r: LoggedEvent): string {
  const e = r.event
  const data = e.data !== undefined ? JSON.stringify(e.data) : typeof e.data_base64 === 'string' ? `(${Math.floor(e.data_base64.length * 3 / 4)} bytes, base64)` : '-'
  return `${r.offset}  ${r.time}  ${cell(e.type)}  ${cell(e.subject)}  ${data}\n`
}

/** --from-offset N | --from-time T (| --from-beginning) as the replay's query. */
export function fromQuery (values: Values, usage: string): { fromOffset?: number, fromTime?: string } {
  const offset = intOption(values, 'from-offset', usage)
  const time = stringOption(values, 'from-time')
  const given = [offset !== undefined, time !== undefined, values['from-beginning'] === true].filter(Boolean).length
  if (given > 1) throw new UsageError(`${usage}: give one of --from-offset, --from-time${'from-beginning' in values ? ', --from-beginning' : ''}`)
  if (time !== undefined && Number.isNaN(Date.parse(time))) throw new UsageError(`${usage}: --from-time must be an RFC 3339 time, not '${time}'`)
  return { fromOffset: offset, fromTime: time }
}

export const topicCommands: readonly Command[] = [
  {
    group: 'topics',
    name: 'list',
    args: [],
    summary: 'List the namespace topics with their size and retention.',
    async run (ctx) {
      const list = await ctx.api.call<List<Topic>>('GET', '/topics')
      if (ctx.json) ctx.out(json(list))
      else if (list.value.length === 0) ctx.out('no topics\n')
      else {
        ctx.out(table(['NAME', 'EVENTS', 'BYTES', 'OFFSETS', 'MAX AGE', 'MAX BYTES'], list.value.map((t) => [
          t.name, t.events, bytes(t.bytes), `${cell(t.firstOffset)}..${cell(t.nextOffset)}`,
          seconds(t.retention?.maxAgeSeconds), t.retention?.maxBytes === 0 ? 'none' : bytes(t.retention?.maxBytes)
        ])))
      }
      return EXIT.ok
    }
  },
  {
    group: 'topics',
    name: 'show',
    args: ['NAME'],
    summary: 'Show one topic.',
    async run (ctx, [name = '']) {
      const topic = await ctx.api.call<Topic>('GET', pathOf('topics', name))
      ctx.out(ctx.json ? json(topic) : keyValues(topic))
      return EXIT.ok
    }
  },
  {
    group: 'topics',
    name: 'create',
    args: ['NAME'],
    summary: 'Create a topic, or change the retention of one that exists.',
    options: {
      'max-age': { type: 'string', value: 'DURATION', help: 'keep events this long: 90s, 5m, 1h, 7d; 0 forever (default: the config\'s retention)' },
      'max-bytes': { type: 'string', value: 'N', help: 'keep at most this many bytes; 0 no limit' }
    },
    async run (ctx, [name = ''], values, usage) {
      const maxAge = stringOption(values, 'max-age')
      const retention: Record<string, number> = {}
      if (maxAge !== undefined) retention.maxAgeSeconds = durationSeconds(maxAge, `${usage}: --max-age`)
      const maxBytes = intOption(values, 'max-bytes', usage)
      if (maxBytes !== undefined) retention.maxBytes = maxBytes
      const topic = await ctx.api.call<Topic>('PUT', pathOf('topics', name), { body: Object.keys(retention).length === 0 ? undefined : { retention } })
      ctx.out(ctx.json ? json(topic) : `topic ${topic.name}: keeps events ${seconds(topic.retention?.maxAgeSeconds) === 'none' ? 'forever' : `for ${seconds(topic.retention?.maxAgeSeconds)}`}, ${topic.retention?.maxBytes === 0 ? 'no byte limit' : `at most ${bytes(topic.retention?.maxBytes)}`}\n`)
      return EXIT.ok
    }
  },
  {
    group: 'topics',
    name: 'rm',
    args: ['NAME'],
    summary: 'Delete a topic with its events and subscriptions.',
    async run (ctx, [name = '']) {
      await ctx.api.call('DELETE', pathOf('topics', name))
      ctx.out(ctx.json ? json({ removed: name }) : `removed topic ${name}\n`)
      return EXIT.ok
    }
  },
  {
    group: 'topics',
    name: 'events',
    args: ['NAME'],
    summary: 'Print one page of a topic\'s events (default: from the oldest retained); `gridgate tail` follows new ones.',
    options: {
      'from-offset': { type: 'string', value: 'N', help: 'from this offset' },
      'from-time': { type: 'string', value: 'TIME', help: 'from the first event accepted at or after this RFC 3339 time' },
      limit: { type: 'string', value: 'N', help: 'at most this many events (default 100)' }
    },
    async run (ctx, [name = ''], values, usage) {
      const page = await ctx.api.call<Replay>('GET', `${pathOf('topics', name)}/events`, { query: { ...fromQuery(values, usage), limit: intOption(values, 'limit', usage, 1) } })
      if (ctx.json) ctx.out(json(page))
      else {
        for (const r of page.value) ctx.out(eventLine(r))
        ctx.out(`(next offset ${page.nextOffset})\n`)
      }
      return EXIT.ok
    }
  }
]
