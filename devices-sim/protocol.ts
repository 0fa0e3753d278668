// Messages between the main thread and the device workers (structured clone).

export interface WorkerDevice {
  /** Index among all devices of the run (the main thread's ledger position). */
  index: number
  /** Client id (and, against gridgate, the username). */
  id: string
  /** Absent: an anonymous CONNECT (--broker-only without --username). */
  username?: string
  password?: string
  /** Subscribes to its commands and answers them. */
  answers: boolean
  /** Disconnects and reconnects every churn interval while publishing. */
  churns: boolean
}

export interface WorkerInit {
  worker: number
  url: string
  ca?: string
  qos: 0 | 1
  devices: WorkerDevice[]
  /** This worker's share of the connection ramp (connections/s) and of the publish rate. */
  ramp: number
  rate: number
  /** Messages this worker publishes in all. */
  messages: number
  runId: string
  /** See clock.ts: makes the worker's clock the main thread's. */
  clockOffsetMs: number
  /** The payload template (a JSON object). */
  template: unknown
  churnIntervalMs: number
  /** How long to wait for outstanding PUBACKs after the last publish. */
  drainMs: number
  /** PUBACKs of messages sent in this first stretch of publishing stay out of the histogram (--warmup). */
  warmupMs: number
}

export type ToWorker =
  | { type: 'init', init: WorkerInit }
  | { type: 'start', atMs: number }
  | { type: 'stop' }
  | { type: 'close' }

export interface WorkerStats {
  connected: number
  sent: number
  acked: number
  errors: number
}

export interface ConnectSummary {
  connected: number
  /** Refused CONNECTs by CONNACK return code. */
  refused: Record<string, number>
  /** Devices that could not reach the broker at all (socket or TLS errors, timeouts). */
  unreachable: number
  firstError?: string
}

export interface WorkerReport {
  /** Per device of this worker, in init order: messages sent (= last sequence number). */
  sent: number[]
  /** Per device: bitmap of acknowledged sequence numbers (QoS 1). */
  acked: Uint8Array[]
  /** Publish → PUBACK histogram, compressed. */
  puback: string
  sentSeries: number[]
  ackedSeries: number[]
  errorSeries: number[]
  totals: { sent: number, acked: number, publishErrors: number, disconnects: number, reconnectFailures: number, unacked: number, skipped: number, responses: number }
  churn: { disconnects: number, reconnects: number, failed: number }
  firstErrors: string[]
  /** Event-loop utilisation while publishing (0..1). */
  elu: number
  /** Largest delay of a publish behind its schedule (ms). */
  maxLagMs: number
}

export type FromWorker =
  | { type: 'stats', stats: WorkerStats }
  | { type: 'ready', summary: ConnectSummary }
  | { type: 'published', lastAtMs: number }
  | { type: 'done', report: WorkerReport }
  | { type: 'closed' }
