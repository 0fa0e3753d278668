import { describe, expect, it } from 'vitest'
import { commandTopic, parseDeviceTopic, responseTopic } from '../../src/core/device-topic.js'

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
