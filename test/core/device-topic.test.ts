import { describe, expect, it } from 'vitest'
import { commandTopic, parseDeviceTopic, responseCommandId, responseTopic } from '../../src/core/device-topic.js'

describe('parseDeviceTopic', () => {
  it.each([
    // outside devices/
    { topic: 'sensors/d1/telemetry', parsed: undefined },
    { topic: 'devices', parsed: undefined },
    { topic: 'devices/', parsed: undefined },
    { topic: 'devices//telemetry', parsed: undefined },
    { topic: 'Devices/d1/telemetry', parsed: undefined },
    { topic: 'devicesd1/telemetry', parsed: undefined },
    { topic: '/devices/d1/telemetry', parsed: undefined },
    { topic: '$SYS/devices/d1', parsed: undefined },
    // a device's own topics
    { topic: 'devices/d1', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/telemetry', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/telemetry/room/3', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/00:1A:2B/events/door', parsed: { kind: 'other', deviceId: '00:1A:2B' } },
    // answers
    { topic: 'devices/d1/responses/c-1', parsed: { kind: 'response', deviceId: 'd1', commandId: 'c-1' } },
    { topic: 'devices/d1/responses/', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/responses', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/responses/c-1/extra', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/responsesX/c-1', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/Responses/c-1', parsed: { kind: 'other', deviceId: 'd1' } },
    // commands
    { topic: 'devices/d1/commands/reboot/c-1', parsed: { kind: 'command', deviceId: 'd1', name: 'reboot', commandId: 'c-1' } },
    { topic: 'devices/d1/commands/set.mode:x/01HX', parsed: { kind: 'command', deviceId: 'd1', name: 'set.mode:x', commandId: '01HX' } },
    { topic: 'devices/d1/commands/reboot', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/commands/reboot/', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/commands//c-1', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/commands/reboot/c-1/x', parsed: { kind: 'other', deviceId: 'd1' } },
    { topic: 'devices/d1/commandsX/reboot/c-1', parsed: { kind: 'other', deviceId: 'd1' } },
    // the id level decides, whatever comes after it
    { topic: 'devices/responses/responses/c-1', parsed: { kind: 'response', deviceId: 'responses', commandId: 'c-1' } },
    { topic: 'devices/commands/commands/a/b', parsed: { kind: 'command', deviceId: 'commands', name: 'a', commandId: 'b' } }
  ])('$topic', ({ topic, parsed }) => {
    expect(parseDeviceTopic(topic)).toEqual(parsed)
  })
})

describe('responseCommandId', () => {
  // The same answer as parseDeviceTopic: a 'response' of that very device, else nothing.
  it.each([
    ['devices/d1/responses/c-1', 'd1', 'c-1'],
    ['devices/d1/responses/c-1', 'd', undefined],
    ['devices/d1/responses/c-1', 'd12', undefined],
    ['devices/d1/responses/c-1', '', undefined],
    ['devices/d1/responses/', 'd1', undefined],
    ['devices/d1/responses', 'd1', undefined],
    ['devices/d1/responses/c-1/extra', 'd1', undefined],
    ['devices/d1/responsesX/c-1', 'd1', undefined],
    ['devices/d1/telemetry', 'd1', undefined],
    ['devices/d1x/responses/c-1', 'd1', undefined],
    ['devices/responses/responses/c-1', 'responses', 'c-1'],
    ['devices/d1/commands/reboot/c-1', 'd1', undefined],
    ['sensors/d1/responses/c-1', 'd1', undefined],
    ['devices/d1', 'd1', undefined]
  ])('%s from %j', (topic, deviceId, commandId) => {
    expect(responseCommandId(topic, deviceId)).toBe(commandId)
    const parsed = parseDeviceTopic(topic)
    expect(parsed?.kind === 'response' && parsed.deviceId === deviceId ? parsed.commandId : undefined).toBe(commandId)
  })
})

describe('topic builders', () => {
  it.each([
    { deviceId: 'd1', name: 'reboot', commandId: 'c-1' },
    { deviceId: 'urn:dev:7', name: 'set.mode', commandId: '01HXABC' }
  ])('commandTopic($deviceId, $name, $commandId) parses back', ({ deviceId, name, commandId }) => {
    const topic = commandTopic(deviceId, name, commandId)
    expect(topic).toBe(`devices/${deviceId}/commands/${name}/${commandId}`)
    expect(parseDeviceTopic(topic)).toEqual({ kind: 'command', deviceId, name, commandId })
  })

  it.each([
    { deviceId: 'd1', commandId: 'c-1' },
    { deviceId: 'urn:dev:7', commandId: '01HXABC' }
  ])('responseTopic($deviceId, $commandId) parses back', ({ deviceId, commandId }) => {
    const topic = responseTopic(deviceId, commandId)
    expect(topic).toBe(`devices/${deviceId}/responses/${commandId}`)
    expect(parseDeviceTopic(topic)).toEqual({ kind: 'response', deviceId, commandId })
  })
})
