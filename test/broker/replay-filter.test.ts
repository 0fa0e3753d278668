import { describe, expect, it } from 'vitest'
import { deniableTopic, keepsSubject, parsePosition, parseReplayFilter, replayTopic } from '../../src/broker/replay-filter.js'
import { compilePermissions, createPolicy } from '../../src/broker/permissions.js'
import { validateConfig } from '../../src/config/validate.js'
import { compileClientGroups } from '../../src/core/client-groups.js'

describe('parsePosition', () => {
  it.each([
    { level: 'earliest', position: { kind: 'earliest' } },
    { level: 'latest', position: { kind: 'latest' } },
    { level: '0', position: { kind: 'offset', offset: 0 } },
    { level: '1234', position: { kind: 'offset', offset: 1234 } },
    { level: '9007199254740991', position: { kind: 'offset', offset: Number.MAX_SAFE_INTEGER } },
    { level: '2026-12-05T07:00:00Z', position: { kind: 'time', time: Date.UTC(2026, 11, 5, 7) } },
    { level: '2026-12-05T07:00:00.250Z', position: { kind: 'time', time: Date.UTC(2026, 11, 5, 7, 0, 0, 250) } },
    { level: '2026-12-05T07:00:00.123456789Z', position: { kind: 'time', time: Date.UTC(2026, 11, 5, 7, 0, 0, 123) } },
    { level: '2024-02-29T23:59:59z', position: { kind: 'time', time: Date.UTC(2024, 1, 29, 23, 59, 59) } },
    { level: '2026-12-05t07:00:00Z', position: { kind: 'time', time: Date.UTC(2026, 11, 5, 7) } }
  ])('reads $level', ({ level, position }) => {
    expect(parsePosition(level)).toEqual(position)
  })

  it.each([
    { name: 'an empty level', level: '' },
    { name: 'a leading zero', level: '007' },
    { name: 'a negative offset', level: '-1' },
    { name: 'an offset past 2^53', level: '9007199254740992' },
    { name: 'a fractional offset', level: '1.5' },
    { name: 'a wildcard', level: '+' },
    { name: 'another word', level: 'first' },
    { name: 'a capitalised word', level: 'Earliest' },
    { name: 'a time with a +01:00 offset', level: '2026-12-05T08:00:00+01:00' },
    { name: 'a time without a zone', level: '2026-12-05T07:00:00' },
    { name: 'a date alone', level: '2026-12-05' },
    { name: 'a day that does not exist', level: '2026-02-30T00:00:00Z' },
    { name: 'month 13', level: '2026-13-01T00:00:00Z' },
    { name: 'hour 24', level: '2026-12-05T24:00:00Z' },
    { name: 'a leap second', level: '2016-12-31T23:59:60Z' },
    { name: 'epoch milliseconds with a letter', level: '1764918000000ms' }
  ])('refuses $name', ({ level }) => {
    expect(parsePosition(level)).toBeUndefined()
  })
})

describe('parseReplayFilter', () => {
  it.each([
    { filter: '$replay/telemetry/0', replay: { topic: 'telemetry', position: { kind: 'offset', offset: 0 } } },
    { filter: '$replay/orders.v2/latest', replay: { topic: 'orders.v2', position: { kind: 'latest' } } },
    { filter: '$replay/telemetry/earliest/devices/+/telemetry', replay: { topic: 'telemetry', position: { kind: 'earliest' }, subject: 'devices/+/telemetry' } },
    { filter: '$replay/telemetry/2026-12-05T07:00:00Z/devices/dev-a/#', replay: { topic: 'telemetry', position: { kind: 'time', time: Date.UTC(2026, 11, 5, 7) }, subject: 'devices/dev-a/#' } },
    { filter: '$replay/t/5/#', replay: { topic: 't', position: { kind: 'offset', offset: 5 }, subject: '#' } }
  ])('reads $filter', ({ filter, replay }) => {
    expect(parseReplayFilter(filter)).toEqual(replay)
  })

  it.each(['telemetry/0', '$share/g/$replay/t/0', '$SYS/broker/uptime', '$REPLAY/t/0', '$replayx/t/0', 'replay/t/0'])('leaves %s alone: it is not a replay', (filter) => {
    expect(parseReplayFilter(filter)).toBeUndefined()
  })

  it.each([
    { name: 'without a topic', filter: '$replay/' },
    { name: 'without a position', filter: '$replay/telemetry' },
    { name: 'with an empty position', filter: '$replay/telemetry/' },
    { name: 'with a wildcard topic', filter: '$replay/+/0' },
    { name: 'with # for everything', filter: '$replay/#' },
    { name: 'with a wildcard position', filter: '$replay/telemetry/+' },
    { name: 'with # as the position', filter: '$replay/telemetry/#' },
    { name: 'with a topic name outside the name rule', filter: '$replay/-x/0' },
    { name: 'with a time offset (its + is a wildcard)', filter: '$replay/telemetry/2026-12-05T08:00:00+01:00' },
    { name: 'with an empty subject filter', filter: '$replay/telemetry/0/' },
    { name: 'with an invalid subject filter', filter: '$replay/telemetry/0/a/#/b' },
    { name: 'with U+0000 in the subject filter', filter: '$replay/telemetry/0/a\0b' }
  ])('refuses a replay $name', ({ filter }) => {
    expect(parseReplayFilter(filter)).toBe('invalid')
  })

  it('names each event by its own offset, a filter that replays from it', () => {
    expect(replayTopic('telemetry', 41)).toBe('$replay/telemetry/41')
    expect(parseReplayFilter(replayTopic('telemetry', 41))).toEqual({ topic: 'telemetry', position: { kind: 'offset', offset: 41 } })
  })
})

describe('subject filters', () => {
  const replay = (filter: string): NonNullable<Exclude<ReturnType<typeof parseReplayFilter>, 'invalid'>> => {
    const r = parseReplayFilter(filter)
    if (r === undefined || r === 'invalid') throw new Error(filter)
    return r
  }
  it.each([
    { filter: '$replay/t/0', subject: 'devices/a/telemetry', kept: true },
    { filter: '$replay/t/0', subject: undefined, kept: true },
    { filter: '$replay/t/0/#', subject: undefined, kept: true },
    { filter: '$replay/t/0/devices/a/#', subject: 'devices/a/telemetry', kept: true },
    { filter: '$replay/t/0/devices/a/#', subject: 'devices/a', kept: true },
    { filter: '$replay/t/0/devices/a/#', subject: 'devices/b/telemetry', kept: false },
    { filter: '$replay/t/0/devices/+/telemetry', subject: 'devices/b/telemetry', kept: true },
    { filter: '$replay/t/0/devices/+/telemetry', subject: 'devices/b/telemetry/x', kept: false },
    { filter: '$replay/t/0/devices/+/telemetry', subject: undefined, kept: false },
    { filter: '$replay/t/0/devices/+/telemetry', subject: '', kept: false }
  ])('$filter keeps subject $subject: $kept', ({ filter, subject, kept }) => {
    expect(keepsSubject(replay(filter), subject)).toBe(kept)
  })

  it.each([
    { filter: '$replay/t/0', subject: 'devices/a/telemetry', topic: '$replay/t/0/devices/a/telemetry' },
    { filter: '$replay/t/0/devices/+/telemetry', subject: 'devices/a/telemetry', topic: '$replay/t/0/devices/a/telemetry' },
    { filter: '$replay/t/latest', subject: undefined, topic: '$replay/t/latest' }
  ])('checks denies of $filter on $topic', ({ filter, subject, topic }) => {
    expect(deniableTopic(filter, subject)).toBe(topic)
  })
})

describe('replay permissions', () => {
  const who = { id: 'dev-a', attributes: {} }
  /* eslint-disable no-template-curly-in-string */
  it.each([
    { name: 'the default device grants', subscribe: ['devices/${client.id}/commands/#'], filter: '$replay/telemetry/0', allowed: false },
    { name: 'a grant of #', subscribe: ['#'], filter: '$replay/telemetry/0', allowed: false },
    { name: 'a grant of +/+/+', subscribe: ['+/+/+'], filter: '$replay/telemetry/0', allowed: false },
    { name: 'a grant of the topic\'s replays', subscribe: ['$replay/telemetry/#'], filter: '$replay/telemetry/0', allowed: true },
    { name: 'a grant of the topic\'s replays, with a subject filter', subscribe: ['$replay/telemetry/#'], filter: '$replay/telemetry/0/devices/+/telemetry', allowed: true },
    { name: 'a grant of another topic\'s replays', subscribe: ['$replay/orders/#'], filter: '$replay/telemetry/0', allowed: false },
    { name: 'a grant of its own subjects', subscribe: ['$replay/telemetry/+/devices/${client.id}/#'], filter: '$replay/telemetry/2026-12-05T07:00:00Z/devices/dev-a/#', allowed: true },
    { name: 'a grant of its own subjects, asked for all', subscribe: ['$replay/telemetry/+/devices/${client.id}/#'], filter: '$replay/telemetry/0', allowed: false },
    { name: 'a grant of its own subjects, asked for another device\'s', subscribe: ['$replay/telemetry/+/devices/${client.id}/#'], filter: '$replay/telemetry/0/devices/dev-b/#', allowed: false },
    { name: 'a grant of its own subjects, asked for every device\'s', subscribe: ['$replay/telemetry/+/devices/${client.id}/#'], filter: '$replay/telemetry/0/devices/+/telemetry', allowed: false },
    { name: 'a grant of live replays only', subscribe: ['$replay/telemetry/latest/#'], filter: '$replay/telemetry/0', allowed: false }
  ])('$name: $filter is allowed: $allowed', ({ subscribe, filter, allowed }) => {
    expect(compilePermissions({ publish: [], subscribe }, who).canSubscribe(filter)).toBe(allowed)
  })
  /* eslint-enable no-template-curly-in-string */
})

describe('the default configuration', () => {
  const config = validateConfig({ mqtt: { allowAnonymous: true } })
  const policy = createPolicy({ ...config.mqtt, groups: compileClientGroups(config.mqtt.clientGroups) })
  it.each([
    '$replay/telemetry/0',
    '$replay/telemetry/latest',
    '$replay/system/earliest',
    '$replay/telemetry/0/devices/dev-a/#',
    '$replay/telemetry/latest/devices/dev-a/telemetry'
  ])('lets no device and no anonymous client replay %s', (filter) => {
    for (const anonymous of [false, true]) {
      const { permissions } = policy.resolve({ id: 'dev-a', username: 'dev-a', attributes: { role: 'reader' }, anonymous })
      expect(permissions.canSubscribe(filter)).toBe(false)
    }
  })
})
