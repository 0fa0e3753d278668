import type { Clock, TimerHandle } from './clock.js'

// A step run every interval and on demand, never two at once: the ownership loops of event
// subscriptions and telemetry streams (delivery/ownership.ts, telemetry/ownership.ts). A call
// while a step runs asks for one more after it, so a signal that arrives mid-step is not lost;
// a failed step is reported and the next interval runs as usual.

export interface StepLoop {
  /** Runs the step now (once more after the running one, when one runs). */
  tick: () => Promise<void>
  /** Whether stop() was called. */
  readonly stopped: boolean
  /** No more steps; resolves when the running one has ended. */
  stop: () => Promise<void>
}

export function startStepLoop (step: () => Promise<void>, opts: { clock: Clock, intervalMs: number, onError?: (err: unknown) => void }): StepLoop {
  let stopped = false
  let running: Promise<void> | undefined
  let again = false
  let timer: TimerHandle | undefined

  function tick (): Promise<void> {
    if (stopped) return Promise.resolve()
    if (running !== undefined) { again = true; return running }
    running = (async () => {
      do {
        again = false
        await step().catch((err: unknown) => opts.onError?.(err))
        // `again` and `stopped` change while this loop awaits.
        // eslint-disable-next-line no-unmodified-loop-condition
      } while (again && !stopped)
    })().finally(() => { running = undefined })
    return running
  }
  const schedule = (): void => {
    if (stopped) return
    timer = opts.clock.setTimer(opts.intervalMs, () => { void tick().then(schedule) })
  }
  void tick()
  schedule()

  return {
    tick,
    get stopped () { return stopped },
    async stop () {
      stopped = true
      timer?.cancel()
      await running
    }
  }
}
