import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { GridgateError } from '../../src/core/errors.js'
import { isUnanswered, mapRejections, storageError, trackAvailability, type WatchedConnection } from '../../src/storage/redis/availability.js'
import { openRedis, reconnectDelayMs } from '../../src/storage/redis/connection.js'
import { startRedisServer } from '../helpers/redis-server.js'
import { useTeardown } from '../helpers/teardown.js'
import { until, within } from '../helpers/wait.js'

// The availability of the redis engine (src/storage/redis/availability.ts): ioredis' connection
// events in, one notice per change out; which errors mean "Redis gave no answer"; and, on a
// real redis-server, that the command connection fails at once while Redis is down.

const teardown = useTeardown()

/** A connection as ioredis drives one: the status is set at once, its event follows on the next tick. */
class FakeConnection extends EventEmitter implements WatchedConnection {
  constructor (public status = 'ready') { super() }
  to (status: string, error?: string): void {
    if (status === 'quit') {
      // ioredis on quit(): close and end are both set before either event is emitted.
      this.status = 'end'
      this.emit('close')
      this.emit('end')
      return
    }
    this.status = status
    if (error !== undefined) this.emit('error', new Error(error))
    this.emit(status)
  }
}

type Step = [connection: 'a' | 'b', status: string, error?: string]

describe('redis availability', () => {
  const cases: Array<{ name: string, steps: Step[], available: boolean[], notices: boolean[] }> = [
    { name: 'a connection that closes, reconnects and is ready again', steps: [['a', 'close'], ['a', 'reconnecting'], ['a', 'connect'], ['a', 'ready']], available: [false, false, false, true], notices: [false, true] },
    { name: 'a connection refused again and again', steps: [['a', 'close'], ['a', 'reconnecting'], ['a', 'close', 'connect ECONNREFUSED'], ['a', 'reconnecting'], ['a', 'ready']], available: [false, false, false, false, true], notices: [false, true] },
    { name: 'two connections: available only once both are ready', steps: [['a', 'close'], ['b', 'close'], ['a', 'ready'], ['b', 'ready']], available: [false, false, false, true], notices: [false, true] },
    { name: 'the subscriber alone', steps: [['b', 'reconnecting'], ['b', 'ready']], available: [false, true], notices: [false, true] },
    { name: 'a connection closed on purpose: watched no more', steps: [['b', 'quit'], ['a', 'close'], ['a', 'ready']], available: [true, false, true], notices: [false, true] },
    { name: 'two outages', steps: [['a', 'close'], ['a', 'ready'], ['a', 'close'], ['a', 'ready']], available: [false, true, false, true], notices: [false, true, false, true] },
    { name: 'an event that changes nothing', steps: [['a', 'ready']], available: [true], notices: [] }
  ]

  it.each(cases)('$name', async ({ steps, available, notices }) => {
    const conns = { a: new FakeConnection(), b: new FakeConnection() }
    const tracker = trackAvailability('Redis at redis://h:1/')
    tracker.watch('gridgate', conns.a)
    tracker.watch('gridgate-sub', conns.b)
    const heard: boolean[] = []
    tracker.onChange((v) => heard.push(v))
    const seen: boolean[] = []
    for (const [c, status, error] of steps) {
      conns[c].to(status, error)
      seen.push(tracker.available)
    }
    expect(seen).toEqual(available)
    expect(heard).toEqual(notices)
  })

  it('is not made unavailable by a new connection that is still connecting (a subscriber being opened)', () => {
    const tracker = trackAvailability('Redis')
    tracker.watch('gridgate', new FakeConnection())
    const heard: boolean[] = []
    tracker.onChange((v) => heard.push(v))
    const sub = new FakeConnection('connecting')
    tracker.watch('gridgate-sub', sub)
    sub.to('connect')
    expect(tracker.available).toBe(true)
    sub.to('ready')
    sub.to('close') // from now on it counts
    expect(tracker.available).toBe(false)
    expect(heard).toEqual([false])
  })

  it('says which connection is down and why, until it is ready again', () => {
    const a = new FakeConnection()
    const tracker = trackAvailability('Redis at redis://h:1/')
    tracker.watch('gridgate', a)
    expect(tracker.reason).toBeUndefined()
    a.to('close', 'connect ECONNREFUSED 127.0.0.1:1')
    expect(tracker.reason).toBe('Redis at redis://h:1/ is unreachable (connection gridgate: close, connect ECONNREFUSED 127.0.0.1:1)')
    a.to('reconnecting')
    expect(tracker.reason).toMatch(/connection gridgate: reconnecting, connect ECONNREFUSED/)
    a.to('ready')
    expect(tracker.reason).toBeUndefined()
    a.to('close')
    expect(tracker.reason).toBe('Redis at redis://h:1/ is unreachable (connection gridgate: close)')
  })

  it('is silent once closed (the connections are then closed on purpose)', () => {
    const a = new FakeConnection()
    const tracker = trackAvailability('Redis')
    tracker.watch('gridgate', a)
    const heard: boolean[] = []
    tracker.onChange((v) => heard.push(v))
    tracker.close()
    a.to('close')
    a.to('end')
    expect(heard).toEqual([])
    expect(a.listenerCount('close')).toBe(0)
  })

  it('reconnects 50 ms after a loss, doubling to at most 2 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map(reconnectDelayMs)).toEqual([50, 100, 200, 400, 800, 1600, 2000, 2000, 2000])
  })
})

describe('storage errors of the redis engine', () => {
  const named = (name: string, message = 'x'): Error => Object.assign(new Error(message), { name })
  it.each([
    ['the offline queue is off and the connection is down', new Error('Stream isn\'t writeable and enableOfflineQueue options is false'), true],
    ['in flight when the connection closed', named('MaxRetriesPerRequestError'), true],
    ['aborted with the connection', named('AbortError'), true],
    ['the connection was closed', new Error('Connection is closed.'), true],
    ['Redis refused it', named('ReplyError', 'OOM command not allowed'), false],
    ['a catalogue error', new GridgateError('TOPIC_NOT_FOUND'), false],
    ['anything else', new TypeError('x is undefined'), false]
  ])('%s: unanswered is %s', (_what, err, unanswered) => {
    expect(isUnanswered(err)).toBe(unanswered)
    const mapped = storageError(err, { available: true })
    if (unanswered) expect(mapped).toMatchObject({ code: 'STORAGE_UNAVAILABLE', status: 503, cause: err })
    else expect(mapped).toBe(err)
  })

  it('maps any error but a refusal to STORAGE_UNAVAILABLE while Redis is unavailable', () => {
    const err = new Error('read ECONNRESET')
    expect(storageError(err, { available: false })).toMatchObject({ code: 'STORAGE_UNAVAILABLE', cause: err })
    const refusal = named('ReplyError', 'NOSCRIPT')
    expect(storageError(refusal, { available: false })).toBe(refusal)
  })

  it('maps the rejections of a port and of the ports it returns, and nothing else', async () => {
    let live = 1
    const queue = { write: async () => { throw new Error('Connection is closed.') } }
    const port = {
      get live () { return live },
      ok: async () => 'ok',
      fail: async () => { throw new Error('Connection is closed.') },
      sync: () => 42,
      queue: () => queue,
      data: () => ({ n: 1 })
    }
    const mapped = mapRejections(port, (err) => storageError(err, { available: true }))
    expect(await mapped.ok()).toBe('ok')
    await expect(mapped.fail()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    await expect(mapped.queue().write()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' })
    expect(mapped.sync()).toBe(42)
    expect(mapped.data()).toEqual({ n: 1 })
    live = 2
    expect(mapped.live).toBe(2)
  })
})

describe('a Redis connection while redis-server is down', () => {
  it('fails a command at once, reports it, and answers again once the server is back', async () => {
    const server = await startRedisServer()
    teardown(() => server.stop())
    const conn = await openRedis({ url: server.url, keyPrefix: 'gg-availability:' })
    teardown(() => conn.close())
    const heard: boolean[] = []
    conn.availability.onChange((v) => heard.push(v))
    await conn.client.set('gg-availability:k', '1')

    await server.kill('SIGKILL')
    await until(() => !conn.availability.available, { timeoutMs: 5000, what: 'the connection to notice' })
    const started = performance.now()
    const err = await conn.client.get('gg-availability:k').then(() => undefined, (e: unknown) => e)
    expect(performance.now() - started).toBeLessThan(100)
    expect(isUnanswered(err)).toBe(true)
    expect(conn.availability.reason).toMatch(/^Redis at redis:\/\/127\.0\.0\.1:\d+\/? is unreachable \(connection gridgate: /)

    await server.restart()
    await until(() => conn.availability.available, { timeoutMs: 10_000, what: 'the connection to be ready again' })
    expect(await conn.client.get('gg-availability:k')).toBe('1') // appendfsync always: kept through the kill
    expect(heard).toEqual([false, true])
  })

  it('rejects a command in flight when the server goes, and never sends it again', async () => {
    const server = await startRedisServer()
    teardown(() => server.stop())
    const conn = await openRedis({ url: server.url, keyPrefix: 'gg-availability:' })
    teardown(() => conn.close())
    const other = await openRedis({ url: server.url, keyPrefix: 'gg-availability:' })
    teardown(() => other.close())
    // A blocking move waits in Redis for an element: in flight until the server dies.
    const inFlight = conn.client.blmove('gg-availability:src', 'gg-availability:dst', 'LEFT', 'RIGHT', 30).then(() => undefined, (e: unknown) => e)
    await until(async () => String(await other.client.client('LIST')).includes('cmd=blmove'), { timeoutMs: 5000, what: 'the BLMOVE to reach Redis' })

    await server.kill('SIGKILL')
    // Rejected at the close, not answered after the reconnect.
    expect(isUnanswered(await within(inFlight, { timeoutMs: 5000, what: 'the command in flight to be rejected' }))).toBe(true)
    await server.restart()
    await until(() => conn.availability.available && other.availability.available, { timeoutMs: 10_000, what: 'both connections to be ready again' })
    // Sent again, the move would take this element at once, before the read that follows it on its connection.
    await other.client.lpush('gg-availability:src', 'x')
    expect(await conn.client.lrange('gg-availability:dst', 0, -1)).toEqual([])
    expect(await conn.client.lrange('gg-availability:src', 0, -1)).toEqual(['x'])
  })
})
