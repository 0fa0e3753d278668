import type { EventMatcher } from '../core/filters.js'
import type { LogRecord, ReadFrom, TopicLog } from './types.js'

// A dry run of a subscription's filters over a topic's history: which events the filters
// would have delivered, from an offset or a time to where the topic ended when the run began
// (events appended meanwhile are not scanned, so a busy topic cannot keep it going). Each
// event is parsed once and judged by the same compiled matcher subscriptions use
// (core/filters.ts). The scan stops after `maxScan` events; the answer says where, so a
// caller can go on from there.

export interface DryRunOptions {
  from: ReadFrom
  /** Matching events returned (all are counted). */
  limit: number
  /** Events read at most. */
  maxScan: number
  /** Events per read; 1000. */
  pageSize?: number
}

export interface DryRunResult {
  matched: number
  scanned: number
  value: LogRecord[]
  /** The first offset not scanned: where to continue. */
  nextOffset: number
  /** Whether the scan reached the end of the topic (as it was when the run began). */
  complete: boolean
}

export async function dryRunFilters (log: TopicLog, topic: string, end: number, matcher: EventMatcher, opts: DryRunOptions): Promise<DryRunResult> {
  const pageSize = opts.pageSize ?? 1000
  const out: DryRunResult = { matched: 0, scanned: 0, value: [], nextOffset: 'offset' in opts.from ? opts.from.offset : end, complete: false }
  let from: ReadFrom = opts.from
  for (;;) {
    const room = Math.min(pageSize, opts.maxScan - out.scanned, end - ('offset' in from ? from.offset : 0))
    if (room <= 0) break
    const { records, nextOffset } = await log.read(topic, from, room)
    if (records.length === 0) {
      out.nextOffset = Math.max(out.nextOffset, nextOffset)
      break
    }
    for (const r of records) {
      if (r.offset >= end || out.scanned >= opts.maxScan) break
      out.scanned++
      out.nextOffset = r.offset + 1
      let event: unknown
      try { event = JSON.parse(r.bytes.toString('utf8')) } catch { continue }
      if (event === null || typeof event !== 'object' || Array.isArray(event)) continue
      if (!matcher(event as Record<string, unknown>)) continue
      out.matched++
      if (out.value.length < opts.limit) out.value.push(r)
    }
    from = { offset: out.nextOffset }
  }
  out.complete = out.nextOffset >= end
  return out
}
