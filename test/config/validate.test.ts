import { describe, it, expect } from 'vitest'
import { validateConfig } from '../../src/config/validate.js'
import { GridgateError } from '../../src/core/errors.js'
import { caught } from '../helpers/errors.js'

function at (value: unknown, pointer: string): unknown {
  let node = value
  for (const key of pointer.split('/').slice(1)) node = (node as Record<string, unknown>)[key]
  return node
}

function problems (err: GridgateError): string[] {
  return (err.details?.problems ?? []) as string[]
}

const KEY = 'k'.repeat(16)

describe('validateConfig: defaults', () => {
  const config = validateConfig({})

  it.each([
    { pointer: '/dataDir', value: './data' },
    { pointer: '/namespace', value: 'gridgate' },
    { pointer: '/log/level', value: 'info' },
    { pointer: '/http/host', value: '127.0.0.1' },
    { pointer: '/http/port', value: 8080 },
    { pointer: '/http/keys', value: [] },
    { pointer: '/http/allowUnauthenticated', value: false },
    { pointer: '/http/maxEventBytes', value: 1_048_576 },
    { pointer: '/http/maxBatchBytes', value: 1_048_576 },
    { pointer: '/http/maxBatchEvents', value: 1000 },
    { pointer: '/http/maxReplayLimit', value: 1000 },
    { pointer: '/mqtt/host', value: '127.0.0.1' },
    { pointer: '/mqtt/port', value: 1883 },
    { pointer: '/mqtt/allowAnonymous', value: false },
    { pointer: '/webhooks/allowLoopback', value: false },
    { pointer: '/storage/sync', value: true },
    { pointer: '/storage/maxBatchEvents', value: 10_000 },
    { pointer: '/storage/maxBatchBytes', value: 8 * 1_048_576 },
    { pointer: '/retention/maxAgeSeconds', value: 604_800 },
    { pointer: '/retention/maxBytes', value: 0 },
    { pointer: '/retention/sweepIntervalSeconds', value: 60 },
    { pointer: '/topics', value: [] }
  ])('fills $pointer with $value', ({ pointer, value }) => {
    expect(at(config, pointer)).toEqual(value)
  })

  it.each([undefined, null])('treats %j as an empty config', (raw) => {
    expect(validateConfig(raw)).toEqual(config)
  })

  it('keeps given values and fills only the missing siblings', () => {
    const c = validateConfig({ http: { port: 9000 }, storage: { sync: false } })
    expect(c.http.port).toBe(9000)
    expect(c.http.host).toBe('127.0.0.1')
    expect(c.storage.sync).toBe(false)
    expect(c.storage.maxBatchEvents).toBe(10_000)
  })

  it('does not mutate its input', () => {
    const raw = { http: { port: 9000 }, topics: [{ name: 't' }] }
    const before = structuredClone(raw)
    validateConfig(raw)
    expect(raw).toEqual(before)
    expect(Object.isFrozen(raw)).toBe(false)
  })
})

describe('validateConfig: freezing', () => {
  const config = validateConfig({ http: { keys: [KEY] }, topics: [{ name: 't', retention: { maxAgeSeconds: 60 } }] })

  it.each(['', '/http', '/http/keys', '/mqtt', '/log', '/storage', '/retention', '/topics', '/topics/0', '/topics/0/retention'])('freezes %j', (pointer) => {
    expect(Object.isFrozen(pointer === '' ? config : at(config, pointer))).toBe(true)
  })

  it('throws on assignment to a nested field', () => {
    expect(() => { (config.http as { port: number }).port = 1 }).toThrow(TypeError)
    expect(() => { (config.http.keys as string[]).push('x') }).toThrow(TypeError)
    expect(config.http.port).toBe(8080)
  })
})

describe('validateConfig: accepted configs', () => {
  it.each([
    { name: 'every listener on port 0', raw: { http: { port: 0 }, mqtt: { port: 0, wsPort: 0, tlsPort: 0, wssPort: 0 } } },
    { name: 'maxEventBytes equal to maxBatchBytes', raw: { http: { maxEventBytes: 5000, maxBatchBytes: 5000 } } },
    { name: 'maxEventBytes below maxBatchBytes', raw: { http: { maxEventBytes: 1000, maxBatchBytes: 5000 } } },
    { name: 'topics with distinct names', raw: { topics: [{ name: 'a' }, { name: 'b', retention: { maxAgeSeconds: 0, maxBytes: 10 } }] } },
    { name: 'topic names differing only in case', raw: { topics: [{ name: 'a' }, { name: 'A' }] } },
    { name: 'a 16-character key', raw: { http: { keys: [KEY] } } },
    { name: 'retention of 0 (keep forever)', raw: { retention: { maxAgeSeconds: 0, maxBytes: 0 } } },
    { name: 'log level silent', raw: { log: { level: 'silent' } } },
    { name: 'an advertised http URL', raw: { cluster: { advertiseHttpUrl: 'http://10.0.0.7:8080' } } },
    { name: 'an advertised https URL with a trailing slash', raw: { cluster: { advertiseHttpUrl: 'https://gw-1.cluster.local/' } } }
  ])('accepts $name', ({ raw }) => {
    expect(() => validateConfig(raw)).not.toThrow()
  })
})

describe('validateConfig: refused configs', () => {
  it.each([
    { raw: { prot: 1 }, problem: "/: unknown field 'prot'" },
    { raw: { http: { prot: 8080 } }, problem: "/http: unknown field 'prot'" },
    { raw: { mqtt: { wsport: 1 } }, problem: "/mqtt: unknown field 'wsport'" },
    { raw: { storage: { fsync: true } }, problem: "/storage: unknown field 'fsync'" },
    { raw: { retention: { maxAge: 1 } }, problem: "/retention: unknown field 'maxAge'" },
    { raw: { topics: [{ name: 't', ttl: 1 }] }, problem: "/topics/0: unknown field 'ttl'" },
    { raw: { topics: [{ name: 't', retention: { maxAge: 1 } }] }, problem: "/topics/0/retention: unknown field 'maxAge'" }
  ])('refuses an unknown field: $problem', ({ raw, problem }) => {
    const err = caught(() => validateConfig(raw))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain(problem)
    expect(problems(err)).toEqual([problem])
  })

  it.each([
    { raw: { http: { port: 'eighty' } }, pointer: '/http/port' },
    { raw: { http: { port: 80.5 } }, pointer: '/http/port' },
    { raw: { http: { port: -1 } }, pointer: '/http/port' },
    { raw: { http: { port: 65536 } }, pointer: '/http/port' },
    { raw: { mqtt: { tlsPort: '8883' } }, pointer: '/mqtt/tlsPort' },
    { raw: { http: { host: '' } }, pointer: '/http/host' },
    { raw: { http: { keys: 'one-key-0123456789' } }, pointer: '/http/keys' },
    { raw: { http: { keys: ['short'] } }, pointer: '/http/keys/0' },
    { raw: { http: { allowUnauthenticated: 'yes' } }, pointer: '/http/allowUnauthenticated' },
    { raw: { http: { maxBatchEvents: 0 } }, pointer: '/http/maxBatchEvents' },
    { raw: { http: { maxEventBytes: 17 * 1_048_576, maxBatchBytes: 64 * 1_048_576 } }, pointer: '/http/maxEventBytes' },
    { raw: { storage: { sync: 1 } }, pointer: '/storage/sync' },
    { raw: { retention: { maxAgeSeconds: -1 } }, pointer: '/retention/maxAgeSeconds' },
    { raw: { retention: { sweepIntervalSeconds: 0 } }, pointer: '/retention/sweepIntervalSeconds' },
    { raw: { log: { level: 'loud' } }, pointer: '/log/level' },
    { raw: { namespace: 'has space' }, pointer: '/namespace' },
    { raw: { dataDir: '' }, pointer: '/dataDir' },
    { raw: { http: 8080 }, pointer: '/http' },
    { raw: { topics: {} }, pointer: '/topics' },
    { raw: { topics: [{}] }, pointer: '/topics/0' },
    { raw: { topics: [{ name: '-bad' }] }, pointer: '/topics/0/name' },
    { raw: { topics: [{ name: 't', retention: { maxBytes: 'lots' } }] }, pointer: '/topics/0/retention/maxBytes' },
    { raw: { cluster: { advertiseHttpUrl: 'gw-1:8080' } }, pointer: '/cluster/advertiseHttpUrl' },
    { raw: { cluster: { advertiseHttpUrl: 'mqtt://gw-1:1883' } }, pointer: '/cluster/advertiseHttpUrl' },
    { raw: { cluster: { advertiseHttpUrl: 'http://gw-1:8080/api' } }, pointer: '/cluster/advertiseHttpUrl' },
    { raw: [], pointer: '/' },
    { raw: 'config', pointer: '/' }
  ])('refuses a wrong value at $pointer, naming it', ({ raw, pointer }) => {
    const err = caught(() => validateConfig(raw))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.message).toContain(`${pointer}: `)
    expect(problems(err).some((p) => p.startsWith(`${pointer}: `))).toBe(true)
  })

  it('lists the allowed values of an enum', () => {
    const err = caught(() => validateConfig({ log: { level: 'loud' } }))
    expect(err.message).toContain('/log/level: must be one of fatal, error, warn, info, debug, trace, silent')
  })

  it('reports every schema problem at once', () => {
    const err = caught(() => validateConfig({ http: { port: 'x', prot: 1 }, storage: { sync: 'no' } }))
    expect(problems(err)).toHaveLength(3)
    expect(err.message).toContain('/http/port')
    expect(err.message).toContain("/http: unknown field 'prot'")
    expect(err.message).toContain('/storage/sync')
  })

  it('refuses maxEventBytes above maxBatchBytes', () => {
    const err = caught(() => validateConfig({ http: { maxEventBytes: 2000, maxBatchBytes: 1000 } }))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(problems(err)).toEqual(['/http/maxEventBytes: must not exceed /http/maxBatchBytes'])
  })

  it('refuses a maxEventBytes above the default maxBatchBytes', () => {
    const err = caught(() => validateConfig({ http: { maxEventBytes: 1_048_577 } }))
    expect(problems(err)).toEqual(['/http/maxEventBytes: must not exceed /http/maxBatchBytes'])
  })

  it.each([
    { topics: [{ name: 'a' }, { name: 'a' }], problem: "/topics/1/name: 'a' is already defined at /topics/0" },
    { topics: [{ name: 'a' }, { name: 'b' }, { name: 'a', retention: { maxBytes: 1 } }], problem: "/topics/2/name: 'a' is already defined at /topics/0" },
    { topics: [{ name: 'x' }, { name: 'y' }, { name: 'y' }], problem: "/topics/2/name: 'y' is already defined at /topics/1" }
  ])('refuses a duplicate topic name: $problem', ({ topics, problem }) => {
    const err = caught(() => validateConfig({ topics }))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(problems(err)).toEqual([problem])
  })

  it.each([
    { raw: { http: { port: 1883 } }, problem: '/mqtt/port: port 1883 is already used by /http/port' },
    { raw: { mqtt: { wsPort: 8080 } }, problem: '/mqtt/wsPort: port 8080 is already used by /http/port' },
    { raw: { mqtt: { tlsPort: 8083 } }, problem: '/mqtt/tlsPort: port 8083 is already used by /mqtt/wsPort' },
    { raw: { http: { port: 9000 }, mqtt: { wssPort: 9000 } }, problem: '/mqtt/wssPort: port 9000 is already used by /http/port' }
  ])('refuses two listeners on one port: $problem', ({ raw, problem }) => {
    const err = caught(() => validateConfig(raw))
    expect(err.code).toBe('CONFIG_INVALID')
    expect(problems(err)).toEqual([problem])
  })

  it('reports every cross-field problem at once', () => {
    const err = caught(() => validateConfig({
      http: { port: 1883, maxEventBytes: 2000, maxBatchBytes: 1000 },
      topics: [{ name: 't' }, { name: 't' }]
    }))
    expect(problems(err)).toHaveLength(3)
  })
})
