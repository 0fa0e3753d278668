import { performance } from 'node:perf_hooks'
import { formatProgress } from './report.js'

// The live progress line on stderr, once a second: on a terminal it rewrites itself, else
// one line per second. The final line shows the rate of the whole publish phase (it covers
// only a part of a second itself).

export type Phase = 'connecting' | 'publishing' | 'draining'

/** The counts a progress line shows, read when it is printed. */
export interface ProgressCounts {
  connected: number
  sent: number
  delivered: number
  /** Delivery p99 in ms (messages sent after the warm-up), null before the first of them is delivered. */
  p99: number | null
  errors: number
}

export interface ProgressOptions {
  devices: number
  counts: () => ProgressCounts
  write: (text: string) => void
  tty: boolean
}

export class ProgressLine {
  phase: Phase = 'connecting'
  private readonly runStart = performance.now()
  private lastSent = 0
  private lastTick = performance.now()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly opts: ProgressOptions) {}

  /** Prints every second until stopped. */
  start (): void {
    this.timer = setInterval(() => this.print(), 1000)
  }

  stop (): void {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** Stops the updates and prints the last line with `finalRate` (msg/s over the publish phase). */
  finish (finalRate: number): void {
    this.stop()
    this.print(finalRate)
  }

  private print (finalRate?: number): void {
    const now = performance.now()
    const c = this.opts.counts()
    const final = finalRate !== undefined
    const line = formatProgress({
      phase: this.phase,
      elapsedSeconds: (now - this.runStart) / 1000,
      connected: c.connected,
      devices: this.opts.devices,
      sent: c.sent,
      msgPerSec: final ? finalRate : now > this.lastTick ? (c.sent - this.lastSent) * 1000 / (now - this.lastTick) : 0,
      delivered: c.delivered,
      p99: c.p99,
      errors: c.errors
    })
    this.lastSent = c.sent
    this.lastTick = now
    this.opts.write(this.opts.tty ? `\r\x1b[K${line}${final ? '\n' : ''}` : `${line}\n`)
  }
}
