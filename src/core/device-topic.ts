// The MQTT topics under devices/{id}/: the one place that knows their layout. Pure.
//
//   devices/{id}/commands/{name}/{commandId}   the gateway sends a command (devices subscribe)
//   devices/{id}/responses/{commandId}         a device answers a command
//   devices/{id}/…                             anything else a device publishes (telemetry, events)
//
// Topic names only (what a PUBLISH carries), never filters. The parser scans with indexOf
// and allocates only the result and its substrings: it runs for every device message.

const DEVICES_LEVEL = 'devices'
const PREFIX = `${DEVICES_LEVEL}/`
const COMMANDS = 'commands'
const RESPONSES = 'responses'

export type DeviceTopic =
  | { kind: 'command', deviceId: string, name: string, commandId: string }
  | { kind: 'response', deviceId: string, commandId: string }
  /** devices/{id} itself or any other topic below it. */
  | { kind: 'other', deviceId: string }

/**
 * What a topic under devices/{id}/ is; undefined for a topic outside devices/ or with an
 * empty id level. A commands or responses topic with a missing, empty or extra level is
 * 'other': it is the device's, but not a command or an answer.
 */
export function parseDeviceTopic (topic: string): DeviceTopic | undefined {
  if (!topic.startsWith(PREFIX)) return undefined
  const idEnd = topic.indexOf('/', PREFIX.length)
  if (idEnd === PREFIX.length) return undefined // devices//…
  if (idEnd === -1) {
    return topic.length === PREFIX.length ? undefined : { kind: 'other', deviceId: topic.slice(PREFIX.length) }
  }
  const deviceId = topic.slice(PREFIX.length, idEnd)
  const kindStart = idEnd + 1
  if (levelIs(topic, kindStart, RESPONSES)) {
    const commandId = lastLevel(topic, kindStart + RESPONSES.length + 1)
    if (commandId !== undefined) return { kind: 'response', deviceId, commandId }
  } else if (levelIs(topic, kindStart, COMMANDS)) {
    const nameStart = kindStart + COMMANDS.length + 1
    const nameEnd = topic.indexOf('/', nameStart)
    if (nameEnd > nameStart) {
      const commandId = lastLevel(topic, nameEnd + 1)
      if (commandId !== undefined) return { kind: 'command', deviceId, name: topic.slice(nameStart, nameEnd), commandId }
    }
  }
  return { kind: 'other', deviceId }
}

/** The topic a command is sent on. */
export function commandTopic (deviceId: string, name: string, commandId: string): string {
  return `${PREFIX}${deviceId}/${COMMANDS}/${name}/${commandId}`
}

/**
 * The command id when `topic` is device `deviceId`'s answer topic (what parseDeviceTopic
 * gives as a 'response' of that device), else undefined. For the per-message check of
 * ingest: it allocates nothing for any other topic.
 */
export function responseCommandId (topic: string, deviceId: string): string | undefined {
  const kindStart = PREFIX.length + deviceId.length + 1
  if (deviceId === '' || !topic.startsWith(PREFIX) || !topic.startsWith(deviceId, PREFIX.length) ||
    topic.charCodeAt(kindStart - 1) !== 0x2f || !levelIs(topic, kindStart, RESPONSES)) return undefined
  return lastLevel(topic, kindStart + RESPONSES.length + 1)
}

/** The topic a device answers a command on. */
export function responseTopic (deviceId: string, commandId: string): string {
  return `${PREFIX}${deviceId}/${RESPONSES}/${commandId}`
}

/** True when the level starting at `start` is exactly `word` and more levels follow. */
function levelIs (topic: string, start: number, word: string): boolean {
  return topic.startsWith(word, start) && topic.charCodeAt(start + word.length) === 0x2f // '/'
}

/** The level starting at `start` when it is non-empty and the last one. */
function lastLevel (topic: string, start: number): string | undefined {
  if (start >= topic.length || topic.indexOf('/', start) !== -1) return undefined
  return topic.slice(start)
}
