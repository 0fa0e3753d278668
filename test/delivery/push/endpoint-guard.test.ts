import { once } from 'node:events'
import { createServer } from 'node:http'
import type { LookupAddress } from 'node:dns'
import type { AddressInfo } from 'node:net'
import net from 'node:net'
import tls from 'node:tls'
import { request } from 'undici'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { isGridgateError } from '../../../src/core/errors.js'
import {
  assertEndpointUrl,
  classifyAddress,
  createGuardedAgent,
  createGuardedLookup
} from '../../../src/delivery/push/endpoint-guard.js'
import { useTeardown } from '../../helpers/teardown.js'

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['192.169.0.1', 'public'],
    ['223.255.255.255', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['169.254.169.254', 'link-local'],
    ['169.254.0.1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['224.0.0.1', 'reserved'],
    ['239.255.255.250', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.51.100.1', 'reserved'],
    ['203.0.113.1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fec0::1', 'private'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['ff02::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['100::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:a9fe:a9fe', 'link-local'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:a9fe:a9fe::1', 'link-local'],
    ['2002:808:808::1', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['not-an-ip', 'reserved'],
    ['127.0.0.01', 'reserved'],
    ['256.0.0.1', 'reserved'],
    ['1:2:3:4:5:6:7:8:9', 'reserved'],
    ['1::2::3', 'reserved'],
    ['[::1]', 'reserved'],
    ['', 'reserved']
  ])('%s is %s', (ip, kind) => {
    expect(classifyAddress(ip)).toBe(kind)
  })
})

describe('assertEndpointUrl', () => {
  it.each([
    ['https://example.com/hook', false],
    ['http://example.com:8080/hook?code=1', false],
    ['https://8.8.8.8/hook', false],
    ['https://[2606:4700:4700::1111]/hook', false],
    ['http://127.0.0.1:9000/hook', true],
    ['http://[::1]:9000/hook', true],
    ['http://localhost:9000/hook', false]
  ])('accepts %s (allowLoopback %s)', (url, allowLoopback) => {
    expect(assertEndpointUrl(url, { allowLoopback }).href).toBe(new URL(url).href)
  })

  it.each([
    ['ftp://example.com/hook', false, /scheme ftp:/],
    ['file:///etc/passwd', true, /scheme file:/],
    ['javascript:alert(1)', true, /scheme javascript:/],
    ['/relative/hook', true, /not an absolute URL/],
    ['not a url', true, /not an absolute URL/],
    ['https://user:pass@example.com/hook', false, /credentials/],
    ['https://user@example.com/hook', false, /credentials/],
    ['http://127.0.0.1/hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://[::1]/hook', false, /::1 is a loopback address/],
    ['http://2130706433/hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://0x7f.1/hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://0177.0.0.1/hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://127.1/hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://127.0.0.1./hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://%31%32%37.0.0.1/hook', false, /127\.0\.0\.1 is a loopback address/],
    ['http://0/hook', true, /0\.0\.0\.0 is an unspecified address/],
    ['http://10.0.0.1\\@example.com/', true, /10\.0\.0\.1 is a private address/],
    ['http://10.0.0.1/', false, /10\.0\.0\.1 is a private address/],
    ['http://10.0.0.1/', true, /10\.0\.0\.1 is a private address/],
    ['http://192.168.0.10/', true, /private/],
    ['http://100.64.1.1/', true, /private/],
    ['http://169.254.169.254/latest/meta-data/', true, /169\.254\.169\.254 is a link-local address/],
    ['http://0.0.0.0:8080/', true, /0\.0\.0\.0 is an unspecified address/],
    ['http://[::]/', true, /unspecified/],
    ['http://[::ffff:127.0.0.1]/', false, /::ffff:7f00:1 is a loopback address/],
    ['http://[::ffff:169.254.169.254]/', true, /link-local/],
    ['http://[fd00::1]/', true, /private/],
    ['http://[fe80::1]/', true, /link-local/],
    ['http://224.0.0.1/', true, /reserved/]
  ])('refuses %s (allowLoopback %s)', (url, allowLoopback, message) => {
    let caught: unknown
    try {
      assertEndpointUrl(url, { allowLoopback })
    } catch (err) {
      caught = err
    }
    expect(isGridgateError(caught) && caught.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    expect((caught as Error).message).toMatch(/^Webhook target forbidden: /)
    expect((caught as Error).message).toMatch(message)
  })
})

type Resolved = Array<[string, number]>

function fakeResolver (answer: Resolved | NodeJS.ErrnoException) {
  const calls: string[] = []
  const resolve = (hostname: string, _opts: unknown, cb: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void): void => {
    calls.push(hostname)
    if (answer instanceof Error) cb(answer, [])
    else cb(null, answer.map(([address, family]) => ({ address, family })))
  }
  return { resolve, calls }
}

async function lookupWith (answer: Resolved | NodeJS.ErrnoException, opts: { allowLoopback: boolean, all: boolean }): Promise<{ err: NodeJS.ErrnoException | null, address: unknown, family: unknown }> {
  const { resolve: resolver } = fakeResolver(answer)
  const lookup = createGuardedLookup({ allowLoopback: opts.allowLoopback }, resolver)
  return await new Promise((resolve) => {
    lookup('hook.example', { all: opts.all }, (err, address, family) => { resolve({ err, address, family }) })
  })
}

describe('createGuardedLookup (the resolved address is checked, so DNS rebinding cannot bypass it)', () => {
  it.each([
    [[['169.254.169.254', 4]], /hook\.example resolves to 169\.254\.169\.254, a link-local address/],
    [[['10.0.0.7', 4]], /10\.0\.0\.7, a private address/],
    [[['127.0.0.1', 4]], /127\.0\.0\.1, a loopback address/],
    [[['::ffff:127.0.0.1', 6]], /loopback/],
    [[['fd00::5', 6]], /private/],
    [[['8.8.8.8', 4], ['192.168.1.1', 4]], /192\.168\.1\.1, a private address/]
  ] as Array<[Resolved, RegExp]>)('refuses a name resolving to %j', async (answer, message) => {
    for (const all of [true, false]) {
      const { err } = await lookupWith(answer, { allowLoopback: false, all })
      expect(err?.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
      expect(err?.message).toMatch(message)
    }
  })

  it('passes public addresses through in the shape asked for', async () => {
    const answer: Resolved = [['2606:4700:4700::1111', 6], ['1.1.1.1', 4]]
    expect(await lookupWith(answer, { allowLoopback: false, all: true }))
      .toEqual({ err: null, address: [{ address: '2606:4700:4700::1111', family: 6 }, { address: '1.1.1.1', family: 4 }], family: undefined })
    expect(await lookupWith(answer, { allowLoopback: false, all: false }))
      .toEqual({ err: null, address: '2606:4700:4700::1111', family: 6 })
  })

  it('with allowLoopback passes loopback but still refuses private and link-local', async () => {
    expect((await lookupWith([['127.0.0.1', 4], ['::1', 6]], { allowLoopback: true, all: false })).address).toBe('127.0.0.1')
    expect((await lookupWith([['10.0.0.1', 4]], { allowLoopback: true, all: false })).err?.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    expect((await lookupWith([['169.254.169.254', 4]], { allowLoopback: true, all: true })).err?.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
  })

  it('passes resolver errors on and treats an empty answer as not found', async () => {
    const notFound = Object.assign(new Error('getaddrinfo ENOTFOUND hook.example'), { code: 'ENOTFOUND' })
    expect((await lookupWith(notFound, { allowLoopback: false, all: true })).err).toBe(notFound)
    expect((await lookupWith([], { allowLoopback: false, all: true })).err?.code).toBe('ENOTFOUND')
  })
})

async function startServer (onTeardown: (fn: () => Promise<unknown>) => void): Promise<{ port: number, connections: () => number }> {
  let connections = 0
  const server = createServer((_req, res) => { res.end('ok') })
  server.on('connection', () => { connections++ })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  onTeardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port: (server.address() as AddressInfo).port, connections: () => connections }
}

async function failure (promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected the request to fail')
}

describe('createGuardedAgent', () => {
  const teardown = useTeardown()

  function agent (allowLoopback: boolean): ReturnType<typeof createGuardedAgent> {
    const a = createGuardedAgent({ allowLoopback, connectTimeoutMs: 2_000 })
    teardown(() => a.destroy())
    return a
  }

  it('without allowLoopback cannot reach a local server by its IP literal', async () => {
    const server = await startServer(teardown)
    const err = await failure(request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent(false) }))
    expect(err.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    expect(err.message).toMatch(/forbidden: 127\.0\.0\.1 is a loopback address/)
    expect(server.connections()).toBe(0)
  })

  it('without allowLoopback cannot reach a local server by a name that resolves to loopback', async () => {
    const server = await startServer(teardown)
    const err = await failure(request(`http://localhost:${server.port}/`, { dispatcher: agent(false) }))
    expect(err.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    expect(err.message).toMatch(/forbidden: localhost resolves to (127\.0\.0\.1|::1), a loopback address/)
    expect(server.connections()).toBe(0)
  })

  it('refuses ::1 without allowLoopback', async () => {
    const err = await failure(request('http://[::1]:9/', { dispatcher: agent(false) }))
    expect(err.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    expect(err.message).toMatch(/::1 is a loopback address/)
  })

  it('with allowLoopback reaches the local server by IP literal and by name, reusing connections', async () => {
    const server = await startServer(teardown)
    const a = agent(true)
    for (let i = 0; i < 4; i++) {
      const res = await request(`http://127.0.0.1:${server.port}/${i}`, { dispatcher: a })
      expect(res.statusCode).toBe(200)
      expect(await res.body.text()).toBe('ok')
    }
    // Keep-alive: undici may open a second socket while the first is being released, no more.
    expect(server.connections()).toBeLessThan(4)
    const byName = await request(`http://localhost:${server.port}/`, { dispatcher: a })
    expect(byName.statusCode).toBe(200)
    await byName.body.dump()
  })

  describe('refuses non-loopback literals before any socket is opened', () => {
    // If the guard were missing, these spies would see the connection attempt (and throw
    // instead of connecting): the test itself never contacts a non-loopback address.
    afterEach(() => { vi.restoreAllMocks() })

    it.each([
      'http://10.0.0.1/',
      'https://10.0.0.1/',
      'http://169.254.169.254/latest/meta-data/',
      'http://192.168.1.1:8080/',
      'http://100.64.0.1/',
      'http://0.0.0.0/',
      'http://224.0.0.1/',
      'http://[fd00::1]/',
      'http://[fe80::1]/',
      'http://[::ffff:169.254.169.254]/',
      'http://[::ffff:10.0.0.1]/',
      'http://[::]/'
    ])('%s', async (url) => {
      const refuse = (): never => { throw new Error('a socket was opened') }
      const netConnect = vi.spyOn(net, 'connect').mockImplementation(refuse)
      const tlsConnect = vi.spyOn(tls, 'connect').mockImplementation(refuse)
      for (const allowLoopback of [false, true]) {
        const err = await failure(request(url, { dispatcher: agent(allowLoopback) }))
        expect(err.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
        expect(err.message).toMatch(/^Webhook target forbidden: .+ is an? (private|link-local|unspecified|reserved) address$/)
      }
      expect(netConnect).not.toHaveBeenCalled()
      expect(tlsConnect).not.toHaveBeenCalled()
    })

    it('the spies do see a permitted connection (so the test above can fail)', async () => {
      const server = await startServer(teardown)
      const netConnect = vi.spyOn(net, 'connect')
      const res = await request(`http://127.0.0.1:${server.port}/`, { dispatcher: agent(true) })
      await res.body.dump()
      expect(netConnect).toHaveBeenCalledTimes(1)
    })
  })
})
