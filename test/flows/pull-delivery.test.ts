import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { nth, type DeadLetter, type ErrorBody, type List, type Received, type Settled, type Subscription, type SubscriptionStatus } from '../helpers/api.js'
import { startTestGateway, type TestGateway, durableOnly } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

// These tests count the manual clock's timers; telemetry's checkpoint timer would move the count.
const NO_TELEMETRY = { telemetry: { enabled: false } }

const teardown = useTeardown()

interface Setup { gw: TestGateway, clock: ManualClock }

async function setup (queue: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, dataDir?: string): Promise<Setup> {
  const clock = new ManualClock(Date.now())
  const gw = await startTestGateway(NO_TELEMETRY, { clock, dataDir })
  teardown(gw.stop)
  if (await gw.gateway.log.getTopic('orders') === undefined) expect((await gw.request('PUT', '/topics/orders')).status).toBe(201)
  const put = await gw.request('PUT', '/topics/orders/eventsubscriptions/sub1', {
    body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue }, ...extra } }
  })
  expect([200, 201]).toContain(put.status)
  return { gw, clock }
}

const receive = async (gw: TestGateway, max = 10, sub = 'sub1') => await gw.request<Received>('POST', `/topics/orders/eventsubscriptions/${sub}:receive?maxEvents=${max}&maxWaitTime=10&api-version=2024-06-01`)
const settle = async <T = Settled>(gw: TestGateway, action: string, lockTokens: unknown[], query = '') => await gw.request<T>('POST', `/topics/orders/eventsubscriptions/sub1:${action}?api-version=2024-06-01${query}`, { body: { lockTokens }, contentType: 'application/json; charset=UTF-8' })

/** Waits (bounded) until a long poll has registered its wait on the manual clock. */
async function untilTimers (clock: ManualClock, n: number): Promise<void> {
  await until(() => clock.pendingTimers() >= n, { timeoutMs: 5000, everyMs: 1, what: `a long poll waiting on the manual clock (${n} timers)` })
}

describe('pull delivery (Queue subscriptions)', () => {
  it('receives new events with lock tokens and delivery counts, and an acknowledged event is gone', async () => {
    const { gw, clock } = await setup()
    await gw.publish('orders', [cloudEvent('a'), cloudEvent('b')])
    const got = await receive(gw)
    expect(got.status).toBe(200)
    expect(got.body.value.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['a', 1], ['b', 1]])
    const tokens = got.body.value.map((v) => v.brokerProperties.lockToken)
    const ack = await settle(gw, 'acknowledge', [...tokens, 'bogus-token'])
    expect(ack.body.succeededLockTokens).toEqual(tokens)
    expect(ack.body.failedLockTokens).toEqual([{ lockToken: 'bogus-token', error: { code: 'LOCK_TOKEN_INVALID', message: expect.any(String) } }])
    // Nothing left: the long poll ends empty when its wait runs out on the clock.
    const idle = clock.pendingTimers()
    const empty = receive(gw)
    await untilTimers(clock, idle + 1)
    clock.advance(10_000)
    expect((await empty).body).toEqual({ value: [] })
  })

  it('a long poll returns as soon as an event is published', async () => {
    const { gw, clock } = await setup()
    const idle = clock.pendingTimers()
    const waiting = receive(gw)
    await untilTimers(clock, idle + 1)
    await gw.publish('orders', cloudEvent('late'))
    expect((await waiting).body.value.map((v) => v.event.id)).toEqual(['late'])
  })

  it('starts at the end of the topic unless asked to start at the beginning', async () => {
    const clock = new ManualClock(Date.now())
    const gw = await startTestGateway(NO_TELEMETRY, { clock })
    teardown(gw.stop)
    await gw.request('PUT', '/topics/orders')
    await gw.publish('orders', cloudEvent('old'))
    await gw.request('PUT', '/topics/orders/eventsubscriptions/sub1', { body: { deliveryConfiguration: { deliveryMode: 'Queue' } } })
    await gw.request('PUT', '/topics/orders/eventsubscriptions/all', { body: { properties: { startAt: 'beginning', deliveryConfiguration: { deliveryMode: 'Queue' } } } })
    await gw.publish('orders', cloudEvent('new'))
    expect((await receive(gw)).body.value.map((v) => v.event.id)).toEqual(['new'])
    expect((await receive(gw, 10, 'all')).body.value.map((v) => v.event.id)).toEqual(['old', 'new'])
  })

  it('two receivers share the work without receiving the same locked event', async () => {
    const { gw } = await setup()
    await gw.publish('orders', Array.from({ length: 20 }, (_, i) => cloudEvent(`e${i}`)))
    const [one, two] = await Promise.all([receive(gw, 10), receive(gw, 10)])
    const ids = [...one.body.value, ...two.body.value].map((v) => v.event.id)
    expect(ids).toHaveLength(20)
    expect(new Set(ids).size).toBe(20)
  })

  it('makes an event receivable again with deliveryCount + 1 when its lock expires, and the old token fails', async () => {
    const { gw, clock } = await setup({ receiveLockDurationInSeconds: 60 })
    await gw.publish('orders', cloudEvent('x'))
    const first = nth((await receive(gw)).body.value, 0)
    clock.advance(60_000)
    const second = nth((await receive(gw)).body.value, 0)
    expect(second.event.id).toBe('x')
    expect(second.brokerProperties.deliveryCount).toBe(2)
    const stale = await settle(gw, 'acknowledge', [first.brokerProperties.lockToken])
    expect(stale.body.failedLockTokens[0]?.error.code).toBe('LOCK_TOKEN_INVALID')
    expect((await settle(gw, 'acknowledge', [second.brokerProperties.lockToken])).body.succeededLockTokens).toHaveLength(1)
  })

  it('renewLock keeps the lock past its first expiry', async () => {
    const { gw, clock } = await setup({ receiveLockDurationInSeconds: 60 })
    await gw.publish('orders', cloudEvent('r'))
    const token = nth((await receive(gw)).body.value, 0).brokerProperties.lockToken
    clock.advance(50_000)
    expect((await settle(gw, 'renewLock', [token])).body.succeededLockTokens).toEqual([token])
    clock.advance(50_000)
    expect((await settle(gw, 'acknowledge', [token])).body.succeededLockTokens).toEqual([token])
  })

  it('release with a delay hides the event until the delay passes', async () => {
    const { gw, clock } = await setup()
    await gw.publish('orders', cloudEvent('later'))
    const token = nth((await receive(gw)).body.value, 0).brokerProperties.lockToken
    expect((await settle(gw, 'release', [token], '&releaseDelayInSeconds=10')).body.succeededLockTokens).toEqual([token])
    const idle = clock.pendingTimers()
    const waiting = receive(gw)
    await untilTimers(clock, idle + 1)
    clock.advance(10_000)
    const again = (await waiting).body.value
    expect(again.map((v) => [v.event.id, v.brokerProperties.deliveryCount])).toEqual([['later', 2]])
    expect((await settle<ErrorBody>(gw, 'release', [nth(again, 0).brokerProperties.lockToken], '&releaseDelayInSeconds=7')).body.error.code).toBe('QUERY_PARAM_INVALID')
  })

  it('reject dead-letters the event; it is listed with its reason and can be redelivered', async () => {
    const { gw } = await setup()
    await gw.publish('orders', cloudEvent('bad'))
    const token = nth((await receive(gw)).body.value, 0).brokerProperties.lockToken
    expect((await settle(gw, 'reject', [token])).body.succeededLockTokens).toEqual([token])
    const dead = await gw.request<List<DeadLetter>>('GET', '/topics/orders/eventsubscriptions/sub1/deadletters')
    expect(dead.body.value).toHaveLength(1)
    expect(dead.body.value[0]).toMatchObject({ event: { id: 'bad' }, deadLetterReason: 'Rejected by the receiver.', deliveryAttempts: 1, deadletterProperties: { deadletterreason: 'Rejected by the receiver.', deliveryattempts: 1 } })
    expect((await gw.request<SubscriptionStatus>('GET', '/topics/orders/eventsubscriptions/sub1/status')).body).toMatchObject({ deadLettered: 1, inFlight: 0 })
    expect((await gw.request<{ redelivered: number }>('POST', '/topics/orders/eventsubscriptions/sub1/deadletters:redeliver', { body: {} })).body).toEqual({ redelivered: 1 })
    expect((await receive(gw)).body.value.map((v) => v.event.id)).toEqual(['bad'])
  })

  it('dead-letters an event after maxDeliveryCount deliveries', async () => {
    const { gw, clock } = await setup({ maxDeliveryCount: 2, receiveLockDurationInSeconds: 60 })
    await gw.publish('orders', [cloudEvent('flaky'), cloudEvent('fine')])
    await receive(gw, 1)
    clock.advance(60_000)
    expect(nth((await receive(gw, 1)).body.value, 0).brokerProperties.deliveryCount).toBe(2)
    clock.advance(60_000)
    const next = await receive(gw, 1)
    expect(next.body.value.map((v) => v.event.id)).toEqual(['fine'])
    const dead = (await gw.request<List<DeadLetter>>('GET', '/topics/orders/eventsubscriptions/sub1/deadletters')).body.value
    expect(dead.map((d) => [d.event.id, d.deadLetterReason, d.deliveryAttempts])).toEqual([['flaky', 'Maximum delivery attempts was exceeded.', 2]])
  })

  it('dead-letters an event older than its eventTimeToLive instead of delivering it', async () => {
    const { gw, clock } = await setup({ eventTimeToLive: 'PT5M' })
    await gw.publish('orders', cloudEvent('stale'))
    clock.advance(5 * 60_000)
    await gw.publish('orders', cloudEvent('fresh'))
    expect((await receive(gw)).body.value.map((v) => v.event.id)).toEqual(['fresh'])
    const dead = (await gw.request<List<DeadLetter>>('GET', '/topics/orders/eventsubscriptions/sub1/deadletters')).body.value
    expect(dead.map((d) => [d.event.id, d.deadLetterReason])).toEqual([['stale', 'Event time to live expired.']])
  })

  it('delivers only events that pass the subscription\'s filters', async () => {
    const { gw } = await setup({}, {
      filtersConfiguration: {
        includedEventTypes: ['device.telemetry'],
        filters: [{ operatorType: 'NumberGreaterThan', key: 'data.temperature', value: 30 }]
      }
    })
    await gw.publish('orders', [
      cloudEvent('hot', { temperature: 35 }, { type: 'device.telemetry' }),
      cloudEvent('cold', { temperature: 10 }, { type: 'device.telemetry' }),
      cloudEvent('other', { temperature: 99 }, { type: 'device.event' })
    ])
    expect((await receive(gw)).body.value.map((v) => v.event.id)).toEqual(['hot'])
  })

  it.runIf(durableOnly)('keeps cursors, locks and acknowledgements across a restart', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await setup({}, {}, dir.path)
    await first.gw.publish('orders', [cloudEvent('acked'), cloudEvent('locked')])
    const got = (await receive(first.gw)).body.value
    await settle(first.gw, 'acknowledge', [nth(got, 0).brokerProperties.lockToken])
    await first.gw.stop()
    const second = await setup({}, {}, dir.path)
    // The lock taken before the restart still holds: its token acknowledges.
    expect((await settle(second.gw, 'acknowledge', [nth(got, 1).brokerProperties.lockToken])).body.succeededLockTokens).toHaveLength(1)
    await second.gw.publish('orders', cloudEvent('after'))
    expect((await receive(second.gw)).body.value.map((v) => v.event.id)).toEqual(['after'])
  })
})

describe('subscription management', () => {
  it.each([
    [{ properties: { deliveryConfiguration: { deliveryMode: 'Carrier' } } }, 'properties.deliveryConfiguration.deliveryMode'],
    [{ properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 5 } } } }, 'receiveLockDurationInSeconds'],
    [{ properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { eventTimeToLive: 'PT10S' } } } }, 'eventTimeToLive'],
    [{ properties: { deliveryConfiguration: { deliveryMode: 'Queue' }, filtersConfiguration: { filters: [{ operatorType: 'NumberSort', key: 'data.x', value: 1 }] } } }, 'filtersConfiguration.filters[0]'],
    [{ properties: { deliveryConfiguration: { deliveryMode: 'Queue' }, bogus: 1 } }, 'properties.bogus'],
    [{ properties: { deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { properties: {} } } } } }, 'endpointUrl']
  ])('refuses an invalid definition naming the field (%#)', async (body, field) => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    await gw.request('PUT', '/topics/orders')
    const res = await gw.request<ErrorBody>('PUT', '/topics/orders/eventsubscriptions/bad', { body })
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('SUBSCRIPTION_INVALID')
    expect(res.body.error.message).toContain(field)
  })

  it('lists, gets and deletes subscriptions in Event Grid\'s shape', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    await gw.request('PUT', '/topics/orders')
    expect((await gw.request('PUT', '/topics/orders/eventsubscriptions/s1', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { maxDeliveryCount: 3 } } } } })).status).toBe(201)
    const got = await gw.request<Subscription>('GET', '/topics/orders/eventsubscriptions/s1')
    expect(got.body).toMatchObject({ name: 's1', properties: { provisioningState: 'Succeeded', deliveryConfiguration: { deliveryMode: 'Queue', queue: { maxDeliveryCount: 3, receiveLockDurationInSeconds: 60, eventTimeToLive: 'P7D' } } } })
    expect((await gw.request<List<Subscription>>('GET', '/topics/orders/eventsubscriptions')).body.value.map((s) => s.name)).toEqual(['s1'])
    expect((await gw.request('DELETE', '/topics/orders/eventsubscriptions/s1')).status).toBe(204)
    expect((await gw.request<ErrorBody>('GET', '/topics/orders/eventsubscriptions/s1')).body.error.code).toBe('SUBSCRIPTION_NOT_FOUND')
    expect((await gw.request<ErrorBody>('PUT', '/topics/nope/eventsubscriptions/s1', { body: { deliveryConfiguration: { deliveryMode: 'Queue' } } })).body.error.code).toBe('TOPIC_NOT_FOUND')
  })
})
