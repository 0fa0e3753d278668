import type { ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { TimerHandle } from '../../core/clock.js'
import { GridgateError } from '../../core/errors.js'
import type { HttpDeps } from '../deps.js'
import { createOverviewSampler, type OverviewSampler } from '../live-overview.js'
import { ERROR_ANSWERS, query } from '../schemas.js'

// GET /stream: server-sent events for the web console (and any client that can send the
// Authorization header; a browser's EventSource cannot, so the console reads it with fetch).
// The server pushes; nobody polls:
//   event: ready     {"topics":{"t":nextOffset}}   once, when the stream follows its topics
//   event: overview  {...}                          every second (http/live-overview.ts)
//   event: events    {"topic","value":[{"offset","time","event"}],"nextOffset","skipped"}
//                                                   new events of each followed topic, as appended
//   event: error     {"error":{"code","message"}}   a followed topic went away (it is dropped)
// A topic is followed from its end when the stream opens. Readers hear of appends from the
// log (TopicLog.onAppend, through any instance) and read from their own cursor, batched a
// little so a busy topic costs one read and one write per batch, not per event.

const OVERVIEW_INTERVAL_MS = 1000
/** Notices of appends within this time are read together. */
const COALESCE_MS = 50
/** Events per `events` message. */
const BATCH = 200
/** A follower further behind than this skips to the newest BATCH events (`skipped` says how many it passed over). */
const MAX_BEHIND = 2000
const MAX_TOPICS = 8

type Query = { topics?: string }

function frame (event: string, data: string | Buffer[]): Buffer {
  const body = typeof data === 'string' ? [Buffer.from(data)] : data
  return Buffer.concat([Buffer.from(`event: ${event}\ndata: `), ...body, Buffer.from('\n\n')])
}

export async function streamRoutes (app: FastifyInstance, deps: HttpDeps): Promise<void> {
  let sampler: OverviewSampler | undefined
  const open = new Set<ServerResponse>()
  // fastify.close() waits for open requests; streams never end by themselves.
  app.addHook('preClose', async () => { for (const res of open) res.end() })

  app.get<{ Querystring: Query }>('/stream', {
    exposeHeadRoute: false, // a HEAD would hold its connection open with nothing to send
    schema: {
      tags: ['Operations'],
      operationId: 'Stream_Get',
      summary: "Live data as server-sent events: the gateway's overview every second and new events of the followed topics",
      description: 'Messages: `ready` once (`{"topics":{"name":nextOffset}}`), `overview` every second (ingest and delivery rates, connected devices, event-loop delay, storage, topic sizes, subscription backlogs), `events` as the followed topics grow (`{"topic","value":[{"offset","time","event"}],"nextOffset","skipped"}`; a follower more than 2,000 events behind skips to the newest and says how many it passed over), `error` when a followed topic is deleted. Send the access key in the Authorization header (read the stream with fetch: EventSource cannot send headers).',
      querystring: query({
        topics: { type: 'string', description: `Comma-separated topics to follow from their end, at most ${MAX_TOPICS}.` }
      }),
      response: {
        200: { description: 'A text/event-stream that stays open', content: { 'text/event-stream': { schema: { type: 'string' } } } },
        ...ERROR_ANSWERS
      }
    }
  }, async (req, reply) => {
    const names = [...new Set((req.query.topics ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0))]
    if (names.length > MAX_TOPICS) throw new GridgateError('QUERY_PARAM_INVALID', `query parameter 'topics': at most ${MAX_TOPICS} topics`, { details: { param: 'topics' } })
    const cursors = new Map<string, number>()
    for (const name of names) {
      const topic = await deps.log.getTopic(name)
      if (topic === undefined) throw new GridgateError('TOPIC_NOT_FOUND', `topic '${name}' does not exist`, { details: { topic: name } })
      cursors.set(name, topic.nextOffset)
    }

    reply.hijack()
    const res = reply.raw
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store',
      'x-accel-buffering': 'no',
      connection: 'keep-alive'
    })
    open.add(res)

    let closed = false
    let draining: Promise<void> | undefined
    const send = (chunk: Buffer): void => {
      if (closed) return
      if (!res.write(chunk) && draining === undefined) {
        draining = new Promise((resolve) => res.once('drain', resolve)).then(() => { draining = undefined })
      }
    }

    // Topics that grew past the cursor, read after COALESCE_MS by one reader at a time.
    const known = new Map(cursors)
    let timer: TimerHandle | undefined
    let reading = false
    const schedule = (): void => {
      if (timer === undefined && !reading && !closed) timer = deps.clock.setTimer(COALESCE_MS, () => { timer = undefined; void readAll() })
    }
    async function readAll (): Promise<void> {
      reading = true
      try {
        for (;;) {
          if (closed) return
          if (draining !== undefined) await draining // a slow reader holds us, not the log
          const behind = [...cursors].find(([name, at]) => (known.get(name) ?? 0) > at)
          if (behind === undefined) return
          const [name, at] = behind
          let from = at
          let skipped = 0
          const end = known.get(name) ?? at
          if (end - at > MAX_BEHIND) { from = end - BATCH; skipped = from - at }
          try {
            const { records, nextOffset } = await deps.log.read(name, { offset: from }, BATCH)
            if (records.length === 0 && nextOffset <= from) { known.set(name, from); continue }
            cursors.set(name, nextOffset)
            const parts: Buffer[] = [Buffer.from(`{"topic":${JSON.stringify(name)},"value":[`)]
            records.forEach((r, i) => {
              parts.push(Buffer.from(`${i === 0 ? '' : ','}{"offset":${r.offset},"time":"${new Date(r.time).toISOString()}","event":`), r.bytes, Buffer.from('}'))
            })
            parts.push(Buffer.from(`],"nextOffset":${nextOffset},"skipped":${skipped + Math.max(0, (records[0]?.offset ?? nextOffset) - from)}}`))
            send(frame('events', parts))
          } catch (err) {
            const gone = await deps.log.getTopic(name).catch(() => undefined) === undefined
            if (!gone) throw err
            cursors.delete(name)
            send(frame('error', JSON.stringify({ error: { code: 'TOPIC_NOT_FOUND', message: `topic '${name}' was deleted` } })))
          }
        }
      } catch (err) {
        req.log.warn({ err }, 'stream read failed')
        res.end()
      } finally {
        reading = false
        if ([...cursors].some(([name, at]) => (known.get(name) ?? 0) > at)) schedule()
      }
    }

    const unlisten = cursors.size === 0
      ? () => {}
      : deps.log.onAppend((topic, nextOffset) => {
        if (!cursors.has(topic) || nextOffset <= (known.get(topic) ?? 0)) return
        known.set(topic, nextOffset)
        schedule()
      })
    sampler ??= createOverviewSampler(deps, OVERVIEW_INTERVAL_MS)
    const unsample = sampler.listen((overview) => { if (draining === undefined) send(frame('overview', JSON.stringify(overview))) })

    res.on('close', () => {
      closed = true
      open.delete(res)
      timer?.cancel()
      unlisten()
      unsample()
    })
    send(frame('ready', JSON.stringify({ topics: Object.fromEntries(cursors) })))
  })
}
