import { describe, it, expect } from 'vitest'
import { END_STATES, isEnd, nextDeadline, parseResponse, transition, view } from '../../src/commands/lifecycle.js'
import type { Command, CommandEvent, CommandStatus } from '../../src/commands/lifecycle.js'

// Distinct instants, so a deadline or a view that reads the wrong field shows it.
const CREATED = Date.UTC(2025, 0, 1, 12, 0, 0) // 2025-01-01T12:00:00.000Z
const SENT = CREATED + 5_000 // 2025-01-01T12:00:05.000Z
const UPDATED = CREATED + 7_000 // 2025-01-01T12:00:07.000Z
const NOW = CREATED + 600_000 // 2025-01-01T12:10:00.000Z

const TIMEOUT_SECONDS = 45
const TTL_SECONDS = 3600

const STATES: readonly CommandStatus[] = ['pending', 'sent', 'delivered', 'succeeded', 'failed', 'timedOut', 'expired', 'canceled']
const ENDS: readonly CommandStatus[] = ['succeeded', 'failed', 'timedOut', 'expired', 'canceled']

/** A command as it looks in `status`: published once unless it is still pending or never left pending. */
function command (status: CommandStatus, overrides: Partial<Command> = {}): Command {
  const published = status !== 'pending' && status !== 'expired' && status !== 'canceled'
  return {
    id: 'cmd-1',
    deviceId: 'meter-7',
    name: 'set-point',
    payload: { target: 21.5, unit: 'C' },
    timeoutSeconds: TIMEOUT_SECONDS,
    ttlSeconds: TTL_SECONDS,
    status,
    result: null,
    error: null,
    createdAt: CREATED,
    updatedAt: UPDATED,
    sentAt: published ? SENT : null,
    sendCount: published ? 1 : 0,
    seq: 12,
    ...overrides
  }
}

const EVENTS = {
  send: { type: 'send' },
  ack: { type: 'ack' },
  succeeded: { type: 'respond', status: 'succeeded', result: { applied: 21.5 }, error: null },
  failed: { type: 'respond', status: 'failed', result: undefined, error: 'relay stuck' },
  timeout: { type: 'timeout' },
  expire: { type: 'expire' },
  cancel: { type: 'cancel' }
} as const satisfies Record<string, CommandEvent>

type EventName = keyof typeof EVENTS
const EVENT_NAMES = Object.keys(EVENTS) as EventName[]

/** What each event does in each state: the new status, 'same' (allowed, state kept) or 'ignored'. */
type Outcome = CommandStatus | 'same' | 'ignored'
const ALL_IGNORED: Record<EventName, Outcome> = { send: 'ignored', ack: 'ignored', succeeded: 'ignored', failed: 'ignored', timeout: 'ignored', expire: 'ignored', cancel: 'ignored' }
const MATRIX: Record<CommandStatus, Record<EventName, Outcome>> = {
  pending: { send: 'sent', ack: 'ignored', succeeded: 'ignored', failed: 'ignored', timeout: 'ignored', expire: 'expired', cancel: 'canceled' },
  sent: { send: 'same', ack: 'delivered', succeeded: 'succeeded', failed: 'failed', timeout: 'timedOut', expire: 'ignored', cancel: 'ignored' },
  delivered: { send: 'same', ack: 'ignored', succeeded: 'succeeded', failed: 'failed', timeout: 'timedOut', expire: 'ignored', cancel: 'ignored' },
  succeeded: ALL_IGNORED,
  failed: ALL_IGNORED,
  timedOut: ALL_IGNORED,
  expired: ALL_IGNORED,
  canceled: ALL_IGNORED
}

const CELLS = STATES.flatMap(from => EVENT_NAMES.map(event => ({ from, event, outcome: MATRIX[from][event] })))

/** Runs one transition and checks the input command was left exactly as it was. */
function run (c: Command, event: CommandEvent) {
  const before = structuredClone(c)
  const t = transition(c, event, NOW)
  expect(c).toStrictEqual(before)
  return t
}

describe('transition: every state x every event', () => {
  it('covers all 8 states and 7 events (respond as succeeded and as failed)', () => {
    expect(CELLS).toHaveLength(56)
  })

  it.each(CELLS.filter(c => c.outcome !== 'ignored' && c.outcome !== 'same'))('$from --$event--> $outcome, updatedAt = now, input untouched', ({ from, event, outcome }) => {
    const c = command(from)
    const t = run(c, EVENTS[event])
    expect(t.kind).toBe('changed')
    expect(t.command).not.toBe(c)
    expect(t.command.status).toBe(outcome)
    expect(t.command.updatedAt).toBe(NOW)
  })

  it.each(CELLS.filter(c => c.outcome === 'same'))('$from --$event--> same state, input untouched', ({ from, event }) => {
    const c = command(from)
    const t = run(c, EVENTS[event])
    expect(t.kind).toBe('same')
    expect(t.command).not.toBe(c)
    expect(t.command.status).toBe(from)
  })

  it.each(CELLS.filter(c => c.outcome === 'ignored'))('$from --$event--> ignored, the very same command back with a reason', ({ from, event }) => {
    const c = command(from)
    const t = run(c, EVENTS[event])
    expect(t).toEqual({ kind: 'ignored', command: c, reason: expect.stringMatching(/\S/) })
    expect(t.command).toBe(c)
  })
})

describe('transition: what a change writes', () => {
  it.each([
    { from: 'pending', event: 'send', what: 'sentAt now, sendCount 0 -> 1', changes: { status: 'sent', sentAt: NOW, sendCount: 1 } },
    { from: 'pending', event: 'send', what: 'sentAt now, sendCount 2 -> 3', before: { sendCount: 2 }, changes: { status: 'sent', sentAt: NOW, sendCount: 3 } },
    { from: 'sent', event: 'ack', what: 'only the status', changes: { status: 'delivered' } },
    { from: 'sent', event: 'succeeded', what: 'the result, error null', changes: { status: 'succeeded', result: { applied: 21.5 }, error: null } },
    { from: 'delivered', event: 'succeeded', what: 'the result, error null', changes: { status: 'succeeded', result: { applied: 21.5 }, error: null } },
    { from: 'sent', event: 'failed', what: 'the error, result null', changes: { status: 'failed', result: null, error: 'relay stuck' } },
    { from: 'delivered', event: 'failed', what: 'the error, result null', changes: { status: 'failed', result: null, error: 'relay stuck' } },
    { from: 'sent', event: 'timeout', what: 'an error naming the seconds', changes: { status: 'timedOut', error: expect.stringContaining(String(TIMEOUT_SECONDS)) } },
    { from: 'delivered', event: 'timeout', what: 'an error naming the seconds', changes: { status: 'timedOut', error: expect.stringContaining(String(TIMEOUT_SECONDS)) } },
    { from: 'pending', event: 'expire', what: 'only the status (and a reason)', changes: { status: 'expired', error: expect.toSatisfy((v: unknown) => v === null || typeof v === 'string') } },
    { from: 'pending', event: 'cancel', what: 'only the status', changes: { status: 'canceled' } }
  ] satisfies Array<{ from: CommandStatus, event: EventName, what: string, before?: Partial<Command>, changes: Partial<Command> }>)('$from --$event--> writes $what, updatedAt now, nothing else', ({ from, event, before, changes }) => {
    const c = command(from, before)
    const t = run(c, EVENTS[event])
    expect(t.kind).toBe('changed')
    expect(t.command).toEqual({ ...c, ...changes, updatedAt: NOW })
  })

  it.each([
    { name: 'an object', result: { applied: 1 }, expected: { applied: 1 } },
    { name: 'a string', result: 'ok', expected: 'ok' },
    { name: 'zero', result: 0, expected: 0 },
    { name: 'false', result: false, expected: false },
    { name: 'an empty string', result: '', expected: '' },
    { name: 'null', result: null, expected: null },
    { name: 'absent (undefined)', result: undefined, expected: null }
  ])('stores a respond result that is $name as $expected', ({ result, expected }) => {
    const t = run(command('delivered'), { type: 'respond', status: 'succeeded', result, error: null })
    expect(t.command.result).toStrictEqual(expected)
  })

  it.each([
    { timeoutSeconds: 1 },
    { timeoutSeconds: 90 },
    { timeoutSeconds: 86_400 }
  ])('names the command\'s own $timeoutSeconds s in the timeout error', ({ timeoutSeconds }) => {
    const t = run(command('sent', { timeoutSeconds }), EVENTS.timeout)
    expect(t.command.error).toMatch(new RegExp(`\\b${timeoutSeconds}\\b`))
  })
})

describe('transition: re-sending a sent command', () => {
  it.each([
    { from: 'sent', sendCount: 1 },
    { from: 'delivered', sendCount: 1 },
    { from: 'sent', sendCount: 4 }
  ] satisfies Array<{ from: CommandStatus, sendCount: number }>)('$from with sendCount $sendCount: kind same, sendCount + 1, sentAt and everything else kept', ({ from, sendCount }) => {
    const c = command(from, { sendCount })
    const t = run(c, EVENTS.send)
    expect(t.kind).toBe('same')
    expect(t.command.sendCount).toBe(sendCount + 1)
    expect(t.command.sentAt).toBe(SENT)
    // updatedAt is not part of the rule for a re-send; every other field is.
    expect({ ...t.command, updatedAt: 0 }).toEqual({ ...c, sendCount: sendCount + 1, updatedAt: 0 })
  })

  it('keeps the timeout counting from the first send', () => {
    const c = command('sent')
    const t = run(c, EVENTS.send)
    expect(nextDeadline(t.command)).toEqual({ at: SENT + TIMEOUT_SECONDS * 1000, event: 'timeout' })
  })
})

describe('isEnd and END_STATES', () => {
  it.each(STATES.map(status => ({ status, end: ENDS.includes(status) })))('$status is an end state: $end', ({ status, end }) => {
    expect(isEnd(status)).toBe(end)
    expect(END_STATES.has(status)).toBe(end)
  })

  it('holds exactly the five end states', () => {
    expect([...END_STATES].sort()).toEqual([...ENDS].sort())
  })
})

describe('nextDeadline', () => {
  it.each([
    { name: 'pending: createdAt + ttl, expire', c: command('pending'), expected: { at: CREATED + TTL_SECONDS * 1000, event: 'expire' } },
    { name: 'pending with ttl 0: at createdAt', c: command('pending', { ttlSeconds: 0 }), expected: { at: CREATED, event: 'expire' } },
    { name: 'pending: from createdAt', c: command('pending', { updatedAt: NOW }), expected: { at: CREATED + TTL_SECONDS * 1000, event: 'expire' } },
    { name: 'sent: sentAt + timeout, timeout', c: command('sent'), expected: { at: SENT + TIMEOUT_SECONDS * 1000, event: 'timeout' } },
    { name: 'delivered: sentAt + timeout', c: command('delivered', { updatedAt: NOW }), expected: { at: SENT + TIMEOUT_SECONDS * 1000, event: 'timeout' } },
    { name: 'delivered with its own timeout', c: command('delivered', { timeoutSeconds: 1 }), expected: { at: SENT + 1000, event: 'timeout' } },
    ...ENDS.map(status => ({ name: `${status}: none`, c: command(status), expected: undefined }))
  ])('$name', ({ c, expected }) => {
    expect(nextDeadline(c)).toEqual(expected)
  })
})

describe('view', () => {
  it.each([
    { name: 'a pending command, sentAt null', c: command('pending'), sentAt: null, sendCount: 0 },
    { name: 'a sent command, sentAt as ISO', c: command('sent'), sentAt: '2025-01-01T12:00:05.000Z', sendCount: 1 }
  ])('shows $name and every time as an ISO string', ({ c, sentAt, sendCount }) => {
    expect(view(c)).toStrictEqual({
      id: 'cmd-1',
      deviceId: 'meter-7',
      name: 'set-point',
      payload: { target: 21.5, unit: 'C' },
      status: c.status,
      result: null,
      error: null,
      timeoutSeconds: TIMEOUT_SECONDS,
      ttlSeconds: TTL_SECONDS,
      createdAt: '2025-01-01T12:00:00.000Z',
      updatedAt: '2025-01-01T12:00:07.000Z',
      sentAt,
      sendCount
    })
  })

  it('shows the result and error of an ended command', () => {
    const v = view(command('failed', { result: { code: 7 }, error: 'relay stuck', updatedAt: NOW }))
    expect(v).toMatchObject({ status: 'failed', result: { code: 7 }, error: 'relay stuck', updatedAt: '2025-01-01T12:10:00.000Z' })
  })
})

describe('parseResponse', () => {
  it.each([
    { name: 'a success with a result', json: '{"status":"succeeded","result":{"applied":21.5}}', expected: { status: 'succeeded', result: { applied: 21.5 }, error: null } },
    { name: 'a success without a result', json: '{"status":"succeeded"}', expected: { status: 'succeeded', result: null, error: null } },
    { name: 'a success with result null', json: '{"status":"succeeded","result":null}', expected: { status: 'succeeded', result: null, error: null } },
    { name: 'a success with result 0', json: '{"status":"succeeded","result":0}', expected: { status: 'succeeded', result: 0, error: null } },
    { name: 'a success with result false', json: '{"status":"succeeded","result":false}', expected: { status: 'succeeded', result: false, error: null } },
    { name: 'a success with an array result', json: '{"status":"succeeded","result":[1,2]}', expected: { status: 'succeeded', result: [1, 2], error: null } },
    { name: 'a failure with an error', json: '{"status":"failed","error":"relay stuck"}', expected: { status: 'failed', result: null, error: 'relay stuck' } },
    { name: 'a failure with error and result', json: '{"status":"failed","error":"partial","result":{"done":3}}', expected: { status: 'failed', result: { done: 3 }, error: 'partial' } },
    { name: 'a failure without an error', json: '{"status":"failed"}', expected: { status: 'failed', result: null, error: null } },
    { name: 'surrounding whitespace', json: ' \n{"status":"succeeded","result":1}\n', expected: { status: 'succeeded', result: 1, error: null } },
    { name: 'UTF-8 text in the error', json: '{"status":"failed","error":"Überhitzung"}', expected: { status: 'failed', result: null, error: 'Überhitzung' } }
  ])('reads $name', ({ json, expected }) => {
    expect(parseResponse(Buffer.from(json, 'utf8'))).toStrictEqual(expected)
  })

  it.each([
    { name: 'an empty payload', json: '' },
    { name: 'plain text', json: 'ok' },
    { name: 'truncated JSON', json: '{"status":"succeeded"' },
    { name: 'an empty array', json: '[]' },
    { name: 'an array of a valid answer', json: '[{"status":"succeeded"}]' },
    { name: 'null', json: 'null' },
    { name: 'a string', json: '"succeeded"' },
    { name: 'a number', json: '42' },
    { name: 'true', json: 'true' },
    { name: 'an object with no status', json: '{"result":1}' },
    { name: 'an unknown status', json: '{"status":"done"}' },
    { name: 'a status in the wrong case', json: '{"status":"Succeeded"}' },
    { name: 'a non-final status', json: '{"status":"delivered"}' },
    { name: 'a timedOut status', json: '{"status":"timedOut"}' },
    { name: 'a status that is not a string', json: '{"status":1}' },
    { name: 'a numeric error', json: '{"status":"failed","error":500}' },
    { name: 'an object error', json: '{"status":"failed","error":{"message":"x"}}' },
    { name: 'a boolean error', json: '{"status":"failed","error":true}' },
    { name: 'an array error', json: '{"status":"failed","error":["x"]}' },
    { name: 'a numeric error on a success', json: '{"status":"succeeded","error":0}' }
  ])('refuses $name', ({ json }) => {
    expect(parseResponse(Buffer.from(json, 'utf8'))).toBeUndefined()
  })
})
