import { setMaxListeners } from 'node:events'
import type { SharedClock } from './clock.js'
import { latencyHistogram, recordMs, summarize } from './histogram.js'
import { describeAnswer, errorText, type GatewayHttp } from './http.js'
import { END_STATES, type CommandResult } from './report.js'
import { dueCount, sleepMs } from './schedule.js'

// Commands to the answering devices at a fixed rate, round robin, each one a
// `POST /devices/{id}/commands?wait=30` that holds until the command's end state; the
// latency is request sent → answer with the end state.

const WAIT_SECONDS = 30
/** Commands in flight at most; past it a due command is counted as not sent. */
const MAX_IN_FLIGHT = 512

export class CommandSender {
  private readonly hist = latencyHistogram()
  private readonly outcomes: Record<string, number> = Object.fromEntries([...END_STATES, 'unfinished'].map((s) => [s, 0]))
  private readonly errorCodes: Record<string, number> = {}
  private readonly inFlight = new Set<Promise<void>>()
  private readonly abort = new AbortController()
  private sent = 0
  private notSent = 0
  private errors = 0
  private slots = 0
  private next = 0
  private timer: NodeJS.Timeout | undefined
  private startAt = 0

  constructor (
    private readonly http: GatewayHttp,
    private readonly targets: readonly string[],
    private readonly rate: number,
    private readonly runId: string,
    private readonly clock: SharedClock,
    private readonly onError: (message: string) => void
  ) {
    // Every command in flight listens on the one abort signal.
    setMaxListeners(0, this.abort.signal)
  }

  get errorCount (): number { return this.errors }

  start (atMs: number): void {
    if (this.targets.length === 0 || this.rate <= 0) return
    this.startAt = atMs
    const tick = (): void => {
      const elapsed = this.clock.now() - this.startAt
      const due = dueCount(this.rate, elapsed)
      for (; this.slots < due; this.slots++) this.send()
      this.timer = setTimeout(tick, sleepMs(this.rate, this.slots, this.clock.now() - this.startAt))
    }
    this.timer = setTimeout(tick, Math.max(0, atMs - this.clock.now()))
  }

  /** No new commands from now on. */
  stop (): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private send (): void {
    if (this.inFlight.size >= MAX_IN_FLIGHT) { this.notSent++; return }
    const device = this.targets[this.next++ % this.targets.length] as string
    const n = ++this.sent
    const began = this.clock.now()
    const p = this.http.call('POST', `/devices/${encodeURIComponent(device)}/commands?wait=${WAIT_SECONDS}`, {
      body: { name: 'sim-ping', payload: { run: this.runId, n, sentAt: began }, timeoutSeconds: WAIT_SECONDS },
      signal: this.abort.signal
    }).then((a) => {
      if (a.status !== 200 && a.status !== 201) {
        this.errors++
        const code = errorText(a.body).split(':')[0] || String(a.status)
        this.errorCodes[code] = (this.errorCodes[code] ?? 0) + 1
        this.onError(`command to ${device}: ${describeAnswer(a)}`)
        return
      }
      const status = (a.body as { status?: string } | undefined)?.status ?? ''
      if ((END_STATES as readonly string[]).includes(status)) {
        this.outcomes[status] = (this.outcomes[status] ?? 0) + 1
        recordMs(this.hist, this.clock.now() - began)
      } else {
        this.outcomes.unfinished = (this.outcomes.unfinished ?? 0) + 1
      }
    }, (err: unknown) => {
      if (this.abort.signal.aborted) {
        this.outcomes.unfinished = (this.outcomes.unfinished ?? 0) + 1
        return
      }
      this.errors++
      this.errorCodes.NETWORK = (this.errorCodes.NETWORK ?? 0) + 1
      this.onError(`command to ${device}: ${(err as Error).message}`)
    }).finally(() => { this.inFlight.delete(p) })
    this.inFlight.add(p)
  }

  /** Waits for the commands in flight, at most `ms`; the rest count as unfinished. */
  async drain (ms: number): Promise<void> {
    this.stop()
    if (this.inFlight.size === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all([...this.inFlight]),
      new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) })
    ])
    clearTimeout(timer)
    this.abort.abort()
    await Promise.all([...this.inFlight])
  }

  result (): CommandResult {
    return { sent: this.sent, outcomes: { ...this.outcomes }, errors: this.errors, errorCodes: { ...this.errorCodes }, notSent: this.notSent, latencyMs: summarize(this.hist) }
  }
}
