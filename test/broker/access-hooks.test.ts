/* eslint-disable no-template-curly-in-string */
import type { Client, ConnectPacket, PublishPacket, Subscription } from 'aedes'
import { describe, expect, it } from 'vitest'
import { createAccessHooks, type Session } from '../../src/broker/access-hooks.js'
import type { Authenticator, Outcome } from '../../src/broker/authenticate.js'
import type { DevicePublish } from '../../src/broker/ports.js'
import { createRetainedCap } from '../../src/broker/retained-cap.js'

const CONFIG = {
  permissions: { publish: ['devices/${client.id}/telemetry', 'devices/${client.id}/#'], subscribe: ['devices/${client.id}/commands/#'] },
  anonymousPermissions: { publish: [], subscribe: [] },
  maxPayloadBytes: 8,
  maxRetainedPerDevice: 1
}

function setup (outcome: Outcome | Error = { ok: true, deviceId: 'd1', anonymous: false, attributes: {}, method: 'password' }, write: (msg: DevicePublish) => Promise<void> = async () => {}) {
  const refused: string[] = []
  const published: DevicePublish[] = []
  const sessions = new WeakMap<Client, Session>()
  const authenticator: Authenticator = { check: async () => { if (outcome instanceof Error) throw outcome; return outcome } }
  const hooks = createAccessHooks({
    config: CONFIG,
    authenticator,
    onPublish: async (msg) => { published.push(msg); await write(msg) },
    observer: { refused: (code, deviceId) => refused.push(`${code} ${deviceId}`) },
    sessions,
    retained: createRetainedCap(CONFIG.maxRetainedPerDevice)
  })
  return { hooks, sessions, refused, published }
}

const client = (id = 'd1'): Client => ({ id, closed: false }) as unknown as Client

async function connect (h: ReturnType<typeof setup>, c: Client, will?: string): Promise<{ error: (Error & { returnCode?: number }) | null, success: boolean | null }> {
  await new Promise<void>((resolve) => { h.hooks.preConnect(c, { will: will === undefined ? undefined : { topic: will } } as unknown as ConnectPacket, () => resolve()) })
  return await new Promise((resolve) => { h.hooks.authenticate(c, 'd1', Buffer.from('pw'), (error, success) => resolve({ error, success })) })
}

function publish (h: ReturnType<typeof setup>, c: Client | null, topic: string, payload = '{}', retain = false): Promise<Error | null | undefined> {
  return new Promise((resolve) => { h.hooks.authorizePublish(c, { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain, dup: false } as PublishPacket, resolve) })
}

describe('authenticate', () => {
  it('keeps a session with the compiled permissions when the authenticator says yes', async () => {
    const h = setup()
    const c = client()
    expect(await connect(h, c)).toEqual({ error: null, success: true })
    expect(h.sessions.get(c)?.deviceId).toBe('d1')
    expect(h.sessions.get(c)?.permissions.canPublish('devices/d1/telemetry')).toBe(true)
  })

  it.each([
    { name: 'bad credentials', outcome: { ok: false, returnCode: 4, reason: 'bad username or password' } as Outcome, will: undefined, code: 4, refused: 'MQTT_BAD_CREDENTIALS d1' },
    { name: 'a will on a topic the device may not publish to', outcome: undefined, will: 'devices/d2/telemetry', code: 5, refused: 'MQTT_NOT_AUTHORIZED d1' },
    { name: 'an authenticator failure', outcome: new Error('store down'), will: undefined, code: 3, refused: undefined }
  ])('refuses $name with CONNACK $code', async ({ outcome, will, code, refused }) => {
    const h = setup(outcome)
    const c = client()
    const answer = await connect(h, c, will)
    expect(answer.success).toBe(null)
    expect(answer.error?.returnCode).toBe(code)
    expect(h.sessions.get(c)).toBeUndefined()
    expect(h.refused).toEqual(refused === undefined ? [] : [refused])
  })

  it('accepts a will on a topic the device may publish to', async () => {
    const h = setup()
    expect(await connect(h, client(), 'devices/d1/status')).toEqual({ error: null, success: true })
  })
})

describe('authorizePublish', () => {
  it.each([
    { name: 'an allowed publish', topic: 'devices/d1/telemetry', payload: '{}', retain: false, error: undefined, refused: [] },
    { name: 'a payload over maxPayloadBytes', topic: 'devices/d1/telemetry', payload: '123456789', retain: false, error: 'PAYLOAD_TOO_LARGE', refused: ['PAYLOAD_TOO_LARGE d1'] },
    { name: "another device's topic", topic: 'devices/d2/telemetry', payload: '{}', retain: false, error: 'MQTT_NOT_AUTHORIZED', refused: ['MQTT_NOT_AUTHORIZED d1'] },
    { name: 'a first retained topic', topic: 'devices/d1/state', payload: '{}', retain: true, error: undefined, refused: [] }
  ])('$name', async ({ topic, payload, retain, error, refused }) => {
    const h = setup()
    const c = client()
    await connect(h, c)
    const err = await publish(h, c, topic, payload, retain)
    expect(err === null ? undefined : (err as { code?: string }).code).toBe(error)
    expect(h.refused).toEqual(refused)
    expect(h.published.map((m) => m.mqttTopic)).toEqual(error === undefined ? [topic] : [])
  })

  it('hands the message on with the session device, and answers after the write', async () => {
    let release = (): void => {}
    const h = setup(undefined, () => new Promise((resolve) => { release = resolve }))
    const c = client()
    await connect(h, c)
    let answered = false
    const done = publish(h, c, 'devices/d1/telemetry', '{"t":1}').then((e) => { answered = true; return e })
    await new Promise((resolve) => setImmediate(resolve))
    expect(answered).toBe(false)
    expect(h.published).toEqual([{ deviceId: 'd1', mqttTopic: 'devices/d1/telemetry', payload: Buffer.from('{"t":1}'), qos: 1, retain: false }])
    release()
    expect(await done).toBe(null)
  })

  it('refuses the retained publish past the cap, and allows it after a clearing one', async () => {
    const h = setup()
    const c = client()
    await connect(h, c)
    expect(await publish(h, c, 'devices/d1/a', '1', true)).toBe(null)
    expect((await publish(h, c, 'devices/d1/b', '1', true) as { code?: string }).code).toBe('MQTT_RETAINED_LIMIT')
    expect(await publish(h, c, 'devices/d1/a', '', true)).toBe(null)
    expect(await publish(h, c, 'devices/d1/b', '1', true)).toBe(null)
  })

  it('answers with the error of a failed write (no PUBACK)', async () => {
    const h = setup(undefined, async () => { throw new Error('disk full') })
    const c = client()
    await connect(h, c)
    expect((await publish(h, c, 'devices/d1/telemetry'))?.message).toBe('disk full')
    expect(h.refused).toEqual(['STORAGE_WRITE_FAILED d1'])
  })

  it('refuses a client without a session', async () => {
    const h = setup()
    expect((await publish(h, client(), 'devices/d1/telemetry'))?.message).toBe('not authenticated')
    expect(h.published).toEqual([])
  })

  it.each([
    { topic: 'devices/d7/status', deviceId: 'd7' },
    { topic: 'devices/d7', deviceId: 'd7' },
    { topic: 'status/d7', deviceId: undefined },
    { topic: 'devices//status', deviceId: undefined }
  ])('a will on $topic is handed on as device $deviceId', async ({ topic, deviceId }) => {
    const h = setup()
    expect(await publish(h, null, topic)).toBe(null)
    expect(h.published.map((m) => m.deviceId)).toEqual(deviceId === undefined ? [] : [deviceId])
  })
})

describe('authorizeSubscribe', () => {
  it.each([
    { filter: 'devices/d1/commands/#', granted: true },
    { filter: 'devices/d1/commands/reboot/+', granted: true },
    { filter: 'devices/d2/commands/#', granted: false },
    { filter: '#', granted: false }
  ])('$filter: granted $granted', async ({ filter, granted }) => {
    const h = setup()
    const c = client()
    await connect(h, c)
    const sub = { topic: filter, qos: 1 } as Subscription
    const answer = await new Promise((resolve) => { h.hooks.authorizeSubscribe(c, sub, (_err, s) => resolve(s)) })
    expect(answer).toBe(granted ? sub : null)
    expect(h.refused).toEqual(granted ? [] : ['MQTT_NOT_AUTHORIZED d1'])
  })
})
