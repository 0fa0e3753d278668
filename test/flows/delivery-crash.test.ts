import { describe, expect, it } from 'vitest'
import type { Received, Settled } from '../helpers/api.js'
import { spawnGateway, type ChildGateway } from '../helpers/child.js'
import { cloudEvent } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { startWebhook } from '../helpers/webhook.js'

const teardown = useTeardown()
const KEY = 'delivery-crash-key-0123456789'

async function start (dir: string): Promise<ChildGateway> {
  const gw = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_WEBHOOK_ALLOW_LOOPBACK: 'true', GRIDGATE_LOG_LEVEL: 'warn' } })
  teardown(() => gw.kill('SIGKILL'))
  return gw
}

const receive = async (gw: ChildGateway, max: number) => await gw.request<Received>('POST', `/topics/orders/eventsubscriptions/q:receive?maxEvents=${max}&maxWaitTime=10`)
const ack = async (gw: ChildGateway, lockTokens: string[]) => await gw.request<Settled>('POST', '/topics/orders/eventsubscriptions/q:acknowledge', { body: { lockTokens } })

describe('delivery across kill -9', () => {
  it('pull: acknowledged events never come back, locks taken before the crash still settle, the rest is delivered', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await start(dir.path)
    await first.request('PUT', '/topics/orders')
    await first.request('PUT', '/topics/orders/eventsubscriptions/q', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue' } } } })
    await first.publish('orders', Array.from({ length: 30 }, (_, i) => cloudEvent(`e${i}`)))
    const got = (await receive(first, 20)).body.value
    expect(got).toHaveLength(20)
    const tokens = got.map((v) => v.brokerProperties.lockToken)
    expect((await ack(first, tokens.slice(0, 10))).body.succeededLockTokens).toHaveLength(10)
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')

    const second = await start(dir.path)
    const settled = await ack(second, tokens)
    expect(settled.body.succeededLockTokens).toEqual(tokens.slice(10))
    expect(settled.body.failedLockTokens.map((f) => f.lockToken)).toEqual(tokens.slice(0, 10))
    const rest = (await receive(second, 100)).body.value.map((v) => v.event.id)
    expect(rest).toEqual(Array.from({ length: 10 }, (_, i) => `e${i + 20}`))
  })

  it('push: every event is delivered at least once when the gateway is killed mid-delivery', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const hook = await startWebhook()
    teardown(hook.close)
    // The endpoint is slow to answer a few requests, so some are in flight at the kill.
    hook.answer('hang', 'hang')
    const first = await start(dir.path)
    await first.request('PUT', '/topics/orders')
    const put = await first.request('PUT', '/topics/orders/eventsubscriptions/push', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Push', push: { destination: { endpointType: 'WebHook', properties: { endpointUrl: hook.url } } } } } } })
    expect(put.status).toBe(201)
    const ids = Array.from({ length: 40 }, (_, i) => `p${i}`)
    await first.publish('orders', ids.map((id) => cloudEvent(id)))
    await hook.received(6)
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')

    await start(dir.path)
    const seen = (): Set<string> => new Set(hook.posts.map((p) => JSON.parse(p.body).id as string))
    for (let i = 0; i < 500 && ids.some((id) => !seen().has(id)); i++) await hook.received(hook.posts.length + 1)
    expect(ids.filter((id) => !seen().has(id))).toEqual([])
  })
})
