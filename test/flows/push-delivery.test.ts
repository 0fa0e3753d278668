import { describe, expect, it } from 'vitest'
import type { DeadLetter, ErrorBody, List, SubscriptionStatus } from '../helpers/api.js'
import { ManualClock } from '../../src/core/clock.js'
import { verifyWebhook } from '../../src/delivery/push/sign.js'
import { startTestGateway, type TestGateway, durableOnly } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'
import { startWebhook } from '../helpers/webhook.js'

const teardown = useTeardown()
/** Settling happens after the webhook's answer: how long a test waits for it to show in the status. */
const SETTLED = { timeoutMs: 5000, everyMs: 1 }

async function gateway (overrides: Record<string, any> = {}, dataDir?: string) {
  const clock = new ManualClock(Date.now())
  // random() = 0.5 means no jitter, so the retry times are exact.
  const gw = await startTestGateway({ webhooks: { allowLoopback: true }, ...overrides }, { clock, random: () => 0.5, dataDir })
  teardown(gw.stop)
  if (await gw.gateway.log.getTopic('orders') === undefined) await gw.request('PUT', '/topics/orders')
  return { gw, clock }
}

async function webhook (opts: { consent?: boolean } = {}) {
  const hook = await startWebhook(opts)
  teardown(hook.close)
  return hook
}

function pushSub (endpointUrl: string, push: Record<string, unknown> = {}, destination: Record<string, unknown> = {}) {
  return { properties: { deliveryConfiguration: { deliveryMode: 'Push', push: { ...push, destination: { endpointType: 'WebHook', properties: { endpointUrl, ...destination } } } } } }
}

async function deadLetters (gw: TestGateway): Promise<DeadLetter[]> {
  return (await gw.request<List<DeadLetter>>('GET', '/topics/orders/eventsubscriptions/hook/deadletters')).body.value
}

async function settled (gw: TestGateway, sub = 'hook'): Promise<SubscriptionStatus> {
  return (await gw.request<SubscriptionStatus>('GET', `/topics/orders/eventsubscriptions/${sub}/status`)).body
}

describe('push delivery to webhooks', () => {
  it('runs the validation handshake and refuses an endpoint that does not consent', async () => {
    const { gw } = await gateway()
    const refusing = await webhook({ consent: false })
    const res = await gw.request<ErrorBody>('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(refusing.url) })
    expect(res.status).toBe(400)
    expect(res.body.error.code).toBe('WEBHOOK_VALIDATION_FAILED')
    const consenting = await webhook()
    expect((await gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(consenting.url) })).status).toBe(201)
  })

  it('refuses loopback endpoints unless the config allows them', async () => {
    const clock = new ManualClock(Date.now())
    const gw = await startTestGateway({}, { clock })
    teardown(gw.stop)
    await gw.request('PUT', '/topics/orders')
    const hook = await webhook()
    const res = await gw.request<ErrorBody>('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(hook.url) })
    expect(res.body.error.code).toBe('WEBHOOK_TARGET_FORBIDDEN')
    for (const url of ['http://10.1.2.3/hook', 'http://169.254.169.254/latest', 'http://[::1]:9/x', 'ftp://example.com/']) {
      const r = await gw.request<ErrorBody>('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(url) })
      expect([r.status, r.body.error.code]).toEqual([400, expect.stringMatching(/WEBHOOK_TARGET_FORBIDDEN|SUBSCRIPTION_INVALID/)])
    }
    expect(hook.posts).toEqual([])
  })

  it('POSTs each event as application/cloudevents+json, exactly as published', async () => {
    const { gw } = await gateway()
    const hook = await webhook()
    await gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(hook.url) })
    const events = [cloudEvent('p1', { n: 1 }), cloudEvent('p2', { n: 2 })]
    await gw.publish('orders', events)
    await hook.received(2)
    expect(hook.posts.map((p) => p.headers['content-type'])).toEqual(['application/cloudevents+json; charset=utf-8', 'application/cloudevents+json; charset=utf-8'])
    expect(hook.posts.map((p) => JSON.parse(p.body)).sort((a, b) => a.id.localeCompare(b.id))).toEqual(events)
  })

  it('sends batches as application/cloudevents-batch+json when maxEventsPerBatch > 1, with signatures when there is a secret', async () => {
    const { gw } = await gateway()
    const hook = await webhook()
    const secret = 'whsec_' + Buffer.from('a-very-secret-signing-key').toString('base64')
    await gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(hook.url, {}, { maxEventsPerBatch: 10, secret }) })
    const events = Array.from({ length: 5 }, (_, i) => cloudEvent(`b${i}`))
    await gw.publish('orders', events)
    await hook.received(1)
    const post = hook.posts[0] as (typeof hook.posts)[number]
    expect(post.headers['content-type']).toBe('application/cloudevents-batch+json; charset=utf-8')
    expect(JSON.parse(post.body)).toEqual(events)
    const headers = { 'webhook-id': String(post.headers['webhook-id']), 'webhook-timestamp': String(post.headers['webhook-timestamp']), 'webhook-signature': String(post.headers['webhook-signature']) }
    expect(verifyWebhook(secret, headers, post.body, Number(headers['webhook-timestamp']))).toBe(true)
    expect(verifyWebhook(secret, headers, post.body.replace('b0', 'b9'), Number(headers['webhook-timestamp']))).toBe(false)
  })

  it('retries 500s and timeouts on the schedule (at once, 10 s, 30 s) and delivers after recovery', async () => {
    const { gw, clock } = await gateway()
    const hook = await webhook()
    hook.answer({ status: 500 }, { status: 503 }, { status: 429 })
    await gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(hook.url) })
    await gw.publish('orders', cloudEvent('r1'))
    await hook.received(1) // attempt 1, at once: 500
    const retryDue = async (ms: number, count: number): Promise<void> => {
      clock.advance(ms - 1)
      expect(hook.posts).toHaveLength(count - 1) // not a moment early
      clock.advance(1)
      await hook.received(count)
    }
    // Settling happens after the answer; wait for it before moving the clock.
    await until(async () => (await settled(gw)).failed >= 1, { ...SETTLED, what: 'attempt 1 settled as failed' })
    await retryDue(10_000, 2) // 503
    await until(async () => (await settled(gw)).failed >= 2, { ...SETTLED, what: 'attempt 2 settled as failed' })
    await retryDue(30_000, 3) // 429
    await until(async () => (await settled(gw)).failed >= 3, { ...SETTLED, what: 'attempt 3 settled as failed' })
    await retryDue(60_000, 4) // 200
    await until(async () => (await settled(gw)).delivered >= 1, { ...SETTLED, what: 'attempt 4 settled as delivered' })
    expect(await settled(gw)).toMatchObject({ delivered: 1, failed: 3, deadLettered: 0, lastError: 'HTTP 429' })
    expect(hook.posts.map((p) => JSON.parse(p.body).id)).toEqual(['r1', 'r1', 'r1', 'r1'])
  })

  it('dead-letters at once on 400 and after maxDeliveryCount attempts otherwise', async () => {
    const { gw, clock } = await gateway()
    const hook = await webhook()
    hook.answer({ status: 400 }, { status: 500 }, { status: 500 })
    await gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(hook.url, { maxDeliveryCount: 2 }) })
    await gw.publish('orders', cloudEvent('client-error'))
    await hook.received(1)
    await until(async () => (await deadLetters(gw)).length >= 1, { ...SETTLED, what: 'the first dead letter' })
    await gw.publish('orders', cloudEvent('server-error'))
    await hook.received(2)
    await until(async () => (await settled(gw)).failed >= 2, { ...SETTLED, what: 'the first 500 settled as failed' })
    clock.advance(10_000)
    await hook.received(3)
    await until(async () => (await deadLetters(gw)).length >= 2, { ...SETTLED, what: 'the second dead letter' })
    const dead = await deadLetters(gw)
    expect(dead.map((d) => [d.event.id, d.deadLetterReason, d.deliveryAttempts, d.lastHttpStatusCode])).toEqual([
      ['client-error', 'Undeliverable due to client error', 1, 400],
      ['server-error', 'Maximum delivery attempts was exceeded.', 2, 500]
    ])
  })

  it('a dead endpoint does not slow another subscription', async () => {
    const { gw } = await gateway()
    const dead = await webhook()
    const alive = await webhook()
    dead.answer(...Array.from({ length: 50 }, () => 'hang' as const))
    await gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(dead.url) })
    await gw.request('PUT', '/topics/orders/eventsubscriptions/other', { body: pushSub(alive.url, {}, { maxEventsPerBatch: 100 }) })
    await gw.publish('orders', Array.from({ length: 50 }, (_, i) => cloudEvent(`x${i}`)))
    await alive.received(1)
    const got = alive.posts.flatMap((p) => JSON.parse(p.body))
    for (let i = 0; i < 100 && alive.posts.flatMap((p) => JSON.parse(p.body)).length < 50; i++) await alive.received(alive.posts.length + 1)
    expect(alive.posts.flatMap((p) => JSON.parse(p.body)).length).toBe(50)
    expect(got.length).toBeGreaterThan(0)
    // The hung endpoint holds at most `webhooks.concurrency` requests.
    expect(dead.posts.length).toBeLessThanOrEqual(4)
  })

  it.runIf(durableOnly)('after a restart, delivered and dead-lettered events stay settled and a waiting retry still comes', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const hook = await webhook()
    hook.answer({ status: 400 }, { status: 500 })
    const first = await gateway({}, dir.path)
    await first.gw.request('PUT', '/topics/orders/eventsubscriptions/hook', { body: pushSub(hook.url) })
    await first.gw.publish('orders', cloudEvent('dead'))
    await hook.received(1)
    await until(async () => (await deadLetters(first.gw)).length >= 1, { ...SETTLED, what: 'the dead letter before the restart' })
    await first.gw.publish('orders', cloudEvent('retry'))
    await hook.received(2)
    await first.gw.publish('orders', cloudEvent('ok'))
    await hook.received(3)
    await until(async () => { const s = await settled(first.gw); return s.failed >= 1 && s.delivered >= 1 }, { ...SETTLED, what: 'one failed and one delivered attempt settled before the restart' })
    await first.gw.stop()

    const second = await gateway({}, dir.path)
    second.clock.advance(10_000)
    await hook.received(4)
    await until(async () => (await settled(second.gw)).delivered >= 1, { ...SETTLED, what: 'the retry settled as delivered after the restart' })
    expect(hook.posts.map((p) => JSON.parse(p.body).id)).toEqual(['dead', 'retry', 'ok', 'retry'])
    expect((await deadLetters(second.gw)).map((d) => d.event.id)).toEqual(['dead'])
  })
})
