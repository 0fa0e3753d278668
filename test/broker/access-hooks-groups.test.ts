/* eslint-disable no-template-curly-in-string */
import type { AedesPublishPacket, Client, ConnectPacket, Subscription } from 'aedes'
import { describe, expect, it } from 'vitest'
import { createAccessHooks, type Session } from '../../src/broker/access-hooks.js'
import type { Authenticator } from '../../src/broker/authenticate.js'
import { createPolicy } from '../../src/broker/permissions.js'
import { createRetainedCap } from '../../src/broker/retained-cap.js'
import type { Share } from '../../src/broker/shared-groups.js'
import { compileClientGroups } from '../../src/core/client-groups.js'

// The access hooks with client groups, deny bindings and shared subscriptions.

const CONFIG = {
  permissions: { publish: ['devices/${client.id}/telemetry'], subscribe: ['devices/${client.id}/commands/#'] },
  anonymousPermissions: { publish: [], subscribe: [] },
  maxPayloadBytes: 1024,
  maxRetainedPerDevice: 10
}

function setup (attributes: Record<string, string>, withShared = true) {
  const sessions = new WeakMap<Client, Session>()
  const joined: Array<{ share: Share, qos: number }> = []
  const refused: string[] = []
  const authenticator: Authenticator = { check: async () => ({ ok: true, deviceId: 'mon-1', anonymous: false, attributes, method: 'password' }) }
  const hooks = createAccessHooks({
    config: CONFIG,
    authenticator,
    onPublish: async () => {},
    observer: { refused: (code, deviceId, detail) => refused.push(`${code} ${deviceId} ${detail}`) },
    sessions,
    retained: createRetainedCap(10),
    policy: createPolicy({
      ...CONFIG,
      groups: compileClientGroups({ monitors: "attributes.role = 'monitor'" }),
      permissionBindings: [
        { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['devices/+/telemetry', '+/+'], effect: 'allow' },
        { clientGroup: 'monitors', permission: 'subscribe', topicTemplates: ['test/nosubscribe'], effect: 'deny' }
      ]
    }),
    shared: withShared ? { join: (_client, share, qos) => { joined.push({ share, qos }) } } : undefined
  })
  return { hooks, sessions, joined, refused }
}

const client = (): Client => ({ id: 'mon-1', closed: false }) as unknown as Client

async function connected (h: ReturnType<typeof setup>): Promise<Client> {
  const c = client()
  await new Promise<void>((resolve) => { h.hooks.preConnect(c, {} as ConnectPacket, () => resolve()) })
  await new Promise<void>((resolve) => { h.hooks.authenticate(c, 'mon-1', Buffer.from('pw'), () => resolve()) })
  return c
}

function subscribe (h: ReturnType<typeof setup>, c: Client, topic: string, qos: 0 | 1 | 2 = 1): Promise<Subscription | null | undefined> {
  return new Promise((resolve) => { h.hooks.authorizeSubscribe(c, { topic, qos } as Subscription, (_err, sub) => resolve(sub)) })
}

describe('authenticate with client groups', () => {
  it('keeps the groups and the identity in the session', async () => {
    const h = setup({ role: 'monitor' })
    const s = h.sessions.get(await connected(h))
    expect(s?.groups).toEqual(['$all', 'monitors'])
    expect(s?.identity).toEqual({ id: 'mon-1', username: 'mon-1', attributes: { role: 'monitor' }, anonymous: false })
  })
})

describe('authorizeSubscribe with $share', () => {
  it.each([
    { topic: '$share/g1/devices/+/telemetry', qos: 1 as const, share: { group: 'g1', filter: 'devices/+/telemetry' }, granted: 1 },
    { topic: '$share/g1/devices/+/telemetry', qos: 0 as const, share: { group: 'g1', filter: 'devices/+/telemetry' }, granted: 0 },
    { topic: '$share/g1/devices/+/telemetry', qos: 2 as const, share: { group: 'g1', filter: 'devices/+/telemetry' }, granted: 1 },
    { topic: '$share/other/+/+', qos: 1 as const, share: { group: 'other', filter: '+/+' }, granted: 1 }
  ])('joins $topic at QoS $qos with QoS $granted', async ({ topic, qos, share, granted }) => {
    const h = setup({ role: 'monitor' })
    const sub = await subscribe(h, await connected(h), topic, qos)
    expect(sub).toMatchObject({ topic, qos: granted })
    expect(h.joined).toEqual([{ share, qos: granted }])
  })

  it.each([
    { name: 'an inner filter outside the grants', topic: '$share/g1/devices/+/events/#' },
    { name: 'an inner filter that a deny covers', topic: '$share/g1/test/nosubscribe' },
    { name: 'a share without a filter', topic: '$share/g1' },
    { name: 'a share with a wildcard in its name', topic: '$share/g#/devices/+/telemetry' }
  ])('refuses $name and joins nothing', async ({ topic }) => {
    const h = setup({ role: 'monitor' })
    expect(await subscribe(h, await connected(h), topic)).toBeNull()
    expect(h.joined).toEqual([])
    expect(h.refused).toEqual([`MQTT_NOT_AUTHORIZED mon-1 subscribe to '${topic}'`])
  })

  it('refuses a share the client\'s groups do not grant', async () => {
    const h = setup({ role: 'sensor' })
    expect(await subscribe(h, await connected(h), '$share/g1/devices/+/telemetry')).toBeNull()
  })

  it('refuses every share when no shared subscriptions are wired', async () => {
    const h = setup({ role: 'monitor' }, false)
    expect(await subscribe(h, await connected(h), '$share/g1/devices/+/telemetry')).toBeNull()
    expect(await subscribe(h, await connected(h), 'devices/+/telemetry')).toMatchObject({ topic: 'devices/+/telemetry' })
  })
})

describe('authorizeForward', () => {
  const packet = (topic: string): AedesPublishPacket => ({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 1, retain: false, dup: false, brokerId: 'b', brokerCounter: 1 }) as AedesPublishPacket

  it.each([
    { topic: 'test/ok', forwarded: true },
    { topic: 'devices/d1/telemetry', forwarded: true },
    { topic: 'test/nosubscribe', forwarded: false }
  ])('forwards $topic to a monitor with a deny: $forwarded', async ({ topic, forwarded }) => {
    const h = setup({ role: 'monitor' })
    const p = packet(topic)
    expect(h.hooks.authorizeForward(await connected(h), p)).toBe(forwarded ? p : null)
  })

  it('forwards everything to a client without denies', async () => {
    const h = setup({ role: 'sensor' })
    const p = packet('test/nosubscribe')
    expect(h.hooks.authorizeForward(await connected(h), p)).toBe(p)
  })
})
