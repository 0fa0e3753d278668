import { connect } from 'node:net'
import { describe, expect, it } from 'vitest'
import type { ErrorBody, Received } from '../helpers/api.js'
import { startTestGateway, TEST_KEY } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'
import { once, reached } from '../helpers/wait.js'

// http.requestTimeoutSeconds and http.maxConcurrentReceives (the reliability suite's HTTP
// case found both missing: a dribbled body held its socket forever, long polls were unbounded).

const teardown = useTeardown()

describe('HTTP limits', () => {
  it('answers 408 and closes a request whose body dribbles past http.requestTimeoutSeconds', async () => {
    const gw = await startTestGateway({ http: { requestTimeoutSeconds: 1 } })
    teardown(gw.stop)
    const { hostname, port } = new URL(gw.url)
    const socket = connect(Number(port), hostname)
    teardown(() => socket.destroy())
    await once(socket, 'connect', { timeoutMs: 5000 })
    let answer = ''
    socket.on('data', (d: Buffer) => { answer += d.toString() })
    socket.write(`POST /topics/x:publish HTTP/1.1\r\nhost: ${hostname}\r\nauthorization: SharedAccessKey ${TEST_KEY}\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{`)
    const started = Date.now()
    const dribble = setInterval(() => { if (!socket.destroyed) socket.write(' ') }, 200)
    teardown(() => clearInterval(dribble))
    await once(socket, 'close', { timeoutMs: 8000, orElse: undefined }) // judged below: closed, with a 408, in time
    clearInterval(dribble)
    expect(socket.destroyed || socket.readableEnded).toBe(true)
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
    expect(Date.now() - started).toBeLessThan(5000)
  })

  it('answers 429 TOO_MANY_RECEIVES past http.maxConcurrentReceives, and frees the slot when a poll ends', async () => {
    const gw = await startTestGateway({ http: { maxConcurrentReceives: 2 } })
    teardown(gw.stop)
    await gw.request('PUT', '/topics/orders')
    const sub = '/topics/orders/eventsubscriptions/q'
    expect((await gw.request('PUT', sub, { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: {} } } } })).status).toBe(201)
    const polls = [gw.request<Received>('POST', `${sub}:receive?maxWaitTime=10`), gw.request<Received>('POST', `${sub}:receive?maxWaitTime=10`)]
    // The two polls may not have reached the route yet: ask again until the cap holds (bounded).
    const receiveThird = async () => await gw.request<ErrorBody>('POST', `${sub}:receive?maxWaitTime=10`)
    let third = await receiveThird()
    await reached(async () => third.status === 429 || (third = await receiveThird()).status === 429, { timeoutMs: 1000, everyMs: 20 })
    expect(third.status).toBe(429)
    expect(third.body.error.code).toBe('TOO_MANY_RECEIVES')
    expect(third.headers.get('retry-after')).toBe('1')
    await gw.publish('orders', [cloudEvent('a'), cloudEvent('b')])
    const answered = await Promise.all(polls)
    expect(answered.map((a) => a.body.value.length)).toEqual([1, 1])
    await gw.publish('orders', cloudEvent('c'))
    const again = await gw.request<Received>('POST', `${sub}:receive?maxWaitTime=10`)
    expect([again.status, again.body.value.length]).toEqual([200, 1])
  })
})
