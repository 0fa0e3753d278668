import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo, type Server } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runCli, spawnGateway } from '../helpers/child.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// `gridgate start` that cannot start says why in one line on stderr, naming what to change,
// never with a stack trace: through the real CLI as a child process.

const teardown = useTeardown()
const KEY = 'startup-errors-key-0123456789'

async function dir (): Promise<string> {
  const d = await tempDir()
  teardown(d.remove)
  return d.path
}

/** A TCP server on 127.0.0.1 holding a free port. */
async function occupied (): Promise<number> {
  const server: Server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  teardown(() => new Promise((resolve) => server.close(resolve)))
  return (server.address() as AddressInfo).port
}

async function start (env: Record<string, string>, args: string[] = ['start']): Promise<{ code: number | string, line: string, stdout: string }> {
  const dataDir = env.GRIDGATE_DATA_DIR ?? join(await dir(), 'data')
  const res = await runCli({ args, env: { GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn', ...env, GRIDGATE_DATA_DIR: dataDir } })
  const lines = res.stderr.split('\n').filter((l) => l !== '')
  expect(lines, res.stderr).toHaveLength(1)
  expect(res.stderr).not.toMatch(/^\s+at /m) // no stack trace
  expect(res.stdout).not.toContain('"msg":"listening"')
  return { code: res.code, line: lines[0] as string, stdout: res.stdout }
}

describe.skipIf(process.env.GRIDGATE_TEST_ENGINE === 'memory')('start-up errors', () => {
  it('an unknown option of start names it and where the value is set instead', async () => {
    const res = await start({}, ['start', '--port', '9999'])
    expect(res.code).toBe(2)
    expect(res.line).toBe("gridgate start: unknown option '--port': ports are set with GRIDGATE_HTTP_PORT, GRIDGATE_MQTT_PORT, ... or http.port, mqtt.port in the config (see gridgate start --help)")
  })

  it('the HTTP port in use names the listener, the port and GRIDGATE_HTTP_PORT', async () => {
    const port = await occupied()
    const res = await start({ GRIDGATE_HTTP_PORT: String(port) })
    expect(res.code).toBe(1)
    expect(res.line).toMatch(new RegExp(`^gridgate: cannot start: port ${port} on 127\\.0\\.0\\.1 is already in use, so the HTTP listener cannot listen there; choose another port with GRIDGATE_HTTP_PORT or http\\.port in .*default\\.yaml \\(0 picks a free one\\)$`))
  })

  it.each([
    { variable: 'GRIDGATE_MQTT_PORT', listener: 'MQTT listener', field: 'mqtt.port' },
    { variable: 'GRIDGATE_MQTT_WS_PORT', listener: 'MQTT over WebSocket listener', field: 'mqtt.wsPort' }
  ])('an MQTT port in use names the $listener and $variable', async ({ variable, listener, field }) => {
    const port = await occupied()
    const res = await start({ [variable]: String(port) })
    expect(res.code).toBe(1)
    expect(res.line).toContain(`port ${port} on 127.0.0.1 is already in use, so the ${listener} cannot listen there`)
    expect(res.line).toContain(`${variable} or ${field} in`)
  })

  it('a host that is not an address of this machine names GRIDGATE_HTTP_HOST', async () => {
    const res = await start({ GRIDGATE_HTTP_HOST: '192.0.2.1' }) // TEST-NET-1: never local
    expect(res.code).toBe(1)
    expect(res.line).toMatch(/^gridgate: cannot start: the HTTP listener cannot listen on 192\.0\.2\.1: it is not an address of this machine; change it with GRIDGATE_HTTP_HOST or http\.host in /)
  })

  it('a data directory held by another gridgate names the directory and that process', async () => {
    const dataDir = join(await dir(), 'data')
    const first = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dataDir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn' } })
    teardown(() => first.kill('SIGKILL'))
    const res = await start({ GRIDGATE_DATA_DIR: dataDir })
    expect(res.code).toBe(1)
    expect(res.line).toContain(`gridgate: cannot start: the data directory ${dataDir} is in use by another process (pid ${String(first.proc.pid)}: `)
    expect(res.line).toContain('dist/cli.js start)')
    expect(res.line).toMatch(/stop that gateway, or give this one its own directory with GRIDGATE_DATA_DIR or dataDir in /)
    // The first one is unharmed.
    expect((await first.request('GET', '/readyz')).status).toBe(200)
  })

  it('a missing certificate file names the field and the file', async () => {
    const d = await dir()
    await writeFile(join(d, 'tls.yaml'), 'mqtt:\n  tls:\n    cert: certs/missing.pem\n    key: certs/missing-key.pem\n')
    const res = await start({}, ['start', '--config', join(d, 'tls.yaml')])
    expect(res.code).toBe(2)
    expect(res.line).toBe(`gridgate: ${join(d, 'tls.yaml')}: /mqtt/tls/cert: cannot read ${join(d, 'certs/missing.pem')}: no such file or directory`)
  })

  it('a certificate file that is no certificate names the field and the file', async () => {
    const d = await dir()
    await writeFile(join(d, 'not-a-cert.pem'), 'hello\n')
    await writeFile(join(d, 'tls.yaml'), 'mqtt:\n  tls:\n    cert: not-a-cert.pem\n    key: not-a-cert.pem\n')
    const res = await start({}, ['start', '--config', join(d, 'tls.yaml')])
    expect(res.code).toBe(2)
    expect(res.line).toMatch(new RegExp(`^gridgate: .*tls\\.yaml: /mqtt/tls/cert: ${join(d, 'not-a-cert.pem').replace(/\./g, '\\.')} is not a PEM certificate \\(`))
  })
})
