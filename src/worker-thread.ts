import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { LOOP_DELAY_QUANTILES, type LoopDelay } from './observability/metrics.js'

// What every worker does on its own thread (telemetry-worker.ts, twins-worker.ts); the main
// thread's side is worker-host.ts.

/**
 * Lowers this thread's CPU priority (nice 10) where the OS allows it per thread (Linux: a
 * thread's id is a pid for setpriority). When the cores are busy the scheduler then runs the
 * ingest thread first; the worker lags and catches up, acknowledgements do not wait.
 */
export function yieldToIngest (nice = 10): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice)
  } catch {
    // No /proc (not Linux) or not allowed: the same priority as ingest.
  }
}

/** This loop's delay since the last call (ns, one per LOOP_DELAY_QUANTILES entry; 1 = max), for a 'stats' notice; resets it. */
export function takeLoopDelay (loop: LoopDelay): number[] {
  const ns = LOOP_DELAY_QUANTILES.map((q) => q === 1 ? loop.max : loop.percentile(q * 100))
  loop.reset()
  return ns
}
