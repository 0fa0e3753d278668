import type { TopicLog } from '../log/types.js'
import type { StreamCheckpoint, WindowEvent } from './store.js'
import { parseWindowId } from './window-event.js'

// After a restart a stream replays its source topic from the checkpoint's cursor, which
// computes again, identically, the windows the lost run appended after that checkpoint. The
// output topics say which those are: everything appended since the checkpoint's `outputFrom`.

export interface Recovered {
  /** Newest window end each (window, device, metric) already has in its output topic (window-event.ts seriesKey). */
  emitted: Map<string, number>
  /** The checkpoint's unsent windows that their topics still lack. */
  pending: WindowEvent[]
}

/** Reads each output topic from where the checkpoint says; only windows in `windows` count. */
export async function scanOutputs (log: TopicLog, cp: StreamCheckpoint, windows: ReadonlySet<string>): Promise<Recovered> {
  const pending = new Map(cp.unsent.map((e) => [e.topic + '\0' + e.id, e]))
  const emitted = new Map<string, number>()
  for (const [topic, from] of Object.entries(cp.outputFrom)) {
    let offset = from
    for (let guard = 0; guard < 1_000_000 && await log.getTopic(topic) !== undefined; guard++) {
      const { records, nextOffset } = await log.read(topic, { offset }, 1000)
      for (const rec of records) {
        const id = (JSON.parse(rec.bytes.toString('utf8')) as { id?: unknown }).id
        if (typeof id !== 'string') continue
        pending.delete(topic + '\0' + id)
        const parsed = parseWindowId(id)
        if (parsed === undefined || !windows.has(parsed.window)) continue
        if (!((emitted.get(parsed.series) ?? -Infinity) >= parsed.end)) emitted.set(parsed.series, parsed.end)
      }
      if (records.length === 0 || nextOffset <= offset) break
      offset = nextOffset
    }
  }
  return { emitted, pending: [...pending.values()] }
}

/** Each output topic's next offset now: a checkpoint's `outputFrom`. */
export async function outputPositions (log: TopicLog, outputTopics: Iterable<string>): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const t of outputTopics) out[t] ??= (await log.getTopic(t))?.nextOffset ?? 0
  return out
}
