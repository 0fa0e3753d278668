import { NAME } from '../core/names.js'
import { isValidFilter, topicMatches } from '../core/topic-match.js'

// Replay over MQTT: `$replay/{topic}/{position}[/{subject filter}]` names a namespace topic, where
// to start reading it, and optionally which CloudEvent subjects to keep (an MQTT topic filter,
// matched against the event's `subject`: for device messages, the MQTT topic they came on).
// MQTT 3.1.1 has no subscription properties (EMQX 6.1's `$stream/` streams take the start in
// MQTT 5's `stream-offset`), so the position is a topic level. Pure.
//
// A position is `earliest`, `latest`, an offset (`0`, `1234`) or an RFC 3339 time in UTC
// (`2026-12-05T07:00:00Z`, `2026-12-05T07:00:00.250Z`): a numeric offset such as `+01:00`
// would put an MQTT wildcard into the level, so only `Z` is taken.

export type ReplayPosition =
  | { kind: 'earliest' }
  | { kind: 'latest' }
  | { kind: 'offset', offset: number }
  | { kind: 'time', time: number }

export interface ReplayFilter {
  /** The namespace topic. */
  topic: string
  position: ReplayPosition
  /** An MQTT topic filter on the events' `subject`; every event when absent. */
  subject?: string
}

export const REPLAY_PREFIX = '$replay/'

const OFFSET = /^(0|[1-9][0-9]{0,15})$/
const TIME = /^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,9})?Z$/i

/** A position level, or undefined when it is none of the four forms. */
export function parsePosition (level: string): ReplayPosition | undefined {
  if (level === 'earliest' || level === 'latest') return { kind: level }
  if (OFFSET.test(level)) {
    const offset = Number(level)
    return Number.isSafeInteger(offset) ? { kind: 'offset', offset } : undefined
  }
  const m = TIME.exec(level)
  if (m === null) return undefined
  const seconds = (m[1] as string).toUpperCase()
  const time = Date.parse(`${seconds}Z`)
  // Date.parse rolls 2026-02-30 over into March: the round trip must give the same fields.
  if (Number.isNaN(time) || new Date(time).toISOString().slice(0, 19) !== seconds) return undefined
  const fraction = m[2] === undefined ? 0 : Math.floor(Number(`0${m[2]}`) * 1000)
  return { kind: 'time', time: time + fraction }
}

/**
 * The replay a subscription names: undefined when the filter does not start with `$replay/`,
 * 'invalid' when it does but is malformed (no such topic name, no position, a wildcard in
 * either, or a subject filter that is not a valid MQTT filter).
 */
export function parseReplayFilter (filter: string): ReplayFilter | 'invalid' | undefined {
  if (!filter.startsWith(REPLAY_PREFIX)) return undefined
  const levels = filter.slice(REPLAY_PREFIX.length).split('/')
  const [topic, level] = levels
  if (topic === undefined || level === undefined || !NAME.test(topic)) return 'invalid'
  const position = parsePosition(level)
  if (position === undefined) return 'invalid'
  if (levels.length === 2) return { topic, position }
  const subject = levels.slice(2).join('/')
  if (!isValidFilter(subject) || subject.includes('\0')) return 'invalid'
  return { topic, position, subject }
}

/** The topic a replayed event is published on: `$replay/{topic}/{its offset}`, itself a filter that replays from that event. */
export function replayTopic (topic: string, offset: number): string {
  return `${REPLAY_PREFIX}${topic}/${offset}`
}

/**
 * Where an event sits in the replay namespace for subscribe denies: the subscription's own
 * `$replay/{topic}/{position}` with the event's subject under it, so a deny on
 * `$replay/telemetry/+/devices/dev-b/#` keeps dev-b's events out of any replay of telemetry.
 */
export function deniableTopic (filter: string, subject: string | undefined): string {
  const levels = filter.split('/')
  const base = levels.slice(0, 3).join('/')
  return subject === undefined || subject === '' ? base : `${base}/${subject}`
}

/** Whether an event with `subject` (its CloudEvent subject, if any) is one the replay keeps. */
export function keepsSubject (replay: ReplayFilter, subject: string | undefined): boolean {
  if (replay.subject === undefined || replay.subject === '#') return true
  return subject !== undefined && subject !== '' && topicMatches(replay.subject, subject)
}
