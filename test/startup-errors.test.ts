import { describe, expect, it } from 'vitest'
import { validateConfig } from '../src/config/validate.js'
import { GridgateError } from '../src/core/errors.js'
import { describeStartupError, envVariableOf, reasonOf } from '../src/startup-errors.js'

// The one line of a failed start, from the errors Node and LevelDB throw (the flows in
// test/flows/startup-errors.test.ts cause them for real).

const config = validateConfig({ dataDir: '/srv/gridgate', http: { port: 8080, keys: ['k-0123456789abcdefgh'] }, mqtt: { port: 1883 } })
const ctx = { config, configFile: 'gridgate.yaml' }

function errno (code: string, fields: Record<string, unknown>, message = code): Error {
  return Object.assign(new Error(message), { code, ...fields })
}

describe('start-up errors', () => {
  it('finds the environment variable of a config field in the one table of them', () => {
    expect(envVariableOf(['http', 'port'])).toBe('GRIDGATE_HTTP_PORT')
    expect(envVariableOf(['mqtt', 'host'])).toBe('GRIDGATE_MQTT_HOST')
    expect(envVariableOf(['mqtt', 'maxPayloadBytes'])).toBeUndefined()
  })

  it('a privileged port names the listener and its variable', async () => {
    const f = await describeStartupError(errno('EACCES', { syscall: 'listen', address: '127.0.0.1', port: 1883 }), ctx)
    expect(f).toEqual({ exitCode: 1, line: 'cannot start: the MQTT listener is not permitted to listen on port 1883 of 127.0.0.1 (ports below 1024 need privileges); choose another port with GRIDGATE_MQTT_PORT or mqtt.port in gridgate.yaml' })
  })

  it('a file error inside the data directory names the directory and its variable', async () => {
    const f = await describeStartupError(errno('EACCES', { syscall: 'mkdir', path: '/srv/gridgate/db' }), ctx)
    expect(f).toEqual({ exitCode: 1, line: 'cannot start: mkdir /srv/gridgate/db: permission denied; the data directory is /srv/gridgate (GRIDGATE_DATA_DIR or dataDir in gridgate.yaml)' })
  })

  it('a LevelDB lock nobody can be found holding still names the directory', async () => {
    const locked = Object.assign(new Error('Database failed to open'), {
      code: 'LEVEL_DATABASE_NOT_OPEN',
      cause: errno('LEVEL_LOCKED', {}, 'IO error: lock /nonexistent/db/LOCK: Resource temporarily unavailable')
    })
    expect(await describeStartupError(locked, ctx)).toEqual({
      exitCode: 1,
      line: 'cannot start: the data directory /srv/gridgate is in use by another process; stop that gateway, or give this one its own directory with GRIDGATE_DATA_DIR or dataDir in gridgate.yaml'
    })
  })

  it('a config error found while starting names the config file, exit code 2', async () => {
    const f = await describeStartupError(new GridgateError('CONFIG_INVALID', '/mqtt/tls/cert: cannot read /x.pem: no such file or directory'), ctx)
    expect(f).toEqual({ exitCode: 2, line: 'gridgate.yaml: /mqtt/tls/cert: cannot read /x.pem: no such file or directory' })
  })

  it('anything else is its message and its causes on one line', async () => {
    const f = await describeStartupError(new Error('opening telemetry failed\n    at x', { cause: new Error('worker exited') }), ctx)
    expect(f).toEqual({ exitCode: 1, line: 'cannot start: opening telemetry failed: worker exited' })
  })

  it('says an errno in words', () => {
    expect(reasonOf(errno('ENOENT', {}, "ENOENT: no such file or directory, open '/x'"))).toBe('no such file or directory')
    expect(reasonOf(new Error('first\nsecond'))).toBe('first')
  })
})
