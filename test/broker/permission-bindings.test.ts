/* eslint-disable no-template-curly-in-string */
import { describe, expect, it } from 'vitest'
import { compilePermissions, createPolicy, grantsFor, type ClientPermissions, type PermissionBinding, type PolicyIdentity, type Templates } from '../../src/broker/permissions.js'
import { validateConfig } from '../../src/config/validate.js'
import { compileClientGroups } from '../../src/core/client-groups.js'

// The device permissions gridgate had before client groups (permissions.test.ts pins what they
// allow and refuse, topic by topic).
const TODAY: Templates = {
  publish: ['devices/${client.id}/telemetry', 'devices/${client.id}/telemetry/#', 'devices/${client.id}/events/#', 'devices/${client.id}/responses/#'],
  subscribe: ['devices/${client.id}/commands/#', 'devices/${client.id}/twin/desired']
}

// The topics and filters of permissions.test.ts and permissions-nul.test.ts, for d1 and for
// identities that must get nothing, and a few more.
const TOPICS = [
  'devices/d1/telemetry', 'devices/d1/telemetry/x', 'devices/d1/telemetry/x/y', 'devices/d1/events/door', 'devices/d1/events/door/open',
  'devices/d1/events', 'devices/d1/responses/c1', 'devices/d1/responses', 'devices/d2/telemetry', 'devices/d2/events/door',
  'devices/d1/commands/x', 'devices/d1/commands', 'devices/d1', 'devices/d1/', 'devices', 'devices/d1/other', 'devices/d1/telemetryx',
  'devices/d11/telemetry', 'Devices/d1/telemetry', '/devices/d1/telemetry', '$SYS/x', 'x', 'a', '/', 'devices/d1/telemetry\u0000x',
  'devices/a/telemetry', 'devices//telemetry', 'devices/x/y/telemetry', 'sites/oslo/a', 'users/alice/out'
]
const FILTERS = [
  'devices/d1/commands/#', 'devices/d1/commands/+', 'devices/d1/commands/+/+', 'devices/d1/commands/+/#', 'devices/d1/commands/reboot',
  'devices/d1/commands/reboot/42', 'devices/d1/commands', '#', '+', '+/+/commands/#', 'devices/+/commands/#', 'devices/#',
  'devices/d2/commands/#', 'devices/d1/#', 'devices/d1/+', 'devices/d1/+/reboot', 'devices/d1/telemetry', '$SYS/#', '$SYS/+',
  'devices/d1/commands/#/x', 'devices/d1/commands/reboot#', 'devices/d1/commands/re+', '', 'devices/d1/commands/\u0000',
  'devices//commands/#'
]
const IDENTITIES: PolicyIdentity[] = [
  { id: 'd1', username: 'd1', attributes: {}, anonymous: false },
  { id: 'd1', username: 'd1', attributes: { site: 'oslo', role: 'monitor' }, anonymous: false },
  { id: 'd2', username: 'd2', attributes: { floor: '3' }, anonymous: false },
  ...['a/#', '#', '+', 'd1/commands', ''].map((id) => ({ id, attributes: {}, anonymous: false }))
]

function decisions (p: ClientPermissions): { publish: boolean[], subscribe: boolean[] } {
  return { publish: TOPICS.map((t) => p.canPublish(t)), subscribe: FILTERS.map((f) => p.canSubscribe(f)) }
}

describe('the default configuration', () => {
  const config = validateConfig({})
  const policy = createPolicy({ ...config.mqtt, groups: compileClientGroups(config.mqtt.clientGroups) })

  it('binds today\'s device permissions to $all and nothing else', () => {
    expect(config.mqtt.permissions).toEqual(TODAY)
    expect(config.mqtt.clientGroups).toEqual({})
    expect(config.mqtt.permissionBindings).toEqual([])
  })

  it.each(IDENTITIES.map((who) => ({ who, name: `'${who.id}' ${JSON.stringify(who.attributes)}` })))('gives a device $name exactly today\'s permissions', ({ who }) => {
    const resolved = policy.resolve(who)
    expect(resolved.groups).toEqual(['$all'])
    expect(decisions(resolved.permissions)).toEqual(decisions(compilePermissions(TODAY, who)))
    expect(resolved.permissions.filtersDeliveries).toBe(false)
  })

  it('gives an anonymous client mqtt.anonymousPermissions only, in no group', () => {
    const resolved = policy.resolve({ id: 'anon', attributes: {}, anonymous: true })
    expect(resolved.groups).toEqual([])
    expect(decisions(resolved.permissions)).toEqual(decisions(compilePermissions({ publish: [], subscribe: [] }, { id: 'anon', attributes: {} })))
  })
})

describe('grantsFor', () => {
  const bindings: PermissionBinding[] = [
    { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry', '+/+'], effect: 'allow' },
    { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['test/nosubscribe'], effect: 'deny' },
    { clientGroup: '$all', permission: 'publish', topicTemplates: ['devices/${client.id}/responses/#'], effect: 'deny' },
    { clientGroup: 'writers', permission: 'publish', topicTemplates: ['test/#'], effect: 'allow' }
  ]

  it.each([
    { name: '$all only', groups: ['$all'], allow: { publish: TODAY.publish, subscribe: TODAY.subscribe }, deny: { publish: ['devices/${client.id}/responses/#'], subscribe: [] } },
    { name: 'monitors', groups: ['$all', 'monitors'], allow: { publish: TODAY.publish, subscribe: [...TODAY.subscribe, 'devices/+/telemetry', '+/+'] }, deny: { publish: ['devices/${client.id}/responses/#'], subscribe: ['test/nosubscribe'] } },
    { name: 'writers and monitors', groups: ['$all', 'monitors', 'writers'], allow: { publish: [...TODAY.publish, 'test/#'], subscribe: [...TODAY.subscribe, 'devices/+/telemetry', '+/+'] }, deny: { publish: ['devices/${client.id}/responses/#'], subscribe: ['test/nosubscribe'] } },
    { name: 'no group (not even $all)', groups: [], allow: { publish: TODAY.publish, subscribe: TODAY.subscribe }, deny: { publish: [], subscribe: [] } }
  ])('collects the bindings of $name', ({ groups, allow, deny }) => {
    expect(grantsFor(TODAY, bindings, groups)).toEqual({ allow, deny })
  })
})

describe('a monitoring client group (the example of issue 16)', () => {
  const policy = createPolicy({
    permissions: TODAY,
    anonymousPermissions: { publish: [], subscribe: [] },
    groups: compileClientGroups({ monitors: "attributes.role = 'monitor'" }),
    permissionBindings: [
      { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry', '+/+'], effect: 'allow' },
      { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['test/nosubscribe'], effect: 'deny' }
    ]
  })
  const monitor = policy.resolve({ id: 'mon-1', attributes: { role: 'monitor' }, anonymous: false })
  const device = policy.resolve({ id: 'd1', attributes: { role: 'sensor' }, anonymous: false })

  it('puts the monitor in its group', () => {
    expect(monitor.groups).toEqual(['$all', 'monitors'])
    expect(device.groups).toEqual(['$all'])
  })

  it.each([
    { filter: 'devices/+/telemetry', monitor: true, device: false },
    { filter: 'devices/d1/telemetry', monitor: true, device: false },
    { filter: '+/+', monitor: true, device: false },
    { filter: 'test/+', monitor: true, device: false },
    { filter: 'test/other', monitor: true, device: false },
    { filter: 'test/nosubscribe', monitor: false, device: false },
    { filter: '#', monitor: false, device: false },
    { filter: 'devices/+/events/#', monitor: false, device: false },
    { filter: 'devices/mon-1/commands/#', monitor: true, device: false },
    { filter: 'devices/d1/commands/#', monitor: false, device: true }
  ])('subscribe $filter: monitor $monitor, device $device', ({ filter, monitor: m, device: d }) => {
    expect(monitor.permissions.canSubscribe(filter)).toBe(m)
    expect(device.permissions.canSubscribe(filter)).toBe(d)
  })

  it.each([
    { topic: 'test/nosubscribe', receives: false },
    { topic: 'test/other', receives: true },
    { topic: 'devices/d1/telemetry', receives: true },
    { topic: 'test/nosubscribe/deeper', receives: true }
  ])('receives $topic through an overlapping filter: $receives', ({ topic, receives }) => {
    expect(monitor.permissions.filtersDeliveries).toBe(true)
    expect(monitor.permissions.canReceive(topic)).toBe(receives)
    expect(device.permissions.canReceive(topic)).toBe(true)
  })

  it('keeps the monitor\'s own device permissions from $all', () => {
    expect(monitor.permissions.canPublish('devices/mon-1/telemetry')).toBe(true)
    expect(monitor.permissions.canPublish('devices/d1/telemetry')).toBe(false)
  })
})

describe('deny wins', () => {
  const who = { id: 'd1', attributes: { site: 'oslo' } }

  it.each([
    { name: 'a publish deny over a grant of the same topic', deny: { publish: ['devices/${client.id}/telemetry'], subscribe: [] }, topic: 'devices/d1/telemetry', allowed: false },
    { name: 'a publish deny with a wildcard', deny: { publish: ['devices/+/events/#'], subscribe: [] }, topic: 'devices/d1/events/door', allowed: false },
    { name: 'a publish deny elsewhere', deny: { publish: ['devices/d2/#'], subscribe: [] }, topic: 'devices/d1/telemetry', allowed: true },
    { name: 'a deny whose variable cannot be filled (it denies nothing)', deny: { publish: ['devices/${client.attributes.floor}/#'], subscribe: [] }, topic: 'devices/d1/telemetry', allowed: true },
    { name: 'a deny filled from an attribute', deny: { publish: ['devices/${client.id}/events/${client.attributes.site}'], subscribe: [] }, topic: 'devices/d1/events/oslo', allowed: false }
  ])('publish: $name', ({ deny, topic, allowed }) => {
    expect(compilePermissions(TODAY, who, deny).canPublish(topic)).toBe(allowed)
  })

  it.each([
    { name: 'a deny that covers the whole filter', deny: ['devices/${client.id}/commands/#'], filter: 'devices/d1/commands/reboot', allowed: false },
    { name: 'a deny equal to the filter', deny: ['devices/d1/commands/reboot'], filter: 'devices/d1/commands/reboot', allowed: false },
    { name: 'a deny inside the filter (the filter stays, the topic is not delivered)', deny: ['devices/d1/commands/secret'], filter: 'devices/d1/commands/#', allowed: true },
    { name: 'a deny with + covering the filter', deny: ['devices/d1/commands/+'], filter: 'devices/d1/commands/reboot', allowed: false }
  ])('subscribe: $name', ({ deny, filter, allowed }) => {
    expect(compilePermissions(TODAY, who, { publish: [], subscribe: deny }).canSubscribe(filter)).toBe(allowed)
  })

  it('decides a topic once and answers it again the same, also past the cache size', () => {
    const p = compilePermissions(TODAY, who, { publish: ['devices/d1/telemetry/secret'], subscribe: [] })
    for (let i = 0; i < 600; i++) expect(p.canPublish(`devices/d1/telemetry/${i}`)).toBe(true)
    expect(p.canPublish('devices/d1/telemetry/secret')).toBe(false)
    expect(p.canPublish('devices/d1/telemetry/secret')).toBe(false)
    expect(p.canPublish('devices/d1/telemetry/7')).toBe(true)
  })
})
