import { durationSeconds, EXIT, stringOption, UsageError } from './args.js'
import { pathOf } from './client.js'
import type { Command, List } from './command.js'
import { json, table, type Cell } from './format.js'

// gridgate telemetry DEVICE [METRIC]: a device's metrics, or one metric in windows from the
// per-second rollups (GET /telemetry/{device}/{metric}).

interface Series { series: Array<Record<string, Cell>> }

/** The query options, passed to the API under its own parameter names. */
const PARAMS: Readonly<Record<string, string>> = {
  window: 'window', size: 'size', hop: 'hop', offset: 'offset', gap: 'gap', 'max-duration': 'maxDuration', from: 'from', to: 'to', agg: 'agg'
}

export const telemetryCommand: Command = {
  group: 'telemetry',
  args: ['DEVICE', '[METRIC]'],
  summary: 'List a device\'s metrics with their last value, or aggregate one metric in windows.',
  details: ['Durations are whole seconds or 90s, 5m, 1h, 1d. Without --from/--since the last hour is read.'],
  options: {
    window: { type: 'string', value: 'KIND', help: 'tumbling (default), hopping, sliding or session' },
    size: { type: 'string', value: 'DURATION', help: 'window size (tumbling default 60s; hopping, sliding)' },
    hop: { type: 'string', value: 'DURATION', help: 'hop of hopping windows' },
    offset: { type: 'string', value: 'DURATION', help: 'shift of the window grid' },
    gap: { type: 'string', value: 'DURATION', help: 'session timeout' },
    'max-duration': { type: 'string', value: 'DURATION', help: 'longest session' },
    agg: { type: 'string', value: 'LIST', help: 'aggregates: count,min,max,avg,sum,first,last,stddev,stddevp,p50,p95,p99 (default count,min,max,avg)' },
    from: { type: 'string', value: 'TIME', help: 'start (RFC 3339 or epoch ms)' },
    to: { type: 'string', value: 'TIME', help: 'end (default now)' },
    since: { type: 'string', value: 'DURATION', help: 'start this long before now (instead of --from)' }
  },
  async run (ctx, [device = '', metric], values, usage) {
    if (metric === undefined) {
      const list = await ctx.api.call<List<{ metric: string, lastValue: number, lastTime: string }>>('GET', pathOf('telemetry', device))
      if (ctx.json) ctx.out(json({ deviceId: device, ...list }))
      else if (list.value.length === 0) ctx.out(`no metrics for ${device}\n`)
      else ctx.out(table(['METRIC', 'LAST VALUE', 'LAST TIME'], list.value.map((m) => [m.metric, m.lastValue, m.lastTime])))
      return EXIT.ok
    }
    const query: Record<string, string> = {}
    for (const [option, param] of Object.entries(PARAMS)) {
      const v = stringOption(values, option)
      if (v !== undefined) query[param] = v
    }
    const since = stringOption(values, 'since')
    if (since !== undefined) {
      if (query.from !== undefined) throw new UsageError(`${usage}: give --from or --since, not both`)
      query.from = new Date(ctx.now() - durationSeconds(since, `${usage}: --since`) * 1000).toISOString()
    }
    const answer = await ctx.api.call<Series>('GET', pathOf('telemetry', device, metric), { query })
    if (ctx.json) ctx.out(json(answer))
    else if (answer.series.length === 0) ctx.out(`no windows with data for ${device} ${metric} in that range\n`)
    else {
      const columns = [...new Set(answer.series.flatMap((w) => Object.keys(w)))]
      ctx.out(table(columns.map((c) => c.toUpperCase()), answer.series.map((w) => columns.map((c) => w[c]))))
    }
    return EXIT.ok
  }
}
