import { describe, expect, it } from 'vitest'
import type { Replay, Topic } from '../helpers/api.js'
import { ManualClock } from '../../src/core/clock.js'
import { startTestGateway } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'

const teardown = useTeardown()

describe('retention in a running gateway', () => {
  it('the background sweep removes events older than the topic keeps, on the injected clock', async () => {
    const clock = new ManualClock(Date.now())
    const gw = await startTestGateway({ retention: { sweepIntervalSeconds: 30 } }, { clock })
    teardown(gw.stop)
    await gw.request('PUT', '/topics/short', { body: { retention: { maxAgeSeconds: 45 } } })
    await gw.request('PUT', '/topics/long', { body: { retention: { maxAgeSeconds: 3600 } } })
    for (const t of ['short', 'long']) expect((await gw.publish(t, [cloudEvent(1), cloudEvent(2)])).status).toBe(200)
    clock.advance(30_000) // the sweep at 30 s: nothing is older than 45 s yet
    await gw.gateway.sweepRetention()
    expect((await gw.request<Topic>('GET', '/topics/short')).body.events).toBe(2)
    expect((await gw.publish('short', [cloudEvent(3)])).status).toBe(200)
    clock.advance(30_000) // the sweep at 60 s: the first batch is 60 s old, event 3 only 30 s
    await gw.gateway.sweepRetention()
    const short = await gw.request<Topic>('GET', '/topics/short')
    expect(short.body).toMatchObject({ firstOffset: 2, nextOffset: 3, events: 1 })
    expect((await gw.request<Replay>('GET', '/topics/short/events')).body.value.map((r) => r.event.id)).toEqual(['3'])
    expect((await gw.request<Topic>('GET', '/topics/long')).body.events).toBe(2)
    expect((await gw.request('GET', '/metrics')).text).toContain('gridgate_log_events_removed_total{topic="short"} 2')
  })

  it('removes the oldest events of a topic over its byte limit and keeps the newest', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    await gw.request('PUT', '/topics/capped', { body: { retention: { maxBytes: 20_000 } } })
    for (let i = 0; i < 20; i++) expect((await gw.publish('capped', cloudEvent(i, 'y'.repeat(2000)))).status).toBe(200)
    await gw.gateway.sweepRetention()
    const topic = (await gw.request<Topic>('GET', '/topics/capped')).body
    expect(topic.bytes).toBeLessThanOrEqual(20_000)
    expect(topic.firstOffset).toBeGreaterThan(0)
    const ids = (await gw.request<Replay>('GET', '/topics/capped/events')).body.value.map((r) => r.event.id)
    expect(ids[ids.length - 1]).toBe('19')
    expect(ids[0]).toBe(String(topic.firstOffset))
  })
})
