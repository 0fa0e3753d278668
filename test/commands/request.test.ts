import { describe, it, expect } from 'vitest'
import { COMMAND_HEADERS_SCHEMA, COMMAND_REQUEST_SCHEMA, commandRequest, type CommandBody } from '../../src/commands/request.js'
import { checkWith } from '../../src/core/validation.js'
import { caught } from '../helpers/errors.js'

// The body's shape is the route's JSON Schema (with the error formatter fastify uses), the
// rest is commandRequest's: a request goes through both, as POST /devices/{id}/commands does.
function parseCommandRequest (body: unknown, key: string | undefined, defaults: { timeoutSeconds: number, ttlSeconds: number }) {
  // fastify validates a missing body as null.
  const valid = checkWith<CommandBody>(COMMAND_REQUEST_SCHEMA, body === undefined ? null : structuredClone(body), 'body')
  if (key !== undefined) checkWith(COMMAND_HEADERS_SCHEMA, { 'idempotency-key': key }, 'headers')
  return commandRequest(valid, key, defaults)
}

const DEFAULTS = { timeoutSeconds: 30, ttlSeconds: 3600 }
const KIB_256 = 256 * 1024

/** A string payload whose JSON form (the published bytes) is exactly `bytes` long in UTF-8, built from `char`. */
function stringPayload (bytes: number, char = 'x'): string {
  const charBytes = Buffer.byteLength(char, 'utf8')
  const inner = bytes - 2 // the two quotes
  if (inner % charBytes !== 0) throw new Error(`${bytes} bytes cannot be made of '${char}'`)
  const s = char.repeat(inner / charBytes)
  if (Buffer.byteLength(JSON.stringify(s), 'utf8') !== bytes) throw new Error(`'${char}' does not serialize as itself`)
  return s
}

describe('command requests: accepted bodies', () => {
  it.each([
    {
      name: 'a name alone (rest defaulted)',
      body: { name: 'reboot' },
      expected: { id: undefined, name: 'reboot', payload: null, timeoutSeconds: 30, ttlSeconds: 3600 }
    },
    {
      name: 'every field given',
      body: { id: 'cmd-1', name: 'set-point', payload: { target: 21.5 }, timeoutSeconds: 90, ttlSeconds: 60 },
      expected: { id: 'cmd-1', name: 'set-point', payload: { target: 21.5 }, timeoutSeconds: 90, ttlSeconds: 60 }
    },
    {
      name: 'an explicit null payload',
      body: { name: 'reboot', payload: null },
      expected: { id: undefined, name: 'reboot', payload: null, timeoutSeconds: 30, ttlSeconds: 3600 }
    }
  ])('takes $name', ({ body, expected }) => {
    expect(parseCommandRequest(body, undefined, DEFAULTS)).toEqual(expected)
  })

  it.each([
    { name: 'the other defaults', defaults: { timeoutSeconds: 5, ttlSeconds: 0 } },
    { name: 'the largest defaults', defaults: { timeoutSeconds: 86_400, ttlSeconds: 2_592_000 } }
  ])('uses $name when timeoutSeconds and ttlSeconds are absent', ({ defaults }) => {
    const r = parseCommandRequest({ name: 'reboot' }, undefined, defaults)
    expect(r.timeoutSeconds).toBe(defaults.timeoutSeconds)
    expect(r.ttlSeconds).toBe(defaults.ttlSeconds)
  })

  it.each([
    { name: 'a single letter', value: 'a' },
    { name: 'a single digit', value: '7' },
    { name: 'upper case', value: 'Reboot' },
    { name: 'every allowed symbol', value: 'set-point_v2.1:fast' },
    { name: 'a leading digit', value: '0x-reset' },
    { name: 'trailing symbols', value: 'a-_.:' },
    { name: 'exactly 64 characters', value: 'n'.repeat(64) }
  ])('accepts a name with $name', ({ value }) => {
    expect(parseCommandRequest({ name: value }, undefined, DEFAULTS).name).toBe(value)
  })

  it.each([
    { name: 'a single letter', value: 'a' },
    { name: 'a single digit', value: '9' },
    { name: 'every allowed symbol', value: 'cmd-1_2.3:4' },
    { name: 'a UUID', value: '0b6c1f0e-3f7a-4d6e-9b1a-2c3d4e5f6a7b' },
    { name: 'exactly 128 characters', value: 'i'.repeat(128) }
  ])('accepts a body id with $name', ({ value }) => {
    expect(parseCommandRequest({ id: value, name: 'reboot' }, undefined, DEFAULTS).id).toBe(value)
  })

  it.each([
    { name: 'neither: no id', bodyId: undefined, key: undefined, id: undefined },
    { name: 'only the header: the Idempotency-Key', bodyId: undefined, key: 'key-1', id: 'key-1' },
    { name: 'only the body: the body id', bodyId: 'cmd-1', key: undefined, id: 'cmd-1' },
    { name: 'both, equal: that id', bodyId: 'cmd-1', key: 'cmd-1', id: 'cmd-1' },
    { name: 'the header at 128 characters', bodyId: undefined, key: 'k'.repeat(128), id: 'k'.repeat(128) }
  ])('chooses the id from $name', ({ bodyId, key, id }) => {
    const body = bodyId === undefined ? { name: 'reboot' } : { id: bodyId, name: 'reboot' }
    expect(parseCommandRequest(body, key, DEFAULTS).id).toBe(id)
  })

  it.each([
    { name: 'an object', payload: { a: [1, 2, { b: null }] } },
    { name: 'an array', payload: [1, 'two'] },
    { name: 'a string', payload: 'on' },
    { name: 'an empty string', payload: '' },
    { name: 'zero', payload: 0 },
    { name: 'false', payload: false },
    { name: 'exactly 256 KiB of ASCII', payload: stringPayload(KIB_256) },
    { name: 'exactly 256 KiB of two-byte characters', payload: stringPayload(KIB_256, 'é') }
  ])('keeps a payload that is $name as it is', ({ payload }) => {
    expect(parseCommandRequest({ name: 'reboot', payload }, undefined, DEFAULTS).payload).toStrictEqual(payload)
  })

  it.each([
    { field: 'timeoutSeconds', value: 1 },
    { field: 'timeoutSeconds', value: 86_400 },
    { field: 'ttlSeconds', value: 0 },
    { field: 'ttlSeconds', value: 2_592_000 }
  ] as const)('accepts $field = $value', ({ field, value }) => {
    expect(parseCommandRequest({ name: 'reboot', [field]: value }, undefined, DEFAULTS)[field]).toBe(value)
  })
})

describe('command requests: refusals name the field', () => {
  it.each([
    // the body itself
    { why: 'a null body', body: null, field: 'body' },
    { why: 'an absent body', body: undefined, field: 'body' },
    { why: 'an array body', body: [{ name: 'reboot' }], field: 'body' },
    { why: 'a string body', body: '{"name":"reboot"}', field: 'body' },
    { why: 'a number body', body: 42, field: 'body' },
    { why: 'a boolean body', body: true, field: 'body' },
    // unknown fields
    { why: 'an unknown field', body: { name: 'reboot', priority: 1 }, field: 'priority' },
    { why: 'a field in the wrong case', body: { name: 'reboot', Payload: {} }, field: 'Payload' },
    { why: 'a near-miss field', body: { name: 'reboot', timeout: 5 }, field: 'timeout' },
    { why: 'an unknown field set to undefined', body: { name: 'reboot', extra: undefined }, field: 'extra' },
    // name
    { why: 'a missing name', body: {}, field: 'name' },
    { why: 'an empty name', body: { name: '' }, field: 'name' },
    { why: "a name with '/'", body: { name: 'a/b' }, field: 'name' },
    { why: "the name '+'", body: { name: '+' }, field: 'name' },
    { why: "the name '#'", body: { name: '#' }, field: 'name' },
    { why: "a name ending in '+'", body: { name: 'reboot+' }, field: 'name' },
    { why: "a name ending in '#'", body: { name: 'reboot#' }, field: 'name' },
    { why: 'a name with a space', body: { name: 're boot' }, field: 'name' },
    { why: 'a name with a trailing newline', body: { name: 'reboot\n' }, field: 'name' },
    { why: 'a name with a non-ASCII letter', body: { name: 'zähler' }, field: 'name' },
    { why: "a name starting with '-'", body: { name: '-reboot' }, field: 'name' },
    { why: "a name starting with '_'", body: { name: '_reboot' }, field: 'name' },
    { why: "a name starting with '.'", body: { name: '.reboot' }, field: 'name' },
    { why: "a name starting with ':'", body: { name: ':reboot' }, field: 'name' },
    { why: 'a 65-character name', body: { name: 'n'.repeat(65) }, field: 'name' },
    { why: 'a numeric name', body: { name: 42 }, field: 'name' },
    { why: 'a null name', body: { name: null }, field: 'name' },
    // id
    { why: 'an empty id', body: { id: '', name: 'reboot' }, field: 'id' },
    { why: "an id with '/'", body: { id: 'a/b', name: 'reboot' }, field: 'id' },
    { why: "the id '+'", body: { id: '+', name: 'reboot' }, field: 'id' },
    { why: "the id '#'", body: { id: '#', name: 'reboot' }, field: 'id' },
    { why: "an id starting with '-'", body: { id: '-1', name: 'reboot' }, field: 'id' },
    { why: "an id with '+' inside", body: { id: 'cmd+1', name: 'reboot' }, field: 'id' },
    { why: "an id with '#' inside", body: { id: 'cmd#1', name: 'reboot' }, field: 'id' },
    { why: 'a 129-character id', body: { id: 'i'.repeat(129), name: 'reboot' }, field: 'id' },
    { why: 'a numeric id', body: { id: 7, name: 'reboot' }, field: 'id' },
    { why: 'a null id', body: { id: null, name: 'reboot' }, field: 'id' },
    // Idempotency-Key header
    { why: 'an empty Idempotency-Key', body: { name: 'reboot' }, key: '', field: 'Idempotency-Key' },
    { why: "an Idempotency-Key with '/'", body: { name: 'reboot' }, key: 'a/b', field: 'Idempotency-Key' },
    { why: "an Idempotency-Key with '#'", body: { name: 'reboot' }, key: 'key#1', field: 'Idempotency-Key' },
    { why: 'a 129-character Idempotency-Key', body: { name: 'reboot' }, key: 'k'.repeat(129), field: 'Idempotency-Key' },
    { why: 'a body id unlike the header', body: { id: 'cmd-1', name: 'reboot' }, key: 'cmd-2', field: 'id' },
    { why: 'a body id unlike the header in case', body: { id: 'cmd-1', name: 'reboot' }, key: 'CMD-1', field: 'id' },
    // timeoutSeconds
    { why: 'timeoutSeconds 0', body: { name: 'reboot', timeoutSeconds: 0 }, field: 'timeoutSeconds' },
    { why: 'negative timeoutSeconds', body: { name: 'reboot', timeoutSeconds: -1 }, field: 'timeoutSeconds' },
    { why: 'timeoutSeconds 86401', body: { name: 'reboot', timeoutSeconds: 86_401 }, field: 'timeoutSeconds' },
    { why: 'fractional timeoutSeconds', body: { name: 'reboot', timeoutSeconds: 1.5 }, field: 'timeoutSeconds' },
    { why: 'timeoutSeconds as a string', body: { name: 'reboot', timeoutSeconds: '30' }, field: 'timeoutSeconds' },
    { why: 'timeoutSeconds as a boolean', body: { name: 'reboot', timeoutSeconds: true }, field: 'timeoutSeconds' },
    { why: 'infinite timeoutSeconds', body: { name: 'reboot', timeoutSeconds: Infinity }, field: 'timeoutSeconds' },
    // ttlSeconds
    { why: 'negative ttlSeconds', body: { name: 'reboot', ttlSeconds: -1 }, field: 'ttlSeconds' },
    { why: 'ttlSeconds 2592001', body: { name: 'reboot', ttlSeconds: 2_592_001 }, field: 'ttlSeconds' },
    { why: 'fractional ttlSeconds', body: { name: 'reboot', ttlSeconds: 0.5 }, field: 'ttlSeconds' },
    { why: 'ttlSeconds as a string', body: { name: 'reboot', ttlSeconds: '0' }, field: 'ttlSeconds' },
    { why: 'ttlSeconds as an object', body: { name: 'reboot', ttlSeconds: {} }, field: 'ttlSeconds' },
    // payload size (what is published is the UTF-8 JSON of the payload)
    { why: 'a payload one byte over 256 KiB', body: { name: 'reboot', payload: stringPayload(KIB_256 + 1) }, field: 'payload' },
    { why: 'an object payload over 256 KiB', body: { name: 'reboot', payload: { blob: 'x'.repeat(KIB_256) } }, field: 'payload' },
    { why: '256 KiB + 2 bytes of 2-byte chars', body: { name: 'reboot', payload: stringPayload(KIB_256 + 2, 'é') }, field: 'payload' },
    { why: '300,002 bytes of 4-byte chars', body: { name: 'reboot', payload: stringPayload(300_002, '😀') }, field: 'payload' }
  ] as Array<{ why: string, body: unknown, key?: string, field: string }>)('refuses $why (field $field)', ({ body, key, field }) => {
    const err = caught(() => parseCommandRequest(body, key, DEFAULTS))
    expect(err.code).toBe('COMMAND_INVALID')
    expect(err.status).toBe(400)
    expect(err.message.startsWith(field)).toBe(true)
    // the field name is the whole first word, not a prefix of a longer one
    expect(err.message.slice(field.length)).toMatch(/^[^\w-]/)
    expect(err.details).toEqual({ field })
  })
})
