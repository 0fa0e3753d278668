import type { TopicLog } from '../log/types.js'
import type { WindowEvent } from './store.js'
import { windowOfId } from './window-event.js'

// Closed windows on their way to their output topics. A stream queues them as they close
// and appends them at its checkpoints, one append per topic; an append that fails (an output
// topic deleted, a disk error) keeps its windows as unsent, retried at the next flush and
// stored with the checkpoint meanwhile.

export interface OutboxHooks {
  emitted: (window: string, n: number) => void
  error: (err: unknown) => void
}

export interface Outbox {
  push: (e: WindowEvent) => void
  /** Appends the unsent windows, then the queued ones. */
  flush: () => Promise<void>
  /** Appends these windows (a restart's unsent ones); failures join the unsent. */
  append: (entries: readonly WindowEvent[]) => Promise<void>
  /** Forgets the queued windows of a removed window. */
  drop: (window: string) => void
  /** A copy of the unsent windows, for the checkpoint. */
  unsent: () => WindowEvent[]
}

export function createOutbox (log: TopicLog, hooks: OutboxHooks): Outbox {
  let queued: WindowEvent[] = []
  const unsent: WindowEvent[] = []

  async function append (entries: readonly WindowEvent[]): Promise<void> {
    const byTopic = new Map<string, WindowEvent[]>()
    for (const e of entries) {
      const list = byTopic.get(e.topic)
      if (list === undefined) byTopic.set(e.topic, [e])
      else list.push(e)
    }
    for (const [topic, list] of byTopic) {
      try {
        await log.append(topic, list.map((e) => Buffer.from(e.json)))
        const perWindow = new Map<string, number>()
        for (const e of list) perWindow.set(windowOfId(e.id), (perWindow.get(windowOfId(e.id)) ?? 0) + 1)
        for (const [name, n] of perWindow) hooks.emitted(name, n)
      } catch (err) {
        unsent.push(...list)
        hooks.error(err)
      }
    }
  }

  return {
    push: (e) => { queued.push(e) },
    async flush () {
      const out = [...unsent.splice(0), ...queued.splice(0)]
      if (out.length > 0) await append(out)
    },
    append,
    drop: (window) => { queued = queued.filter((e) => windowOfId(e.id) !== window) },
    unsent: () => [...unsent]
  }
}
