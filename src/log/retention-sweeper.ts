import type { Clock, TimerHandle } from '../core/clock.js'
import type { TopicLog } from './types.js'

export interface RetentionSweeper {
  /** Runs one sweep now (also what the timer does). */
  sweep: () => Promise<number>
  stop: () => Promise<void>
}

/** Enforces retention every `intervalMs` in the background; appends never wait for it. */
export function startRetentionSweeper (log: TopicLog, clock: Clock, intervalMs: number, onError: (err: unknown) => void): RetentionSweeper {
  let timer: TimerHandle | undefined
  let running: Promise<number> | undefined
  let stopped = false

  const sweep = (): Promise<number> => {
    running ??= log.enforceRetention().finally(() => { running = undefined })
    return running
  }
  const arm = (): void => {
    if (stopped) return
    timer = clock.setTimer(intervalMs, () => {
      sweep().catch(onError).finally(arm)
    })
  }
  arm()
  return {
    sweep,
    stop: async () => {
      stopped = true
      timer?.cancel()
      await running?.catch(() => undefined)
    }
  }
}
