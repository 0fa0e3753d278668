// The command lifecycle as a pure state machine: (command, event, now) -> command.
//
//   pending --send--> sent --ack--> delivered
//      |                |              |
//      |                +--respond-----+--> succeeded | failed
//      |                +--timeout-----+--> timedOut       (timeoutSeconds after the first send)
//      +--expire--> expired   (the device did not come online within ttlSeconds)
//      +--cancel--> canceled
//
// End states never change again: late or repeated answers are reported as `ignored`.

export type CommandStatus = 'pending' | 'sent' | 'delivered' | 'succeeded' | 'failed' | 'timedOut' | 'expired' | 'canceled'

export const END_STATES: ReadonlySet<CommandStatus> = new Set(['succeeded', 'failed', 'timedOut', 'expired', 'canceled'])

export interface Command {
  id: string
  deviceId: string
  name: string
  payload: unknown
  timeoutSeconds: number
  ttlSeconds: number
  status: CommandStatus
  result: unknown
  error: string | null
  createdAt: number
  updatedAt: number
  /** First time it was published to the device; the timeout counts from here. */
  sentAt: number | null
  /** Times it was published (a restart re-sends an unanswered command). */
  sendCount: number
  /** Creation order, for sending in order and for listing. */
  seq: number
}

/** A command as created: pending, never sent; `seq` is its place in creation order. */
export function newCommand (fields: Pick<Command, 'id' | 'deviceId' | 'name' | 'payload' | 'timeoutSeconds' | 'ttlSeconds' | 'seq'>, now: number): Command {
  return { ...fields, status: 'pending', result: null, error: null, createdAt: now, updatedAt: now, sentAt: null, sendCount: 0 }
}

export type CommandEvent =
  | { type: 'send' }
  | { type: 'ack' }
  | { type: 'respond', status: 'succeeded' | 'failed', result: unknown, error: string | null }
  | { type: 'timeout' }
  | { type: 'expire' }
  | { type: 'cancel' }

export type Transition =
  | { kind: 'changed', command: Command }
  /** Allowed but no new state (a re-send of a sent command). */
  | { kind: 'same', command: Command }
  /** Not allowed in this state (late or duplicate answer, cancel after sending, ...). */
  | { kind: 'ignored', command: Command, reason: string }

export function isEnd (status: CommandStatus): boolean {
  return END_STATES.has(status)
}

function to (c: Command, status: CommandStatus, now: number, extra: Partial<Command> = {}): Transition {
  return { kind: 'changed', command: { ...c, ...extra, status, updatedAt: now } }
}

export function transition (c: Command, e: CommandEvent, now: number): Transition {
  const ignore = (reason: string): Transition => ({ kind: 'ignored', command: c, reason })
  if (isEnd(c.status)) return ignore(`the command already ended as ${c.status}`)
  switch (e.type) {
    case 'send':
      if (c.status === 'pending') return to(c, 'sent', now, { sentAt: now, sendCount: c.sendCount + 1 })
      // sent or delivered: sent again after a restart or reconnect; the state stays.
      return { kind: 'same', command: { ...c, sendCount: c.sendCount + 1 } }
    case 'ack':
      if (c.status === 'sent') return to(c, 'delivered', now)
      return ignore(`an acknowledgement in state ${c.status}`)
    case 'respond':
      if (c.status === 'sent' || c.status === 'delivered') return to(c, e.status, now, { result: e.result ?? null, error: e.error })
      return ignore(`an answer in state ${c.status}`)
    case 'timeout':
      if (c.status === 'sent' || c.status === 'delivered') return to(c, 'timedOut', now, { error: `no answer within ${c.timeoutSeconds} s` })
      return ignore(`a timeout in state ${c.status}`)
    case 'expire':
      if (c.status === 'pending') return to(c, 'expired', now, { error: `the device did not come online within ${c.ttlSeconds} s` })
      return ignore(`an expiry in state ${c.status}`)
    case 'cancel':
      if (c.status === 'pending') return to(c, 'canceled', now)
      return ignore(`only a pending command can be canceled, this one is ${c.status}`)
  }
}

/** When the command's next timer fires, and what it is, for the state it is in. */
export function nextDeadline (c: Command): { at: number, event: 'timeout' | 'expire' } | undefined {
  if (c.status === 'pending') return { at: c.createdAt + c.ttlSeconds * 1000, event: 'expire' }
  if ((c.status === 'sent' || c.status === 'delivered') && c.sentAt !== null) return { at: c.sentAt + c.timeoutSeconds * 1000, event: 'timeout' }
  return undefined
}

/** The command as the API shows it. */
export function view (c: Command): Record<string, unknown> {
  return {
    id: c.id,
    deviceId: c.deviceId,
    name: c.name,
    payload: c.payload,
    status: c.status,
    result: c.result,
    error: c.error,
    timeoutSeconds: c.timeoutSeconds,
    ttlSeconds: c.ttlSeconds,
    createdAt: new Date(c.createdAt).toISOString(),
    updatedAt: new Date(c.updatedAt).toISOString(),
    sentAt: c.sentAt === null ? null : new Date(c.sentAt).toISOString(),
    sendCount: c.sendCount
  }
}

/** A device's answer on devices/{id}/responses/{commandId}; undefined when it is not one. */
export function parseResponse (payload: Buffer): { status: 'succeeded' | 'failed', result: unknown, error: string | null } | undefined {
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const r = v as { status?: unknown, result?: unknown, error?: unknown }
  if (r.status !== 'succeeded' && r.status !== 'failed') return undefined
  if (r.error !== undefined && r.error !== null && typeof r.error !== 'string') return undefined
  return { status: r.status, result: r.result ?? null, error: (r.error as string | undefined) ?? null }
}
