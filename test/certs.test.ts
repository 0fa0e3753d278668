import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm, stat, unlink } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer } from 'node:tls'
import type { ConnectionOptions, Server, TLSSocket, TlsOptions } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { makeDevCerts } from '../src/certs.js'
import type { CertPaths } from '../src/certs.js'
import { useTeardown } from './helpers/teardown.js'

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
/** What the test server sends to a client it has accepted. */
const WELCOME = 'welcome\n'

const dirs: string[] = []
async function freshDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gridgate-certs-test-'))
  dirs.push(dir)
  return dir
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

const onTeardown = useTeardown()

async function cert (path: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(path))
}

async function mode (path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

interface TestServer { port: number, accepted: TLSSocket[], server: Server }

/** A TLS server on 127.0.0.1 and a free port; it and every socket it accepts are closed after the test. */
async function startServer (options: TlsOptions): Promise<TestServer> {
  const accepted: TLSSocket[] = []
  const server = createServer(options, (socket) => {
    accepted.push(socket)
    socket.on('error', () => {})
    socket.write(WELCOME)
  })
  onTeardown(() => new Promise((resolve) => {
    for (const s of accepted) s.destroy()
    server.close(resolve)
  }))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, accepted, server }
}

interface TestClient { socket: TLSSocket, errors: Error[], received: () => string, closed: Promise<void>, welcomed: Promise<void> }

/** A TLS client that is destroyed after the test. Errors and data are collected, not thrown. */
function startClient (options: ConnectionOptions): TestClient {
  const socket = connect(options)
  const errors: Error[] = []
  let data = ''
  let welcome = (): void => {}
  const welcomed = new Promise<void>((resolve) => { welcome = resolve })
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    data += chunk
    if (data === WELCOME) welcome()
  })
  socket.on('error', (err) => errors.push(err))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  onTeardown(() => socket.destroy())
  return { socket, errors, received: () => data, closed, welcomed }
}

async function pems (paths: CertPaths, device: string): Promise<{ ca: Buffer, cert: Buffer, key: Buffer, serverCert: Buffer, serverKey: Buffer }> {
  const d = paths.devices[device]
  if (d === undefined) throw new Error(`no device ${device}`)
  const [ca, cert, key, serverCert, serverKey] = await Promise.all([paths.caCert, d.cert, d.key, paths.serverCert, paths.serverKey].map((p) => readFile(p)))
  return { ca, cert, key, serverCert, serverKey } as { ca: Buffer, cert: Buffer, key: Buffer, serverCert: Buffer, serverKey: Buffer }
}

describe('makeDevCerts', () => {
  it('makes a CA, a server certificate for the default hosts and a client certificate per device', async () => {
    const dir = join(await freshDir(), 'nested', 'certs')
    const paths = await makeDevCerts({ dir, devices: ['dev-1', 'meter:7.b_2'] })

    expect(paths.caCert).toBe(join(dir, 'ca.crt'))
    expect(paths.serverKey).toBe(join(dir, 'server.key'))
    expect(paths.devices).toEqual({
      'dev-1': { cert: join(dir, 'devices', 'dev-1.crt'), key: join(dir, 'devices', 'dev-1.key') },
      'meter:7.b_2': { cert: join(dir, 'devices', 'meter:7.b_2.crt'), key: join(dir, 'devices', 'meter:7.b_2.key') }
    })

    const ca = await cert(paths.caCert)
    expect(ca.ca).toBe(true)
    expect(ca.checkIssued(ca)).toBe(true)

    const server = await cert(paths.serverCert)
    expect(server.ca).toBe(false)
    expect(server.checkIssued(ca) && server.verify(ca.publicKey)).toBe(true)
    expect(server.subjectAltName?.split(', ')).toEqual(['DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1'])
    expect(server.keyUsage).toEqual([SERVER_AUTH])

    for (const id of ['dev-1', 'meter:7.b_2']) {
      const device = await cert(paths.devices[id]?.cert as string)
      expect(device.subject).toBe(`CN=${id}`)
      expect(device.checkIssued(ca) && device.verify(ca.publicKey)).toBe(true)
      expect(device.keyUsage).toEqual([CLIENT_AUTH])
    }
  })

  it('keeps private keys at mode 0600 and the directories it creates at 0700', async () => {
    const dir = join(await freshDir(), 'certs')
    const paths = await makeDevCerts({ dir, devices: ['dev-1'] })
    for (const key of [paths.caKey, paths.serverKey, paths.devices['dev-1']?.key as string]) {
      expect(await mode(key)).toBe(0o600)
    }
    expect(await mode(dir)).toBe(0o700)
    expect(await mode(join(dir, 'devices'))).toBe(0o700)
  })

  it('puts names as DNS and addresses as IP entries in the server certificate, valid for the given days', async () => {
    const paths = await makeDevCerts({ dir: await freshDir(), hosts: ['gw.example.test', '10.1.2.3', '*.lan.test', 'fd00::2'], days: 30 })
    const server = await cert(paths.serverCert)
    expect(server.subjectAltName?.split(', ')).toEqual(['DNS:gw.example.test', 'IP Address:10.1.2.3', 'DNS:*.lan.test', 'IP Address:FD00:0:0:0:0:0:0:2'])
    const days = (Date.parse(server.validTo) - Date.parse(server.validFrom)) / 86_400_000
    expect(days).toBe(30)
  })

  it('reuses the CA on a second call and adds new devices, keeping the valid ones', async () => {
    const dir = await freshDir()
    const first = await makeDevCerts({ dir, devices: ['dev-1'] })
    const caBefore = await readFile(first.caCert, 'utf8')
    const dev1Before = await readFile(first.devices['dev-1']?.cert as string, 'utf8')

    const second = await makeDevCerts({ dir, devices: ['dev-1', 'dev-2'] })
    expect(await readFile(second.caCert, 'utf8')).toBe(caBefore)
    expect(await readFile(second.devices['dev-1']?.cert as string, 'utf8')).toBe(dev1Before)
    const ca = await cert(second.caCert)
    const dev2 = await cert(second.devices['dev-2']?.cert as string)
    expect(dev2.subject).toBe('CN=dev-2')
    expect(dev2.verify(ca.publicKey)).toBe(true)
  })

  it('makes a new CA with force and reissues the certificates it is asked for', async () => {
    const dir = await freshDir()
    const first = await makeDevCerts({ dir, devices: ['dev-1'] })
    const caBefore = await readFile(first.caCert, 'utf8')
    const dev1Before = await readFile(first.devices['dev-1']?.cert as string, 'utf8')

    const again = await makeDevCerts({ dir, devices: ['dev-1'], force: true })
    expect(await readFile(again.caCert, 'utf8')).not.toBe(caBefore)
    expect(await readFile(again.devices['dev-1']?.cert as string, 'utf8')).not.toBe(dev1Before)
    const ca = await cert(again.caCert)
    for (const path of [again.serverCert, again.devices['dev-1']?.cert as string]) {
      expect((await cert(path)).verify(ca.publicKey)).toBe(true)
    }
  })

  it('refuses to go on with half a CA instead of silently replacing it', async () => {
    const dir = await freshDir()
    const paths = await makeDevCerts({ dir })
    await unlink(paths.caKey)
    await expect(makeDevCerts({ dir })).rejects.toThrow(/ca\.key is missing but .*ca\.crt exists.*force/)
    await makeDevCerts({ dir, force: true })
    expect(await mode(paths.caKey)).toBe(0o600)
  })

  it.each([
    ['a path', '../evil'],
    ['a space', 'dev 1'],
    ['a subject separator', 'x/CN=root'],
    ['a leading dash', '-dev'],
    ['the empty string', ''],
    ['129 characters', 'd'.repeat(129)]
  ])('refuses a device id with %s before writing anything', async (_what, id) => {
    const dir = join(await freshDir(), 'certs')
    await expect(makeDevCerts({ dir, devices: ['ok-1', id] })).rejects.toThrow(/device id .* is invalid: use 1-128 letters, digits/)
    await expect(stat(dir)).rejects.toThrow(/ENOENT/)
  })

  it('accepts a device id of 64 characters, the most a certificate CN holds, and refuses 65', async () => {
    const id = 'd'.repeat(64)
    const paths = await makeDevCerts({ dir: await freshDir(), devices: [id] })
    expect((await cert(paths.devices[id]?.cert as string)).subject).toBe(`CN=${id}`)

    const dir = join(await freshDir(), 'certs')
    await expect(makeDevCerts({ dir, devices: ['e'.repeat(65)] })).rejects.toThrow(/too long for a certificate: its subject CN holds at most 64 characters/)
    await expect(stat(dir)).rejects.toThrow(/ENOENT/)
  })

  it.each(['local host', 'a;b', '-rf', 'host.', 'x'.repeat(64) + '.test', '1.2.3', 'fe80::1%eth0', ''])('refuses the host %j before writing anything', async (host) => {
    const dir = join(await freshDir(), 'certs')
    await expect(makeDevCerts({ dir, hosts: ['localhost', host] })).rejects.toThrow(/host .* is invalid/)
    await expect(stat(dir)).rejects.toThrow(/ENOENT/)
  })

  it.each([0, -1, 1.5, 40_000, Number.NaN])('refuses %d days', async (days) => {
    await expect(makeDevCerts({ dir: await freshDir(), days })).rejects.toThrow(/days must be a whole number/)
  })

  it('says how to install openssl when it is missing', async () => {
    const emptyBin = await freshDir()
    const path = process.env.PATH
    process.env.PATH = emptyBin
    try {
      await expect(makeDevCerts({ dir: join(await freshDir(), 'certs') })).rejects.toThrow('openssl is needed to make certificates: apt-get install openssl')
    } finally {
      process.env.PATH = path
    }
  })
})

describe('TLS with the made certificates', () => {
  let set: CertPaths
  let other: CertPaths

  beforeAll(async () => {
    set = await makeDevCerts({ dir: await freshDir(), devices: ['dev-1'] })
    other = await makeDevCerts({ dir: await freshDir(), devices: ['dev-1'] })
  })

  async function mutualTlsServer (): Promise<TestServer> {
    const { ca, serverCert, serverKey } = await pems(set, 'dev-1')
    return await startServer({ cert: serverCert, key: serverKey, ca, requestCert: true, rejectUnauthorized: true })
  }

  it('lets a device with its client certificate in, seen by the server as CN=dev-1', async () => {
    const { ca, cert, key } = await pems(set, 'dev-1')
    const { port, accepted, server } = await mutualTlsServer()
    const secure = once(server, 'secureConnection')

    const client = startClient({ host: '127.0.0.1', port, servername: 'localhost', ca, cert, key })
    await client.welcomed
    const [socket] = await secure as [TLSSocket]

    expect(client.socket.authorized).toBe(true)
    expect(socket.authorized).toBe(true)
    expect(socket.getPeerCertificate().subject.CN).toBe('dev-1')
    expect(accepted).toHaveLength(1)
  })

  it('refuses a client certificate from another CA', async () => {
    const { ca } = await pems(set, 'dev-1')
    const intruder = await pems(other, 'dev-1')
    const { port, accepted, server } = await mutualTlsServer()
    const refused = once(server, 'tlsClientError')

    const client = startClient({ host: '127.0.0.1', port, servername: 'localhost', ca, cert: intruder.cert, key: intruder.key })
    const [err] = await refused as [Error]
    await client.closed

    // Node verifies the client certificate after the handshake and, with rejectUnauthorized,
    // drops the socket: the server reports a tlsClientError (a plain ECONNRESET "socket hang
    // up") instead of a secureConnection, and the client is closed before any data reaches it.
    expect(err).toBeInstanceOf(Error)
    expect(accepted).toHaveLength(0)
    expect(client.received()).toBe('')
    expect(client.socket.destroyed).toBe(true)
  })

  it('marks a foreign client certificate unauthorized for an unknown issuer when the server does not insist', async () => {
    const { ca, serverCert, serverKey } = await pems(set, 'dev-1')
    const intruder = await pems(other, 'dev-1')
    const { port, server } = await startServer({ cert: serverCert, key: serverKey, ca, requestCert: true, rejectUnauthorized: false })
    const secure = once(server, 'secureConnection')

    const client = startClient({ host: '127.0.0.1', port, servername: 'localhost', ca, cert: intruder.cert, key: intruder.key })
    await once(client.socket, 'secureConnect')
    const [socket] = await secure as [TLSSocket]

    expect(socket.authorized).toBe(false)
    // OpenSSL's X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: the leaf's issuer is not in `ca`.
    expect(String(socket.authorizationError)).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE')
  })

  it('verifies the server certificate for 127.0.0.1 as an IP SAN without a servername', async () => {
    const { ca, cert, key } = await pems(set, 'dev-1')
    const { port } = await mutualTlsServer()

    const client = startClient({ host: '127.0.0.1', port, ca, cert, key })
    await client.welcomed

    expect(client.socket.servername).toBeFalsy()
    expect(client.socket.authorized).toBe(true)
    expect(client.errors).toEqual([])
  })

  it('fails the identity check for 127.0.0.1 when the server certificate is made for other hosts', async () => {
    const named = await makeDevCerts({ dir: await freshDir(), hosts: ['gw.example.test'], devices: ['dev-1'] })
    const { ca, cert, key, serverCert, serverKey } = await pems(named, 'dev-1')
    const { port } = await startServer({ cert: serverCert, key: serverKey, ca, requestCert: true, rejectUnauthorized: true })

    const client = startClient({ host: '127.0.0.1', port, ca, cert, key })
    await client.closed

    expect(client.errors.map((e) => (e as NodeJS.ErrnoException).code)).toEqual(['ERR_TLS_CERT_ALTNAME_INVALID'])
  })
})
