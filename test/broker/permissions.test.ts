/* eslint-disable no-template-curly-in-string */
import { describe, it, expect } from 'vitest'
import { compilePermissions, fillTemplate, type Identity, type Templates } from '../../src/broker/permissions.js'

const DEFAULT_TEMPLATES: Templates = {
  publish: ['devices/${client.id}/telemetry', 'devices/${client.id}/telemetry/#', 'devices/${client.id}/events/#', 'devices/${client.id}/responses/#'],
  subscribe: ['devices/${client.id}/commands/#']
}

const D1: Identity = { id: 'd1', username: 'user-1', attributes: { site: 'oslo', floor: '3' } }

describe('fillTemplate', () => {
  it.each([
    { name: 'a template without variables as it is', template: 'devices/fixed/#', expected: 'devices/fixed/#' },
    { name: '${client.id}', template: 'devices/${client.id}/telemetry', expected: 'devices/d1/telemetry' },
    { name: '${client.username}', template: 'users/${client.username}/+', expected: 'users/user-1/+' },
    { name: '${client.attributes.KEY}', template: 'sites/${client.attributes.site}/#', expected: 'sites/oslo/#' },
    { name: 'several variables', template: '${client.attributes.site}/${client.attributes.floor}/${client.id}', expected: 'oslo/3/d1' },
    { name: 'the same variable twice', template: '${client.id}/${client.id}', expected: 'd1/d1' },
    { name: 'a variable inside a level', template: 'dev-${client.id}-x/#', expected: 'dev-d1-x/#' }
  ])('fills $name', ({ template, expected }) => {
    expect(fillTemplate(template, D1)).toBe(expected)
  })

  it.each([
    { name: '$ and { in a value', who: { id: '$x{y}', attributes: {} }, template: 'devices/${client.id}', expected: 'devices/$x{y}' },
    { name: "a replacement pattern like '$&' in a value", who: { id: 'a$&b', attributes: {} }, template: 'devices/${client.id}', expected: 'devices/a$&b' },
    { name: 'a variable-like text in a value, once', who: { id: '${client.username}', username: 'u', attributes: {} }, template: 'devices/${client.id}', expected: 'devices/${client.username}' },
    { name: 'spaces and unicode in a value', who: { id: 'rød måler', attributes: {} }, template: 'devices/${client.id}', expected: 'devices/rød måler' }
  ])('inserts $name literally', ({ who, template, expected }) => {
    expect(fillTemplate(template, who)).toBe(expected)
  })

  it.each([
    { name: 'the username is missing', who: { id: 'd1', attributes: {} }, template: 'users/${client.username}/#' },
    { name: 'the username is empty', who: { id: 'd1', username: '', attributes: {} }, template: 'users/${client.username}/#' },
    { name: 'the attribute is missing', who: { id: 'd1', attributes: {} }, template: 'sites/${client.attributes.site}/#' },
    { name: 'the attribute is empty', who: { id: 'd1', attributes: { site: '' } }, template: 'sites/${client.attributes.site}/#' },
    { name: "the attribute is named like an Object.prototype member ('constructor')", who: { id: 'd1', attributes: {} }, template: 'sites/${client.attributes.constructor}/#' },
    { name: "the attribute is named like an Object.prototype member ('toString')", who: { id: 'd1', attributes: {} }, template: 'sites/${client.attributes.toString}/#' },
    { name: "the attribute is named '__proto__'", who: { id: 'd1', attributes: {} }, template: 'sites/${client.attributes.__proto__}/#' },
    { name: 'the id is empty', who: { id: '', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: 'the variable is unknown', who: D1, template: 'devices/${client.name}/telemetry' },
    { name: 'the variable is not a client variable', who: D1, template: 'devices/${id}/telemetry' },
    { name: "the id contains '/'", who: { id: 'a/b', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: "the id is 'a/#'", who: { id: 'a/#', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: "the id is '#'", who: { id: '#', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: "the id is '+'", who: { id: '+', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: "the id contains '+'", who: { id: 'd+1', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: 'the id contains NUL', who: { id: 'd\u00001', attributes: {} }, template: 'devices/${client.id}/telemetry' },
    { name: "the username contains '#'", who: { id: 'd1', username: 'u#', attributes: {} }, template: 'users/${client.username}/x' },
    { name: "the attribute is '+'", who: { id: 'd1', attributes: { site: '+' } }, template: 'sites/${client.attributes.site}/#' },
    { name: "the attribute contains '/'", who: { id: 'd1', attributes: { site: 'oslo/x' } }, template: 'sites/${client.attributes.site}/#' },
    { name: 'one of two variables is broken', who: { id: 'd1', attributes: { site: '#' } }, template: '${client.id}/${client.attributes.site}' }
  ])('returns undefined when $name', ({ who, template }) => {
    expect(fillTemplate(template, who)).toBeUndefined()
  })
})

describe('compilePermissions with the default templates for device d1', () => {
  const permissions = compilePermissions(DEFAULT_TEMPLATES, { id: 'd1', attributes: {} })

  it.each([
    'devices/d1/telemetry',
    'devices/d1/telemetry/x',
    'devices/d1/telemetry/x/y',
    'devices/d1/events/door',
    'devices/d1/events/door/open',
    'devices/d1/events',
    'devices/d1/responses/c1',
    'devices/d1/responses'
  ])("may publish '%s'", (topic) => {
    expect(permissions.canPublish(topic)).toBe(true)
  })

  it.each([
    'devices/d2/telemetry',
    'devices/d2/events/door',
    'devices/d1/commands/x',
    'devices/d1/commands',
    'devices/d1',
    'devices/d1/',
    'devices',
    'devices/d1/other',
    'devices/d1/telemetryx',
    'devices/d11/telemetry',
    'Devices/d1/telemetry',
    '/devices/d1/telemetry',
    '$SYS/x',
    'x'
  ])("may not publish '%s'", (topic) => {
    expect(permissions.canPublish(topic)).toBe(false)
  })

  it.each([
    'devices/d1/commands/#',
    'devices/d1/commands/+',
    'devices/d1/commands/+/+',
    'devices/d1/commands/+/#',
    'devices/d1/commands/reboot',
    'devices/d1/commands/reboot/42',
    'devices/d1/commands'
  ])("may subscribe '%s'", (filter) => {
    expect(permissions.canSubscribe(filter)).toBe(true)
  })

  it.each([
    '#',
    '+',
    '+/+/commands/#',
    'devices/+/commands/#',
    'devices/#',
    'devices/d2/commands/#',
    'devices/d1/#',
    'devices/d1/+',
    'devices/d1/+/reboot',
    'devices/d1/telemetry',
    '$SYS/#',
    '$SYS/+',
    // invalid filters, even inside the granted space
    'devices/d1/commands/#/x',
    'devices/d1/commands/reboot#',
    'devices/d1/commands/re+',
    ''
  ])("may not subscribe '%s'", (filter) => {
    expect(permissions.canSubscribe(filter)).toBe(false)
  })
})

describe('compilePermissions grants nothing wider than the identity', () => {
  it.each([
    { name: "'a/#'", id: 'a/#' },
    { name: "'#'", id: '#' },
    { name: "'+'", id: '+' },
    { name: 'with a separator', id: 'd1/commands' },
    { name: 'empty', id: '' }
  ])('a device id $name can neither publish nor subscribe', ({ id }) => {
    const permissions = compilePermissions(DEFAULT_TEMPLATES, { id, attributes: {} })
    for (const topic of ['devices/d1/telemetry', 'devices/a/telemetry', `devices/${id}/telemetry`, 'devices//telemetry', 'devices/x/y/telemetry']) {
      expect(permissions.canPublish(topic), topic).toBe(false)
    }
    for (const filter of ['devices/d1/commands/#', 'devices/+/commands/#', `devices/${id}/commands/#`, 'devices//commands/#', '#']) {
      expect(permissions.canSubscribe(filter), filter).toBe(false)
    }
  })
})

describe('compilePermissions with attribute templates', () => {
  const templates: Templates = { publish: ['sites/${client.attributes.site}/#'], subscribe: ['sites/${client.attributes.site}/commands/+'] }
  type Attributes = Record<string, string>

  it.each<{ name: string, attributes: Attributes, topic: string, allowed: boolean }>([
    { name: 'grants its own site', attributes: { site: 'oslo' }, topic: 'sites/oslo/a', allowed: true },
    { name: 'grants deeper topics of its own site', attributes: { site: 'oslo' }, topic: 'sites/oslo/a/b', allowed: true },
    { name: 'does not grant another site', attributes: { site: 'oslo' }, topic: 'sites/bergen/a', allowed: false },
    { name: 'grants nothing without the attribute', attributes: {}, topic: 'sites/oslo/a', allowed: false },
    { name: 'grants nothing without the attribute, not even an empty site level', attributes: {}, topic: 'sites//a', allowed: false },
    { name: "grants nothing when the attribute is '+'", attributes: { site: '+' }, topic: 'sites/+/a', allowed: false },
    { name: "grants nothing when the attribute is '#'", attributes: { site: '#' }, topic: 'sites/bergen/a', allowed: false }
  ])('publish: $name', ({ attributes, topic, allowed }) => {
    expect(compilePermissions(templates, { id: 'd1', attributes }).canPublish(topic)).toBe(allowed)
  })

  it.each<{ name: string, attributes: Attributes, filter: string, allowed: boolean }>([
    { name: 'grants its own commands', attributes: { site: 'oslo' }, filter: 'sites/oslo/commands/+', allowed: true },
    { name: 'grants one of its own commands', attributes: { site: 'oslo' }, filter: 'sites/oslo/commands/reboot', allowed: true },
    { name: 'does not grant another site', attributes: { site: 'oslo' }, filter: 'sites/bergen/commands/+', allowed: false },
    { name: 'does not grant every site', attributes: { site: 'oslo' }, filter: 'sites/+/commands/+', allowed: false },
    { name: 'does not grant deeper levels', attributes: { site: 'oslo' }, filter: 'sites/oslo/commands/#', allowed: false },
    { name: 'grants nothing without the attribute', attributes: {}, filter: 'sites/oslo/commands/+', allowed: false }
  ])('subscribe: $name', ({ attributes, filter, allowed }) => {
    expect(compilePermissions(templates, { id: 'd1', attributes }).canSubscribe(filter)).toBe(allowed)
  })

  it('keeps the templates that fill when another one is broken', () => {
    const mixed: Templates = { publish: ['sites/${client.attributes.site}/#', 'devices/${client.id}/telemetry'], subscribe: [] }
    const permissions = compilePermissions(mixed, { id: 'd1', attributes: {} })
    expect(permissions.canPublish('devices/d1/telemetry')).toBe(true)
    expect(permissions.canPublish('sites//x')).toBe(false)
  })

  it('fills ${client.username}', () => {
    const permissions = compilePermissions({ publish: ['users/${client.username}/out'], subscribe: [] }, { id: 'd1', username: 'alice', attributes: {} })
    expect(permissions.canPublish('users/alice/out')).toBe(true)
    expect(permissions.canPublish('users/bob/out')).toBe(false)
  })
})

describe('compilePermissions with empty template lists (anonymous)', () => {
  const permissions = compilePermissions({ publish: [], subscribe: [] }, { id: 'anon', attributes: {} })

  it.each(['devices/anon/telemetry', 'a', '/', '$SYS/x'])("may not publish '%s'", (topic) => {
    expect(permissions.canPublish(topic)).toBe(false)
  })

  it.each(['#', '+', 'devices/anon/commands/#', '$SYS/#'])("may not subscribe '%s'", (filter) => {
    expect(permissions.canSubscribe(filter)).toBe(false)
  })
})
