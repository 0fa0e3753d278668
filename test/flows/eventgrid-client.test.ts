import { AzureKeyCredential, EventGridReceiverClient, EventGridSenderClient } from '@azure/eventgrid-namespaces'
import { describe, expect, it } from 'vitest'
import type { DeadLetter, List } from '../helpers/api.js'
import { startTestGateway, TEST_KEY } from '../helpers/gateway.js'
import { useTeardown } from '../helpers/teardown.js'

const teardown = useTeardown()

// The official Azure Event Grid namespaces client, unmodified, against a running gridgate.
describe('@azure/eventgrid-namespaces against gridgate', () => {
  it('publishes, receives, acknowledges, releases, rejects and renews locks', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    await gw.request('PUT', '/topics/orders')
    await gw.request('PUT', '/topics/orders/eventsubscriptions/workers', { body: { properties: { deliveryConfiguration: { deliveryMode: 'Queue', queue: { receiveLockDurationInSeconds: 60 } } } } })
    const credential = new AzureKeyCredential(TEST_KEY)
    const options = { allowInsecureConnection: true }
    const sender = new EventGridSenderClient(gw.url, credential, 'orders', options)
    const receiver = new EventGridReceiverClient(gw.url, credential, 'orders', 'workers', options)

    await sender.sendEvents({ type: 'order.created', source: '/shop', id: 'one', data: { total: 42 } })
    await sender.sendEvents<unknown>([
      { type: 'order.paid', source: '/shop', id: 'two', data: { total: 42 } },
      { type: 'order.sent', source: '/shop', id: 'three', data: Buffer.from('binary'), dataContentType: 'application/octet-stream' },
      { type: 'order.closed', source: '/shop', id: 'four', subject: 'orders/4' }
    ])

    const received = await receiver.receiveEvents({ maxEvents: 10, maxWaitTime: 10 })
    expect(received.details.map((d) => d.event.id)).toEqual(['one', 'two', 'three', 'four'])
    expect(received.details[0]?.event).toMatchObject({ type: 'order.created', source: '/shop', data: { total: 42 } })
    // The client hands binary data back as the base64 text of data_base64.
    expect(received.details[2]?.event.data).toBe(Buffer.from('binary').toString('base64'))
    expect(received.details[3]?.event.subject).toBe('orders/4')
    expect(received.details.every((d) => d.brokerProperties.deliveryCount === 1)).toBe(true)
    const [one, two, three, four] = received.details.map((d) => d.brokerProperties.lockToken) as [string, string, string, string]

    const acked = await receiver.acknowledgeEvents([one, 'not-a-token'])
    expect(acked.succeededLockTokens).toEqual([one])
    expect(acked.failedLockTokens.map((f) => f.lockToken)).toEqual(['not-a-token'])

    expect((await receiver.renewEventLocks([four])).succeededLockTokens).toEqual([four])
    expect((await receiver.rejectEvents([three])).succeededLockTokens).toEqual([three])
    expect((await receiver.releaseEvents([two])).succeededLockTokens).toEqual([two])

    const again = await receiver.receiveEvents({ maxEvents: 10, maxWaitTime: 10 })
    expect(again.details.map((d) => [d.event.id, d.brokerProperties.deliveryCount])).toEqual([['two', 2]])
    expect((await receiver.acknowledgeEvents([again.details[0]?.brokerProperties.lockToken as string, four])).succeededLockTokens).toHaveLength(2)

    const dead = await gw.request<List<DeadLetter>>('GET', '/topics/orders/eventsubscriptions/workers/deadletters')
    expect(dead.body.value.map((d) => d.event.id)).toEqual(['three'])
  })

  it('surfaces gridgate errors as clean client errors', async () => {
    const gw = await startTestGateway()
    teardown(gw.stop)
    const sender = new EventGridSenderClient(gw.url, new AzureKeyCredential(TEST_KEY), 'missing', { allowInsecureConnection: true })
    await expect(sender.sendEvents({ type: 't', source: '/s', id: '1' })).rejects.toMatchObject({ statusCode: 404, code: 'TOPIC_NOT_FOUND' })
    const wrongKey = new EventGridSenderClient(gw.url, new AzureKeyCredential('wrong-key-0123456789'), 'missing', { allowInsecureConnection: true })
    await expect(wrongKey.sendEvents({ type: 't', source: '/s', id: '1' })).rejects.toMatchObject({ statusCode: 401 })
  })
})
