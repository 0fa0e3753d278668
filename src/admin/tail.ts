import { setTimeout as sleep } from 'node:timers/promises'
import { EXIT, intOption } from './args.js'
import { pathOf } from './client.js'
import type { Command } from './command.js'
import { eventLine, fromQuery, type Replay } from './topics.js'

// gridgate tail TOPIC: follows a topic's new events. The HTTP API has no push stream of a
// topic, so tail reads pages of GET /topics/{topic}/events from where it stands: at once
// while pages come full, and after a pause that doubles while the topic stays quiet.

/** Pauses after an empty page, in ms; the last repeats (a quiet topic costs ~1 request/s). */
export const TAIL_BACKOFF_MS: readonly number[] = [50, 100, 200, 400, 800, 1000]

export const tailCommand: Command = {
  group: 'tail',
  args: ['TOPIC'],
  summary: 'Follow a topic: print its new events as they are appended, until interrupted.',
  details: ['Each event is one line: offset, time, type, subject, data. With --json, one JSON object per line',
    '({"offset","time","event"}), as the replay API gives them.'],
  options: {
    'from-beginning': { type: 'boolean', help: 'start with the oldest retained event' },
    'from-offset': { type: 'string', value: 'N', help: 'start at this offset' },
    'from-time': { type: 'string', value: 'TIME', help: 'start with the first event accepted at or after this RFC 3339 time' },
    count: { type: 'string', value: 'N', help: 'stop after N events' }
  },
  async run (ctx, [topic = ''], values, usage) {
    const from = fromQuery(values, usage)
    const count = intOption(values, 'count', usage, 1)
    const events = `${pathOf('topics', topic)}/events`
    let query: { fromOffset?: number, fromTime?: string } = from
    if (from.fromOffset === undefined && from.fromTime === undefined && values['from-beginning'] !== true) {
      query = { fromOffset: (await ctx.api.call<{ nextOffset: number }>('GET', pathOf('topics', topic))).nextOffset }
    }
    let printed = 0
    let idle = 0
    while (!ctx.signal.aborted) {
      let page: Replay
      try {
        page = await ctx.api.call<Replay>('GET', events, { query, signal: ctx.signal })
      } catch (err) {
        if (ctx.signal.aborted) break
        throw err
      }
      for (const r of page.value) {
        ctx.out(ctx.json ? JSON.stringify(r) + '\n' : eventLine(r))
        if (count !== undefined && ++printed >= count) return EXIT.ok
      }
      query = { fromOffset: page.nextOffset }
      if (page.value.length > 0) { idle = 0; continue }
      try {
        await sleep(TAIL_BACKOFF_MS[Math.min(idle++, TAIL_BACKOFF_MS.length - 1)], undefined, { signal: ctx.signal })
      } catch { break } // interrupted
    }
    return EXIT.ok
  }
}
