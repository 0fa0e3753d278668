/* eslint-disable no-template-curly-in-string */
import { describe, expect, it } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import type { GridgateError } from '../../src/core/errors.js'

function problemsOf (raw: unknown): string[] {
  try {
    validateConfig(raw)
  } catch (err) {
    expect((err as GridgateError).code).toBe('CONFIG_INVALID')
    return ((err as GridgateError).details?.problems ?? []) as string[]
  }
  return []
}

const MONITORING = {
  clientGroups: { monitors: "attributes.role = 'monitor'", 'site-oslo': "attributes.site IN ['oslo', 'oslo-2'] AND attributes.floor <= 5" },
  permissionBindings: [
    { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry', '+/+'] },
    { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['test/nosubscribe'], effect: 'deny' },
    { clientGroup: '$all', permission: 'publish', topicTemplates: ['sites/${client.attributes.site}/#'], effect: 'allow' }
  ]
}

describe('mqtt.clientGroups and mqtt.permissionBindings in the config', () => {
  it('accepts a monitoring group with a deny and fills effect with allow', () => {
    const config = validateConfig({ mqtt: MONITORING })
    expect(config.mqtt.clientGroups).toEqual(MONITORING.clientGroups)
    expect(config.mqtt.permissionBindings.map((b) => b.effect)).toEqual(['allow', 'deny', 'allow'])
  })

  it('has no groups and no bindings by default', () => {
    const config = validateConfig({})
    expect(config.mqtt.clientGroups).toEqual({})
    expect(config.mqtt.permissionBindings).toEqual([])
  })

  it.each([
    {
      name: 'a query that does not parse, with where it went wrong',
      mqtt: { clientGroups: { monitors: "attributes.role == 'monitor'" } },
      problems: ['/mqtt/clientGroups/monitors: invalid query "attributes.role == \'monitor\'": at character 18: expected a quoted string or an integer but found \'=\'']
    },
    {
      name: 'NOT, which Event Grid does not have',
      mqtt: { clientGroups: { monitors: "NOT attributes.role = 'x'" } },
      problems: ['/mqtt/clientGroups/monitors: invalid query "NOT attributes.role = \'x\'": at character 1: NOT is not part of the query language: use != or <>']
    },
    {
      name: 'a group named $all',
      mqtt: { clientGroups: { $all: "attributes.a = 'b'" } },
      problems: ["/mqtt/clientGroups/$all: '$all' is built in (every client) and cannot be defined"]
    },
    {
      name: 'a group name Event Grid would refuse',
      mqtt: { clientGroups: { ab: "attributes.a = 'b'", 'with space': "attributes.a = 'b'" } },
      problems: ["/mqtt/clientGroups/ab: a client group name is 3-50 letters, digits or '-'", "/mqtt/clientGroups/with space: a client group name is 3-50 letters, digits or '-'"]
    },
    {
      name: 'a binding to a group that is not defined',
      mqtt: { permissionBindings: [{ clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['#'] }] },
      problems: ["/mqtt/permissionBindings/0/clientGroup: 'monitors' is not in mqtt.clientGroups (nor '$all')"]
    },
    {
      name: 'a topic template that is not a filter, and an unknown variable',
      mqtt: { permissionBindings: [{ clientGroup: '$all', permission: 'subscribe', topicTemplates: ['a/#/b', 'x/${device.id}'] }] },
      problems: ["/mqtt/permissionBindings/0/topicTemplates/0: 'a/#/b' is not a valid MQTT topic filter", '/mqtt/permissionBindings/0/topicTemplates/1: unknown variable ${device.id}']
    }
  ])('refuses $name', ({ mqtt, problems }) => {
    expect(problemsOf({ mqtt })).toEqual(problems)
  })

  it.each([
    { name: 'a permission that is neither publish nor subscribe', binding: { clientGroup: '$all', permission: 'read', topicTemplates: ['#'] }, pointer: '/mqtt/permissionBindings/0/permission' },
    { name: 'an effect that is neither allow nor deny', binding: { clientGroup: '$all', permission: 'publish', topicTemplates: ['#'], effect: 'maybe' }, pointer: '/mqtt/permissionBindings/0/effect' },
    { name: 'no topic templates', binding: { clientGroup: '$all', permission: 'publish', topicTemplates: [] }, pointer: '/mqtt/permissionBindings/0/topicTemplates' },
    { name: 'an unknown field', binding: { clientGroup: '$all', permission: 'publish', topicTemplates: ['#'], topicSpace: 'x' }, pointer: '/mqtt/permissionBindings/0' }
  ])('refuses a binding with $name, naming the field', ({ binding, pointer }) => {
    const problems = problemsOf({ mqtt: { permissionBindings: [binding] } })
    expect(problems.length).toBeGreaterThan(0)
    expect(problems.every((p) => p.startsWith(`${pointer}: `))).toBe(true)
  })
})
