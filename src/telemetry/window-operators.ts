import type { EventMatcher } from '../core/filters.js'
import { resultReader, type Aggregate } from './aggregate.js'
import type { WindowSpec } from './window-spec.js'
import { createHopping, createSessionWindow, createSlidingWindow, createTumbling, type WindowOperator } from './windows.js'

// A continuous window as a stream runs it: what it reads, how its results are read, and the
// operator one (device, metric) gets. Pure.

export interface StreamWindow {
  name: string
  spec: WindowSpec
  matcher: EventMatcher | undefined
}

export interface AttachedWindow extends StreamWindow {
  /** The metrics it reads; null: all. */
  metrics: Set<string> | null
  /** count first, then the requested aggregates. */
  names: string[]
  read: (agg: Aggregate) => Record<string, number | null>
}

export function attachWindow (w: StreamWindow): AttachedWindow {
  const names = ['count', ...w.spec.aggregates.filter((a) => a !== 'count')]
  return { ...w, metrics: w.spec.metrics.length === 0 ? null : new Set(w.spec.metrics), names, read: resultReader(names) }
}

/** A new operator for the window, or the one a snapshot() of it had. */
export function operatorFor (w: AttachedWindow, state?: unknown): WindowOperator<unknown> {
  const s = w.spec.window
  const opts = { percentiles: w.names.some((n) => n === 'p50' || n === 'p95' || n === 'p99') }
  switch (s.kind) {
    case 'tumbling': return createTumbling(s.sizeMs, s.offsetMs, opts, state)
    case 'hopping': return createHopping(s.sizeMs, s.hopMs, s.offsetMs, opts, state)
    case 'sliding': return createSlidingWindow(s.sizeMs, w.names, state)
    case 'session': return createSessionWindow(s.timeoutMs, s.maxDurationMs, opts, state)
  }
}
