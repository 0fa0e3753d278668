import { describe, it, expect } from 'vitest'
import { matchRoute, type Route } from '../../src/ingest/routes.js'

const DEFAULT_ROUTES: ReadonlyArray<Route> = [
  { filter: 'devices/+/telemetry/#', topic: 'telemetry', type: 'device.telemetry' },
  { filter: 'devices/+/events/#', topic: 'events', type: 'device.event' }
]

describe('matchRoute with the default routes', () => {
  it.each([
    { mqttTopic: 'devices/d/telemetry', topic: 'telemetry', type: 'device.telemetry' },
    { mqttTopic: 'devices/d/telemetry/a', topic: 'telemetry', type: 'device.telemetry' },
    { mqttTopic: 'devices/d/telemetry/a/b', topic: 'telemetry', type: 'device.telemetry' },
    { mqttTopic: 'devices/d/telemetry/', topic: 'telemetry', type: 'device.telemetry' },
    { mqttTopic: 'devices//telemetry', topic: 'telemetry', type: 'device.telemetry' },
    { mqttTopic: 'devices/d/events', topic: 'events', type: 'device.event' },
    { mqttTopic: 'devices/d/events/x', topic: 'events', type: 'device.event' },
    { mqttTopic: 'devices/d/events/x/y', topic: 'events', type: 'device.event' }
  ])("routes '$mqttTopic' to $topic", ({ mqttTopic, topic, type }) => {
    const route = matchRoute(DEFAULT_ROUTES, mqttTopic)
    expect(route).toEqual({ filter: expect.any(String), topic, type })
  })

  it.each([
    'devices/d/responses/c',
    'devices/d/commands/reboot',
    'devices/d',
    'devices',
    'devices/d/telemetryx',
    'devices/d/x/telemetry',
    'devices/d/e/telemetry/x',
    'Devices/d/telemetry',
    '/devices/d/telemetry',
    'telemetry',
    '$SYS/devices/d/telemetry'
  ])("does not route '%s'", (mqttTopic) => {
    expect(matchRoute(DEFAULT_ROUTES, mqttTopic)).toBeUndefined()
  })

  it('returns the route object itself', () => {
    expect(matchRoute(DEFAULT_ROUTES, 'devices/d/events/x')).toBe(DEFAULT_ROUTES[1])
  })
})

describe('matchRoute order', () => {
  const specific: Route = { filter: 'devices/+/telemetry/alarm', topic: 'alarms', type: 'device.alarm' }
  const general: Route = { filter: 'devices/+/telemetry/#', topic: 'telemetry', type: 'device.telemetry' }
  const everything: Route = { filter: '#', topic: 'all', type: 'any' }

  it.each([
    { name: 'the specific route when it comes first', routes: [specific, general], mqttTopic: 'devices/d/telemetry/alarm', expected: specific },
    { name: 'the general route when it comes first', routes: [general, specific], mqttTopic: 'devices/d/telemetry/alarm', expected: general },
    { name: 'the later route when the first does not match', routes: [specific, general], mqttTopic: 'devices/d/telemetry/temp', expected: general },
    { name: "a leading '#' route for everything", routes: [everything, specific, general], mqttTopic: 'devices/d/telemetry/alarm', expected: everything },
    { name: "a trailing '#' route as a fallback", routes: [specific, everything], mqttTopic: 'other/x', expected: everything }
  ])('picks $name', ({ routes, mqttTopic, expected }) => {
    expect(matchRoute(routes, mqttTopic)).toBe(expected)
  })

  it("does not route '$' topics through a '#' route", () => {
    expect(matchRoute([everything], '$SYS/x')).toBeUndefined()
  })

  it('returns undefined without routes', () => {
    expect(matchRoute([], 'devices/d/telemetry')).toBeUndefined()
  })

  it('keeps the schema of the matched route', () => {
    const schema = { compiled: true }
    const routes: ReadonlyArray<Route<typeof schema>> = [{ filter: 'a/#', topic: 'a', type: 't', schema }]
    expect(matchRoute(routes, 'a/b')?.schema).toBe(schema)
  })
})
