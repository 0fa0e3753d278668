import { EXIT, intOption, listOption, stringOption, UsageError } from './args.js'
import { pathOf } from './client.js'
import type { Command, List } from './command.js'
import { cell, json, keyValues, table } from './format.js'

// gridgate subscriptions list|show|create|status|deadletters|redeliver|rm: event
// subscriptions of a topic, in Event Grid's namespace-subscription shape.

interface Subscription {
  name: string
  properties?: {
    deliveryConfiguration?: { deliveryMode?: string, push?: { destination?: { properties?: { endpointUrl?: string } } } }
    filtersConfiguration?: { includedEventTypes?: string[], filters?: unknown[] }
  }
  [field: string]: unknown
}

interface DeadLetter {
  offset: number
  event: { id?: string, type?: string }
  deadLetterReason: string
  deliveryAttempts: number
  lastHttpStatusCode: number | null
  deadLetteredAt: string
}

const path = (topic: string, name?: string): string =>
  `${pathOf('topics', topic)}/eventsubscriptions${name === undefined ? '' : pathOf(name)}`

function filters (s: Subscription): string {
  const f = s.properties?.filtersConfiguration
  const parts: string[] = []
  if ((f?.includedEventTypes?.length ?? 0) > 0) parts.push(`types ${(f?.includedEventTypes ?? []).join(',')}`)
  if ((f?.filters?.length ?? 0) > 0) parts.push(`${f?.filters?.length ?? 0} filter(s)`)
  return parts.join('; ')
}

export const subscriptionCommands: readonly Command[] = [
  {
    group: 'subscriptions',
    name: 'list',
    args: ['TOPIC'],
    summary: 'List the event subscriptions of a topic.',
    async run (ctx, [topic = '']) {
      const list = await ctx.api.call<List<Subscription>>('GET', path(topic))
      if (ctx.json) ctx.out(json(list))
      else if (list.value.length === 0) ctx.out(`no subscriptions on ${topic}\n`)
      else {
        ctx.out(table(['NAME', 'MODE', 'ENDPOINT', 'FILTERS'], list.value.map((s) => [
          s.name,
          s.properties?.deliveryConfiguration?.deliveryMode,
          s.properties?.deliveryConfiguration?.push?.destination?.properties?.endpointUrl,
          filters(s)
        ])))
      }
      return EXIT.ok
    }
  },
  {
    group: 'subscriptions',
    name: 'show',
    args: ['TOPIC', 'NAME'],
    summary: 'Show a subscription\'s definition (JSON, as PUT takes it back).',
    async run (ctx, [topic = '', name = '']) {
      ctx.out(json(await ctx.api.call('GET', path(topic, name))))
      return EXIT.ok
    }
  },
  {
    group: 'subscriptions',
    name: 'create',
    args: ['TOPIC', 'NAME'],
    summary: 'Create a subscription from a JSON definition, or replace one (its position is kept).',
    details: ['The file holds the body of PUT /topics/{topic}/eventsubscriptions/{name}, e.g.',
      '  {"properties":{"deliveryConfiguration":{"deliveryMode":"Queue"}}}'],
    options: { file: { type: 'string', short: 'f', value: 'FILE', help: 'the JSON definition; - reads standard input' } },
    async run (ctx, [topic = '', name = ''], values, usage) {
      const file = stringOption(values, 'file')
      if (file === undefined) throw new UsageError(`${usage}: --file FILE is required (- for standard input)`)
      let text: string
      try {
        text = await ctx.readInput(file)
      } catch (err) {
        throw new UsageError(`${usage}: cannot read ${file}: ${(err as Error).message.split('\n')[0] ?? ''}`)
      }
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch (err) {
        throw new UsageError(`${usage}: ${file} is not JSON: ${(err as Error).message}`)
      }
      const sub = await ctx.api.call<Subscription>('PUT', path(topic, name), { body })
      ctx.out(ctx.json ? json(sub) : `subscription ${name} on ${topic}: ${cell(sub.properties?.deliveryConfiguration?.deliveryMode)}\n`)
      return EXIT.ok
    }
  },
  {
    group: 'subscriptions',
    name: 'status',
    args: ['TOPIC', 'NAME'],
    summary: 'Show backlog, in flight, delivered, failed and dead-lettered counts and the last error.',
    async run (ctx, [topic = '', name = '']) {
      const status = await ctx.api.call<Record<string, unknown>>('GET', `${path(topic, name)}/status`)
      ctx.out(ctx.json ? json(status) : keyValues(status))
      return EXIT.ok
    }
  },
  {
    group: 'subscriptions',
    name: 'deadletters',
    args: ['TOPIC', 'NAME'],
    summary: 'List dead-lettered events with their reason.',
    options: { limit: { type: 'string', value: 'N', help: 'at most this many (default 100)' } },
    async run (ctx, [topic = '', name = ''], values, usage) {
      const list = await ctx.api.call<List<DeadLetter>>('GET', `${path(topic, name)}/deadletters`, { query: { limit: intOption(values, 'limit', usage, 1) } })
      if (ctx.json) ctx.out(json(list))
      else if (list.value.length === 0) ctx.out('no dead letters\n')
      else {
        ctx.out(table(['OFFSET', 'EVENT ID', 'TYPE', 'ATTEMPTS', 'HTTP', 'DEAD-LETTERED AT', 'REASON'], list.value.map((d) => [
          d.offset, d.event.id, d.event.type, d.deliveryAttempts, d.lastHttpStatusCode, d.deadLetteredAt, d.deadLetterReason
        ])))
      }
      return EXIT.ok
    }
  },
  {
    group: 'subscriptions',
    name: 'redeliver',
    args: ['TOPIC', 'NAME'],
    summary: 'Put dead-lettered events back for delivery: all of them, or those at the given offsets.',
    options: { offset: { type: 'string', multiple: true, value: 'N', help: 'the offset of one dead letter' } },
    async run (ctx, [topic = '', name = ''], values, usage) {
      const offsets = listOption(values, 'offset').map((o) => intOption({ offset: o }, 'offset', usage) as number)
      const answer = await ctx.api.call<{ redelivered: number }>('POST', `${path(topic, name)}/deadletters:redeliver`, { body: offsets.length === 0 ? {} : { offsets } })
      ctx.out(ctx.json ? json(answer) : `redelivered ${answer.redelivered} event(s)\n`)
      return EXIT.ok
    }
  },
  {
    group: 'subscriptions',
    name: 'rm',
    args: ['TOPIC', 'NAME'],
    summary: 'Delete a subscription.',
    async run (ctx, [topic = '', name = '']) {
      await ctx.api.call('DELETE', path(topic, name))
      ctx.out(ctx.json ? json({ removed: name, topic }) : `removed subscription ${name} from ${topic}\n`)
      return EXIT.ok
    }
  }
]
