import { describe, it, expect } from 'vitest'
import { applyEnvOverrides, ENV_OVERRIDES } from '../../src/config/env.js'
import { caught } from '../helpers/errors.js'

// One row per variable: a value as given in the environment and where it lands.
const OVERRIDES = [
  { name: 'GRIDGATE_DATA_DIR', value: '/var/lib/gridgate', expected: { dataDir: '/var/lib/gridgate' } },
  { name: 'GRIDGATE_HTTP_HOST', value: '0.0.0.0', expected: { http: { host: '0.0.0.0' } } },
  { name: 'GRIDGATE_HTTP_PORT', value: '9090', expected: { http: { port: 9090 } } },
  { name: 'GRIDGATE_MQTT_HOST', value: '::', expected: { mqtt: { host: '::' } } },
  { name: 'GRIDGATE_MQTT_PORT', value: '1884', expected: { mqtt: { port: 1884 } } },
  { name: 'GRIDGATE_MQTT_WS_PORT', value: '0', expected: { mqtt: { wsPort: 0 } } },
  { name: 'GRIDGATE_MQTTS_PORT', value: '8884', expected: { mqtt: { tlsPort: 8884 } } },
  { name: 'GRIDGATE_MQTT_WSS_PORT', value: '8085', expected: { mqtt: { wssPort: 8085 } } },
  { name: 'GRIDGATE_HTTP_KEYS', value: 'first-key-0123456789,second-key-0123456789', expected: { http: { keys: ['first-key-0123456789', 'second-key-0123456789'] } } },
  { name: 'GRIDGATE_MQTT_ALLOW_ANONYMOUS', value: 'true', expected: { mqtt: { allowAnonymous: true } } },
  { name: 'GRIDGATE_WEBHOOK_ALLOW_LOOPBACK', value: 'false', expected: { webhooks: { allowLoopback: false } } },
  { name: 'GRIDGATE_LOG_LEVEL', value: 'debug', expected: { log: { level: 'debug' } } },
  { name: 'GRIDGATE_STORAGE_ENGINE', value: 'memory', expected: { storage: { engine: 'memory' } } },
  { name: 'GRIDGATE_REDIS_URL', value: 'redis://:secret@redis.example:6380/2', expected: { redis: { url: 'redis://:secret@redis.example:6380/2' } } },
  { name: 'GRIDGATE_NODE_ID', value: 'gw-2', expected: { cluster: { nodeId: 'gw-2' } } },
  { name: 'GRIDGATE_ADVERTISE_HTTP_URL', value: 'http://10.0.0.7:8080', expected: { cluster: { advertiseHttpUrl: 'http://10.0.0.7:8080' } } }
]

const PORTS = Object.entries(ENV_OVERRIDES).filter(([, o]) => o.kind === 'port').map(([name]) => name)
const BOOLEANS = Object.entries(ENV_OVERRIDES).filter(([, o]) => o.kind === 'boolean').map(([name]) => name)

describe('applyEnvOverrides', () => {
  it('has a row in this table for every override it knows', () => {
    expect(OVERRIDES.map((o) => o.name).sort()).toEqual(Object.keys(ENV_OVERRIDES).sort())
  })

  it.each(OVERRIDES)('applies $name to an empty config', ({ name, value, expected }) => {
    expect(applyEnvOverrides({}, { [name]: value })).toEqual(expected)
  })

  it.each(OVERRIDES)('applies $name over a value from the file, keeping its siblings', ({ name, value, expected }) => {
    const raw = {
      dataDir: './from-file',
      log: { level: 'warn', keep: 1 },
      http: { host: '127.0.0.1', port: 1, keys: ['file-key-0123456789'], keep: 1 },
      mqtt: { host: '127.0.0.1', port: 2, wsPort: 3, tlsPort: 4, wssPort: 5, allowAnonymous: false, keep: 1 },
      webhooks: { allowLoopback: true, keep: 1 }
    }
    const out = applyEnvOverrides(raw, { [name]: value })
    const merged = structuredClone(raw) as Record<string, unknown>
    for (const [k, v] of Object.entries(expected)) {
      merged[k] = typeof v === 'object' ? { ...(merged[k] as object), ...v } : v
    }
    expect(out).toEqual(merged)
  })

  it.each(OVERRIDES)('ignores $name when it is empty', ({ name }) => {
    const raw = { http: { port: 1 } }
    expect(applyEnvOverrides(raw, { [name]: '' })).toEqual(raw)
  })

  it('applies several overrides at once', () => {
    const out = applyEnvOverrides({}, { GRIDGATE_HTTP_PORT: '0', GRIDGATE_MQTT_PORT: '0', GRIDGATE_DATA_DIR: '/tmp/x' })
    expect(out).toEqual({ dataDir: '/tmp/x', http: { port: 0 }, mqtt: { port: 0 } })
  })

  it('ignores variables it does not know', () => {
    const raw = { http: { port: 1 } }
    expect(applyEnvOverrides(raw, { GRIDGATE_HTTP_ADDRESS: '0.0.0.0', GRIDGATE_UNKNOWN: 'x', PATH: '/bin', HOME: undefined })).toEqual(raw)
  })

  it('does not mutate its input', () => {
    const raw = { http: { port: 1, keys: ['file-key-0123456789'] }, mqtt: { port: 2 } }
    const before = structuredClone(raw)
    const out = applyEnvOverrides(raw, { GRIDGATE_HTTP_PORT: '9', GRIDGATE_HTTP_KEYS: 'env-key-0123456789', GRIDGATE_MQTT_PORT: '10' })
    expect(raw).toEqual(before)
    expect(out.http).not.toBe(raw.http)
    expect(out).toEqual({ http: { port: 9, keys: ['env-key-0123456789'] }, mqtt: { port: 10 } })
  })

  it('returns a copy even when nothing is overridden', () => {
    const raw = { http: { port: 1 } }
    const out = applyEnvOverrides(raw, {})
    expect(out).toEqual(raw)
    expect(out).not.toBe(raw)
    expect(out.http).not.toBe(raw.http)
  })

  it('replaces a null parent with an object', () => {
    expect(applyEnvOverrides({ http: null }, { GRIDGATE_HTTP_PORT: '1' })).toEqual({ http: { port: 1 } })
  })

  it.each([
    { parent: 'oops', variable: 'GRIDGATE_HTTP_PORT', pointer: '/http/port' },
    { parent: 5, variable: 'GRIDGATE_HTTP_KEYS', pointer: '/http/keys' },
    { parent: true, variable: 'GRIDGATE_MQTT_ALLOW_ANONYMOUS', pointer: '/mqtt/allowAnonymous' }
  ])('refuses $variable when the parent of $pointer is $parent', ({ parent, variable, pointer }) => {
    const [top] = pointer.slice(1).split('/')
    const err = caught(() => applyEnvOverrides({ [top ?? '']: parent }, { [variable]: 'true' }))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain(variable)
    expect(err.message).toContain(pointer)
  })

  describe('ports', () => {
    it.each([
      { value: '0', port: 0 },
      { value: '80', port: 80 },
      { value: '65535', port: 65535 },
      { value: ' 8080 ', port: 8080 },
      { value: '08080', port: 8080 }
    ])('reads $value as $port', ({ value, port }) => {
      for (const name of PORTS) {
        const out = applyEnvOverrides({}, { [name]: value })
        const path = ENV_OVERRIDES[name]?.path ?? []
        expect(path).toHaveLength(2)
        expect(out).toEqual({ [path[0] ?? '']: { [path[1] ?? '']: port } })
      }
    })

    it.each(['abc', '-1', '80.5', '0x50', '1e3', '8080a', '80 81', ' '])('refuses %j, naming the variable', (value) => {
      for (const name of PORTS) {
        const err = caught(() => applyEnvOverrides({}, { [name]: value }))
        expect(err.code).toBe('CONFIG_INVALID')
        expect(err.message).toContain(`${name}='${value}'`)
        expect(err.message).toContain('must be a port number')
        expect(err.details).toEqual({ field: name })
      }
    })
  })

  describe('booleans', () => {
    it.each([
      { value: 'true', expected: true },
      { value: 'TRUE', expected: true },
      { value: 'True', expected: true },
      { value: '1', expected: true },
      { value: ' true ', expected: true },
      { value: 'false', expected: false },
      { value: 'FALSE', expected: false },
      { value: '0', expected: false }
    ])('reads $value as $expected', ({ value, expected }) => {
      expect(BOOLEANS.length).toBeGreaterThan(0)
      for (const name of BOOLEANS) {
        const path = ENV_OVERRIDES[name]?.path ?? []
        expect(applyEnvOverrides({}, { [name]: value })).toEqual({ [path[0] ?? '']: { [path[1] ?? '']: expected } })
      }
    })

    it.each(['yes', 'no', 'on', 'off', '2', 'truthy', 't', ' '])('refuses %j, naming the variable', (value) => {
      for (const name of BOOLEANS) {
        const err = caught(() => applyEnvOverrides({}, { [name]: value }))
        expect(err.code).toBe('CONFIG_INVALID')
        expect(err.message).toContain(`${name}='${value}'`)
        expect(err.details).toEqual({ field: name })
      }
    })
  })

  describe('GRIDGATE_HTTP_KEYS', () => {
    it.each([
      { value: 'only-key-0123456789', keys: ['only-key-0123456789'] },
      { value: 'a-key-0123456789abc,b-key-0123456789abc', keys: ['a-key-0123456789abc', 'b-key-0123456789abc'] },
      { value: ' a-key-0123456789abc , b-key-0123456789abc ', keys: ['a-key-0123456789abc', 'b-key-0123456789abc'] },
      { value: 'a-key-0123456789abc,,b-key-0123456789abc,', keys: ['a-key-0123456789abc', 'b-key-0123456789abc'] },
      { value: ',', keys: [] },
      { value: ' ', keys: [] }
    ])('reads $value as $keys', ({ value, keys }) => {
      expect(applyEnvOverrides({ http: { keys: ['file-key-0123456789'] } }, { GRIDGATE_HTTP_KEYS: value })).toEqual({ http: { keys } })
    })
  })

  describe('strings', () => {
    it.each([
      { name: 'GRIDGATE_DATA_DIR', value: ' /with spaces/ ', expected: { dataDir: ' /with spaces/ ' } },
      { name: 'GRIDGATE_LOG_LEVEL', value: 'LOUD', expected: { log: { level: 'LOUD' } } },
      { name: 'GRIDGATE_HTTP_HOST', value: 'not a host', expected: { http: { host: 'not a host' } } }
    ])('passes $name through unchanged for validation to judge', ({ name, value, expected }) => {
      expect(applyEnvOverrides({}, { [name]: value })).toEqual(expected)
    })
  })
})
