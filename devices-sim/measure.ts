import type { SharedClock } from './clock.js'
import { latencyHistogram, recordMs } from './histogram.js'
import { Deliveries } from './ledger.js'
import type { ReceivedEvent } from './receiver.js'
import { LatencyPerSecond, PerSecond } from './series.js'

// What the main thread measures itself: the deliveries the pull subscription hands over
// (ledger, publish → delivery latency, per-second series) and its own errors (receive,
// acknowledge, commands, connect). Seconds in the series count from the publish start.

const MAX_FIRST_ERRORS = 10

export class DeliveryMeter {
  readonly deliveries: Deliveries
  readonly latency = latencyHistogram()
  readonly deliveredSeries = new PerSecond()
  readonly latencySeries = new LatencyPerSecond()
  readonly errorSeries = new PerSecond()
  readonly firstErrors: string[] = []
  /** The shared-clock instant publishing starts; 0 before. */
  startAt = 0
  /** Messages sent this long after startAt or later are in the latency histogram (--warmup). */
  warmupMs = 0
  lastDeliveryAt = 0
  private readonly indexOf: ReadonlyMap<string, number>

  constructor (private readonly clock: SharedClock, ids: readonly string[]) {
    this.deliveries = new Deliveries(ids.length)
    this.indexOf = new Map(ids.map((id, i) => [id, i]))
  }

  /** An error of the main thread: kept among the first few, counted in its second once publishing started. */
  readonly onError = (message: string): void => {
    if (this.firstErrors.length < MAX_FIRST_ERRORS) this.firstErrors.push(message)
    if (this.startAt > 0) this.errorSeries.add(this.second(this.clock.now()))
  }

  /** A batch from the subscription: new deliveries go to the ledger, the series and the latency. */
  readonly onBatch = (events: readonly ReceivedEvent[]): void => {
    const at = this.clock.now()
    for (const e of events) {
      const ev = e.event
      const id = ev?.deviceid
      const outcome = this.deliveries.record(typeof id === 'string' ? this.indexOf.get(id) : undefined, ev?.data?.seq)
      if (outcome !== 'new') continue
      this.lastDeliveryAt = at
      this.deliveredSeries.add(this.second(at))
      const sentAt = ev?.data?.sentAt
      if (typeof sentAt === 'number') {
        if (sentAt >= this.startAt + this.warmupMs) recordMs(this.latency, at - sentAt)
        this.latencySeries.record(this.second(at), at - sentAt)
      }
    }
  }

  get unique (): number { return this.deliveries.unique }

  /** The delivery p99 in ms of the messages sent after the warm-up, or null before the first of them is delivered. */
  p99 (): number | null {
    return this.latency.totalCount === 0 ? null : this.latency.getValueAtPercentile(99) / 1000
  }

  private second (at: number): number {
    return (at - this.startAt) / 1000
  }
}
