import { setMaxListeners } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { SimError } from './errors.js'
import { describeAnswer, type GatewayHttp } from './http.js'

// The measuring end: a pull (Queue) subscription on the namespace topic, filtered to this
// run's devices, read by several concurrent long-poll loops that acknowledge what they got.
// Acknowledgements are not awaited before the next receive, so one round trip per batch
// is all a loop waits for.

export interface ReceivedEvent {
  brokerProperties?: { lockToken?: string, deliveryCount?: number }
  event?: { deviceid?: unknown, data?: { seq?: unknown, sentAt?: unknown, run?: unknown } }
}

const ERROR_PAUSE_MS = 500

export class PullReceiver {
  receives = 0
  events = 0
  receiveErrors = 0
  ackErrors = 0
  private readonly abort = new AbortController()
  private readonly loops: Array<Promise<void>> = []
  private readonly acks = new Set<Promise<void>>()
  private readonly base: string

  constructor (
    private readonly http: GatewayHttp,
    readonly topic: string,
    readonly name: string,
    private readonly onBatch: (events: ReceivedEvent[]) => void,
    private readonly onError: (message: string) => void
  ) {
    this.base = `/topics/${encodeURIComponent(topic)}/eventsubscriptions/${encodeURIComponent(name)}`
    // Up to 16 long polls listen on the one abort signal.
    setMaxListeners(0, this.abort.signal)
  }

  /** Creates the subscription (it starts at the topic's end). */
  async create (filters: unknown[]): Promise<void> {
    const a = await this.http.call('PUT', this.base, {
      body: {
        properties: {
          deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60 } },
          filtersConfiguration: { filters }
        }
      }
    })
    if (a.status !== 201 && a.status !== 200) {
      throw new SimError('SUBSCRIPTION_FAILED', `cannot create the event subscription '${this.name}' on topic '${this.topic}': ${describeAnswer(a)}`)
    }
  }

  start (loops: number): void {
    for (let i = 0; i < loops; i++) this.loops.push(this.loop())
  }

  private async loop (): Promise<void> {
    const signal = this.abort.signal
    while (!signal.aborted) {
      try {
        const a = await this.http.call('POST', `${this.base}:receive?maxEvents=100&maxWaitTime=10`, { signal })
        this.receives++
        if (a.status !== 200) {
          this.receiveErrors++
          this.onError(`receive: ${describeAnswer(a)}`)
          await sleep(ERROR_PAUSE_MS, undefined, { signal })
          continue
        }
        const value = (a.body as { value?: ReceivedEvent[] } | undefined)?.value ?? []
        if (value.length === 0) continue
        this.events += value.length
        this.onBatch(value)
        const tokens = value.map((e) => e.brokerProperties?.lockToken).filter((t): t is string => typeof t === 'string')
        if (tokens.length > 0) this.acknowledge(tokens)
      } catch (err) {
        if (signal.aborted) return
        this.receiveErrors++
        this.onError(`receive: ${(err as Error).message}`)
        try { await sleep(ERROR_PAUSE_MS, undefined, { signal }) } catch { return }
      }
    }
  }

  private acknowledge (lockTokens: string[]): void {
    const p = this.http.call('POST', `${this.base}:acknowledge`, { body: { lockTokens } }).then((a) => {
      const failed = (a.body as { failedLockTokens?: unknown[] } | undefined)?.failedLockTokens?.length ?? 0
      if (a.status !== 200) {
        this.ackErrors += lockTokens.length
        this.onError(`acknowledge: ${describeAnswer(a)}`)
      } else if (failed > 0) {
        this.ackErrors += failed
        this.onError(`acknowledge: ${failed} lock tokens failed`)
      }
    }, (err: unknown) => {
      this.ackErrors += lockTokens.length
      this.onError(`acknowledge: ${(err as Error).message}`)
    }).finally(() => { this.acks.delete(p) })
    this.acks.add(p)
  }

  /** Ends the long polls (what they hold is abandoned: the subscription goes next) and waits for acknowledgements. */
  async stop (): Promise<void> {
    this.abort.abort()
    await Promise.all(this.loops)
    await Promise.all([...this.acks])
  }

  /** Deletes the subscription; a failure is returned as text, not thrown (the run's result stands). */
  async remove (): Promise<string | undefined> {
    try {
      const a = await this.http.call('DELETE', this.base)
      if (a.status !== 204 && a.status !== 404) return `could not delete the event subscription '${this.name}': ${describeAnswer(a)}`
      return undefined
    } catch (err) {
      return `could not delete the event subscription '${this.name}': ${(err as Error).message}`
    }
  }
}
