import { describe, expect, it } from 'vitest'
import { createInProcessSharedGroups, parseSharedFilter, shareTopic } from '../../src/broker/shared-groups.js'
import { sharedGroupsContract } from './shared-groups.contract.js'

sharedGroupsContract('in process', async () => createInProcessSharedGroups())

describe('parseSharedFilter', () => {
  it.each([
    { topic: '$share/g1/devices/+/telemetry', share: { group: 'g1', filter: 'devices/+/telemetry' } },
    { topic: '$share/g1/#', share: { group: 'g1', filter: '#' } },
    { topic: '$share/monitors/a/b/c', share: { group: 'monitors', filter: 'a/b/c' } },
    { topic: '$share/g/$SYS/#', share: { group: 'g', filter: '$SYS/#' } },
    { topic: '$share/g//x', share: { group: 'g', filter: '/x' } }
  ])('reads $topic', ({ topic, share }) => {
    expect(parseSharedFilter(topic)).toEqual(share)
    expect(shareTopic(share)).toBe(topic)
  })

  it.each([
    'devices/+/telemetry',
    '#',
    '$SYS/#',
    '$sharex/g/a',
    '$SHARE/g/a',
    'share/g/a'
  ])('leaves %s alone: it is not a shared subscription', (topic) => {
    expect(parseSharedFilter(topic)).toBeUndefined()
  })

  it.each([
    { name: 'without a filter', topic: '$share/g1' },
    { name: 'with an empty filter', topic: '$share/g1/' },
    { name: 'with an empty group', topic: '$share//a' },
    { name: "with '+' in the group", topic: '$share/g+/a' },
    { name: "with '#' as the group", topic: '$share/#/a' },
    { name: 'with an invalid filter', topic: '$share/g/a/#/b' },
    { name: 'with only the prefix', topic: '$share/' }
  ])('refuses a shared subscription $name', ({ topic }) => {
    expect(parseSharedFilter(topic)).toBe('invalid')
  })
})
