import { describe, expect, it } from 'vitest'
import { DEVICE_ID, DEVICE_ID_PATTERN, NAME, NAME_PATTERN } from '../../src/core/names.js'
import { validateConfig } from '../../src/config/validate.js'

// ajv compiles a JSON Schema `pattern` with the `u` flag; the RegExp must mean the same.
const asSchema = (pattern: string): RegExp => new RegExp(pattern, 'u')

describe('NAME (topics, subscriptions, windows)', () => {
  it.each([
    { why: 'one letter', name: 'a', ok: true },
    { why: 'one digit', name: '7', ok: true },
    { why: 'mixed case, digits, every allowed symbol', name: 'Plant_3.meters-x', ok: true },
    { why: 'a trailing symbol', name: 'meters-', ok: true },
    { why: '50 characters', name: 'a'.repeat(50), ok: true },
    { why: 'empty', name: '', ok: false },
    { why: '51 characters', name: 'a'.repeat(51), ok: false },
    { why: 'a leading hyphen', name: '-a', ok: false },
    { why: 'a leading dot', name: '.a', ok: false },
    { why: 'a leading underscore', name: '_a', ok: false },
    { why: "the storage key separator '!'", name: 'a!b', ok: false },
    { why: "the range end '~'", name: 'a~', ok: false },
    { why: "a ':' (device ids only)", name: 'a:b', ok: false },
    { why: 'a slash', name: 'a/b', ok: false },
    { why: 'an MQTT wildcard', name: 'a+', ok: false },
    { why: 'a trailing newline', name: 'a\n', ok: false },
    { why: 'a space', name: 'a b', ok: false },
    { why: 'a non-ASCII letter', name: 'zähler', ok: false }
  ])('$why: $ok', ({ name, ok }) => {
    expect(NAME.test(name)).toBe(ok)
    expect(asSchema(NAME_PATTERN).test(name)).toBe(ok)
  })
})

describe('DEVICE_ID', () => {
  it.each([
    { why: 'one letter', id: 'd', ok: true },
    { why: 'a MAC address', id: '00:1A:2b:3C:4d:5E', ok: true },
    { why: 'a URN', id: 'urn:dev:ops:32473-Meter-7', ok: true },
    { why: '128 characters', id: 'd'.repeat(128), ok: true },
    { why: 'empty', id: '', ok: false },
    { why: '129 characters', id: 'd'.repeat(129), ok: false },
    { why: 'a leading colon', id: ':d', ok: false },
    { why: "the storage key separator '!'", id: 'd!1', ok: false },
    { why: 'a slash (an MQTT level separator)', id: 'd/1', ok: false },
    { why: "an MQTT wildcard '#'", id: 'd#', ok: false },
    { why: "'$'", id: 'd$', ok: false },
    { why: 'a trailing newline', id: 'd\n', ok: false }
  ])('$why: $ok', ({ id, ok }) => {
    expect(DEVICE_ID.test(id)).toBe(ok)
    expect(asSchema(DEVICE_ID_PATTERN).test(id)).toBe(ok)
  })
})

describe('the config schema uses NAME_PATTERN', () => {
  it.each([
    { field: '/routes/0/topic', raw: { routes: [{ filter: 'devices/+/x', topic: 'a!b', type: 't' }] } },
    { field: '/topics/0/name', raw: { topics: [{ name: 'a!b' }] } },
    { field: '/telemetry/sources/0/topic', raw: { telemetry: { sources: [{ topic: 'a!b' }] } } },
    { field: '/telemetry/windows/0/name', raw: { telemetry: { windows: [{ name: 'a!b' }] } } }
  ])('refuses a bad name at $field', ({ field, raw }) => {
    expect(() => validateConfig(raw)).toThrow(`${field}: must match pattern "${NAME_PATTERN}"`)
  })

  it('accepts a name of 50 characters at each of them', () => {
    const name = 'a'.repeat(50)
    expect(() => validateConfig({
      routes: [{ filter: 'devices/+/x', topic: name, type: 't' }],
      topics: [{ name }],
      telemetry: { sources: [{ topic: name }], windows: [{ name, sourceTopic: name }] }
    })).not.toThrow()
  })
})
