// The JSON bodies of gridgate's HTTP API as tests read them: `gw.request<Command>(...)`
// types the answer's body. The fields are the ones tests look at; an answer may hold more.
// A type here is a claim of the test, not checked at run time: assertions check the values.

/** Every error answer: `{"error":{"code":"...","message":"..."}}`. */
export interface ErrorBody {
  error: { code: string, message: string, details?: Record<string, unknown> }
}

/** A CloudEvent as stored and delivered; `D` is the type of its `data`. */
export interface CloudEvent<D = unknown> {
  specversion: string
  id: string
  source: string
  type: string
  subject?: string
  time?: string
  datacontenttype?: string
  data: D
  data_base64?: string
  /** Extension attributes (deviceid, mqtttopic, mqttqos, validationerror, ...). */
  [attribute: string]: unknown
}

/** `{"value":[...]}` lists. */
export interface List<T> {
  value: T[]
}

// ------------------------------------------------------------------ topics and replay

export interface Topic {
  name: string
  retention: { maxAgeSeconds: number, maxBytes: number }
  createdAt: string
  firstOffset: number
  nextOffset: number
  events: number
  bytes: number
}

export interface LoggedEvent<D = unknown> {
  offset: number
  time: string
  event: CloudEvent<D>
}

/** GET /topics/{topic}/events */
export interface Replay<D = unknown> extends List<LoggedEvent<D>> {
  nextOffset: number
}

// ------------------------------------------------------------------ subscriptions

export interface Subscription {
  name: string
  properties: {
    deliveryConfiguration: { deliveryMode: 'Queue' | 'Push', [key: string]: unknown }
    filtersConfiguration?: Record<string, unknown>
    [key: string]: unknown
  }
  [key: string]: unknown
}

/** GET .../eventsubscriptions/{sub}/status */
export interface SubscriptionStatus {
  name: string
  topic: string
  deliveryMode: 'Queue' | 'Push'
  cursor: number
  backlog: number
  inFlight: number
  delivered: number
  failed: number
  deadLettered: number
  lastError: string | null
  validationState: string
}

export interface DeadLetter<D = unknown> {
  offset: number
  event: CloudEvent<D>
  deadLetterReason: string
  deliveryAttempts: number
  lastHttpStatusCode: number | null
  lastError: string | null
  deadLetteredAt: string
  deadletterProperties: Record<string, unknown>
}

export interface ReceivedEvent<D = unknown> {
  brokerProperties: { lockToken: string, deliveryCount: number }
  event: CloudEvent<D>
}

/** POST ...:receive */
export type Received<D = unknown> = List<ReceivedEvent<D>>

/** POST ...:acknowledge, :release, :reject, :renewLock */
export interface Settled {
  succeededLockTokens: string[]
  failedLockTokens: Array<{ lockToken: string, error: { code: string, message: string } }>
}

// ------------------------------------------------------------------ devices and commands

export interface Device {
  id: string
  attributes: Record<string, string>
  connected: boolean
  lastSeen: string | null
  /** Only in the answer that created the device. */
  password?: string
  [key: string]: unknown
}

/** PUT /devices/{id} when it creates the device: the one time the password is shown. */
export interface RegisteredDevice extends Device {
  password: string
}

export type CommandStatus = 'pending' | 'sent' | 'delivered' | 'succeeded' | 'failed' | 'timedOut' | 'expired' | 'canceled'

export interface Command {
  id: string
  deviceId: string
  name: string
  payload: unknown
  status: CommandStatus
  result: unknown
  error: string | null
  sendCount: number
  [key: string]: unknown
}

/** GET /devices/{id}/commands */
export interface CommandPage extends List<Command> {
  next?: number
}

// ------------------------------------------------------------------ telemetry

/** A continuous window's definition as PUT /windows/{name} answers it. */
export interface WindowDefinition {
  name: string
  [key: string]: unknown
}

/** The i-th item of a list the test expects to have it; an error naming the length otherwise. */
export function nth<T> (items: readonly T[], i: number): T {
  if (i >= items.length) throw new Error(`expected at least ${i + 1} items, got ${items.length}`)
  return items[i] as T
}
