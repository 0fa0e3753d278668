import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../src/core/clock.js'
import { startTestGateway, type TestGateway, durableOnly } from '../helpers/gateway.js'
import type { Command, CommandPage, ErrorBody, List, Replay } from '../helpers/api.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until, within } from '../helpers/wait.js'

const teardown = useTeardown()

interface Device { client: MqttClient, received: Array<{ topic: string, payload: string }> }

async function setup (dataDir?: string) {
  const clock = new ManualClock(Date.now())
  const gw = await startTestGateway({}, { clock, dataDir })
  teardown(gw.stop)
  return { gw, clock }
}

/** A real device: subscribes to its commands and (unless told otherwise) answers each with `answer`. */
async function device (gw: TestGateway, id: string, password: string, answer?: (name: string, payload: unknown) => Record<string, unknown> | undefined, clean = true): Promise<Device> {
  const client = await connectDevice(gw.gateway.listeners.mqtt, id, password, { clean })
  teardown(() => client.endAsync(true))
  const received: Device['received'] = []
  client.on('message', (topic, payload) => {
    received.push({ topic, payload: payload.toString() })
    const [, , , name, commandId] = topic.split('/')
    const reply = answer?.(name as string, JSON.parse(payload.toString()))
    if (reply !== undefined) client.publish(`devices/${id}/responses/${commandId as string}`, JSON.stringify(reply), { qos: 1 })
  })
  await client.subscribeAsync(`devices/${id}/commands/#`, { qos: 1 })
  return { client, received }
}

const post = async <T = Command>(gw: TestGateway, id: string, body: unknown, query = '', headers: Record<string, string> = {}) => await gw.request<T>('POST', `/devices/${id}/commands${query}`, { body, headers })

/** GET /devices/{id}/commands/{commandId}: the command's state now. */
const command = async (gw: TestGateway, id: string, commandId: string): Promise<Command> => (await gw.request<Command>('GET', `/devices/${id}/commands/${commandId}`)).body

/** How long a test waits for the gateway's state to reach what it expects. */
const WAIT = { timeoutMs: 10_000 }

async function commandEvents (gw: TestGateway, commandId: string): Promise<string[]> {
  const all = (await gw.request<Replay<{ id: string }>>('GET', '/topics/commands/events?limit=1000')).body.value
  return all.filter((r) => r.event.data.id === commandId).map((r) => r.event.type)
}

describe('commands to devices', () => {
  it('runs pending → sent → delivered → succeeded for a device that answers, and ?wait returns the end state', async () => {
    const { gw } = await setup()
    const password = await registerDevice(gw, 'pump-1')
    // A persistent session: aedes then reports the device's PUBACK (delivered).
    const dev = await device(gw, 'pump-1', password, (name, payload) => {
      // Answer only after the PUBACK is on its way, so `delivered` comes first.
      setImmediate(() => dev.client.publish(`devices/pump-1/responses/${lastId}`, JSON.stringify({ status: 'succeeded', result: { did: name, with: payload } }), { qos: 1 }))
      return undefined
    }, false)
    let lastId = ''
    dev.client.on('message', (topic) => { lastId = topic.split('/')[4] as string })
    const res = await post(gw, 'pump-1', { name: 'reboot', payload: { delay: 5 } }, '?wait=30')
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ status: 'succeeded', name: 'reboot', result: { did: 'reboot', with: { delay: 5 } }, error: null, sendCount: 1 })
    expect(dev.received).toEqual([{ topic: `devices/pump-1/commands/reboot/${res.body.id}`, payload: '{"delay":5}' }])
    await until(async () => (await commandEvents(gw, res.body.id)).length >= 4, { ...WAIT, what: 'the four lifecycle events on the commands topic' })
    expect(await commandEvents(gw, res.body.id)).toEqual(['device.command.pending', 'device.command.sent', 'device.command.delivered', 'device.command.succeeded'])
    const ev = (await gw.request<Replay>('GET', '/topics/commands/events')).body.value[0]?.event
    expect(ev).toMatchObject({ subject: `devices/pump-1/commands/${res.body.id}`, source: '/gridgate/devices/pump-1', data: { id: res.body.id } })
  })

  it('records a failure with its error', async () => {
    const { gw } = await setup()
    const password = await registerDevice(gw, 'pump-2')
    await device(gw, 'pump-2', password, () => ({ status: 'failed', error: 'valve stuck' }))
    const res = await post(gw, 'pump-2', { name: 'open' }, '?wait=30')
    expect(res.body).toMatchObject({ status: 'failed', error: 'valve stuck' })
  })

  it('queues commands for an offline device and sends them in creation order when it connects', async () => {
    const { gw } = await setup()
    const password = await registerDevice(gw, 'sleepy')
    const ids: string[] = []
    for (const name of ['first', 'second', 'third']) ids.push((await post(gw, 'sleepy', { name })).body.id)
    expect((await command(gw, 'sleepy', ids[0] as string)).status).toBe('pending')
    const dev = await device(gw, 'sleepy', password, () => ({ status: 'succeeded' }))
    await until(() => dev.received.length === 3, { ...WAIT, what: 'the three queued commands at the device' })
    expect(dev.received.map((r) => r.topic.split('/')[3])).toEqual(['first', 'second', 'third'])
    const last = await gw.request<Command>('POST', '/devices/sleepy/commands?wait=30', { body: { name: 'fourth', id: 'cmd-4' } })
    expect(last.body.status).toBe('succeeded')
    const list = await gw.request<CommandPage>('GET', '/devices/sleepy/commands?limit=2')
    expect(list.body.value.map((c) => c.name)).toEqual(['fourth', 'third'])
    const page2 = await gw.request<CommandPage>('GET', `/devices/sleepy/commands?limit=2&cursor=${list.body.next as number}`)
    expect(page2.body.value.map((c) => c.name)).toEqual(['second', 'first'])
    expect((await gw.request<CommandPage>('GET', '/devices/sleepy/commands?status=succeeded')).body.value).toHaveLength(4)
  })

  it('times out when the device never answers, and a late answer changes nothing', async () => {
    const { gw, clock } = await setup()
    const password = await registerDevice(gw, 'mute')
    const dev = await device(gw, 'mute', password, undefined, false)
    const res = await post(gw, 'mute', { name: 'ping', timeoutSeconds: 10 })
    await until(async () => (await command(gw, 'mute', res.body.id)).status === 'delivered', { ...WAIT, what: 'the command to be delivered' })
    clock.advance(10_000)
    await until(async () => (await command(gw, 'mute', res.body.id)).status === 'timedOut', { ...WAIT, what: 'the command to time out' })
    await dev.client.publishAsync(`devices/mute/responses/${res.body.id}`, JSON.stringify({ status: 'succeeded' }), { qos: 1 })
    await dev.client.publishAsync(`devices/mute/responses/${res.body.id}`, JSON.stringify({ status: 'succeeded' }), { qos: 1 })
    expect((await command(gw, 'mute', res.body.id)).status).toBe('timedOut')
    expect((await gw.request('GET', '/metrics')).text).toContain('gridgate_command_responses_total{outcome="late"} 2')
  })

  it('counts an answer given twice once', async () => {
    const { gw } = await setup()
    const password = await registerDevice(gw, 'echo')
    const dev = await device(gw, 'echo', password, () => ({ status: 'succeeded', result: 1 }))
    dev.client.on('message', (topic) => {
      dev.client.publish(`devices/echo/responses/${topic.split('/')[4] as string}`, JSON.stringify({ status: 'failed', error: 'second thoughts' }), { qos: 1 })
    })
    const res = await post(gw, 'echo', { name: 'x' }, '?wait=30')
    expect(res.body).toMatchObject({ status: 'succeeded', result: 1 })
    await until(async () => /gridgate_command_responses_total\{outcome="late"\} 1/.test((await gw.request('GET', '/metrics')).text), { ...WAIT, what: 'the second answer counted as late' })
    expect((await command(gw, 'echo', res.body.id)).status).toBe('succeeded')
  })

  it('expires a command whose device does not come online within ttlSeconds', async () => {
    const { gw, clock } = await setup()
    await registerDevice(gw, 'away')
    const res = await post(gw, 'away', { name: 'x', ttlSeconds: 60 })
    clock.advance(60_000)
    await until(async () => (await command(gw, 'away', res.body.id)).status === 'expired', { ...WAIT, what: 'the command to expire' })
    expect(await commandEvents(gw, res.body.id)).toEqual(['device.command.pending', 'device.command.expired'])
  })

  it('cancels a pending command but not a sent one', async () => {
    const { gw } = await setup()
    const password = await registerDevice(gw, 'c1')
    const res = await post(gw, 'c1', { name: 'x' })
    expect((await gw.request<Command>('DELETE', `/devices/c1/commands/${res.body.id}`)).body.status).toBe('canceled')
    await device(gw, 'c1', password)
    const sent = await post(gw, 'c1', { name: 'y' })
    await until(async () => (await command(gw, 'c1', sent.body.id)).status !== 'pending', { ...WAIT, what: 'the command to leave pending' })
    const refused = await gw.request<ErrorBody>('DELETE', `/devices/c1/commands/${sent.body.id}`)
    expect([refused.status, refused.body.error.code]).toEqual([409, 'COMMAND_NOT_CANCELABLE'])
  })

  it('returns the same command for the same id or Idempotency-Key', async () => {
    const { gw } = await setup()
    await registerDevice(gw, 'idem')
    const a = await post(gw, 'idem', { name: 'x' }, '', { 'idempotency-key': 'k-1' })
    const b = await post(gw, 'idem', { name: 'x' }, '', { 'idempotency-key': 'k-1' })
    expect([a.status, b.status]).toEqual([201, 200])
    expect(b.body.id).toBe('k-1')
    expect((await gw.request<List<Command>>('GET', '/devices/idem/commands')).body.value).toHaveLength(1)
  })

  it.each([
    [{ payload: 1 }, 'name'],
    [{ name: 'a/b' }, 'name'],
    [{ name: 'x', timeoutSeconds: 0 }, 'timeoutSeconds'],
    [{ name: 'x', extra: true }, 'extra'],
    [{ name: 'x', id: 'has space' }, 'id']
  ])('refuses a bad body naming the field (%#)', async (body, field) => {
    const { gw } = await setup()
    await registerDevice(gw, 'dev')
    const res = await post<ErrorBody>(gw, 'dev', body)
    expect([res.status, res.body.error.code]).toEqual([400, 'COMMAND_INVALID'])
    expect(res.body.error.message).toContain(field)
  })

  it('answers 404 for an unknown device and 429 past the open-command limit', async () => {
    const clock = new ManualClock(Date.now())
    const gw = await startTestGateway({ commands: { maxOpenPerDevice: 2 } }, { clock })
    teardown(gw.stop)
    expect((await post<ErrorBody>(gw, 'ghost', { name: 'x' })).body.error.code).toBe('DEVICE_NOT_FOUND')
    await registerDevice(gw, 'busy')
    await post(gw, 'busy', { name: 'a' })
    await post(gw, 'busy', { name: 'b' })
    const third = await post<ErrorBody>(gw, 'busy', { name: 'c' })
    expect([third.status, third.body.error.code]).toEqual([429, 'TOO_MANY_COMMANDS'])
  })

  it('never matches an answer published by another device', async () => {
    const { gw } = await setup()
    const pa = await registerDevice(gw, 'dev-a')
    const pb = await registerDevice(gw, 'dev-b')
    await device(gw, 'dev-a', pa)
    const res = await post(gw, 'dev-a', { name: 'x' })
    const b = await connectDevice(gw.gateway.listeners.mqtt, 'dev-b', pb)
    const closed = new Promise<void>((resolve) => { b.once('close', () => resolve()) })
    b.publish(`devices/dev-a/responses/${res.body.id}`, JSON.stringify({ status: 'succeeded' }), { qos: 1 })
    await within(closed, { ...WAIT, what: 'the gateway to close dev-b after its answer for dev-a' }) // refused by permissions
    expect((await command(gw, 'dev-a', res.body.id)).status).not.toBe('succeeded')
  })

  it.runIf(durableOnly)('after a restart, pending commands are still sent, unanswered sent ones are sent again, and end states stay', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await setup(dir.path)
    const password = await registerDevice(first.gw, 'r1')
    const quiet = await device(first.gw, 'r1', password)
    const sent = await post(first.gw, 'r1', { name: 'sent-one', timeoutSeconds: 3600 })
    await until(() => quiet.received.length === 1, { ...WAIT, what: 'the command at the device that will not answer' })
    await quiet.client.endAsync()
    const done = await post(first.gw, 'r1', { name: 'to-cancel' })
    await first.gw.request('DELETE', `/devices/r1/commands/${done.body.id}`)
    const pending = await post(first.gw, 'r1', { name: 'pending-one' })
    await first.gw.stop()

    const second = await setup(dir.path)
    const dev = await device(second.gw, 'r1', password, () => ({ status: 'succeeded' }))
    await until(() => dev.received.length === 2, { ...WAIT, what: 'both commands at the device after the restart' })
    expect(dev.received.map((r) => r.topic.split('/')[3])).toEqual(['sent-one', 'pending-one'])
    await until(async () => (await command(second.gw, 'r1', pending.body.id)).status === 'succeeded', { ...WAIT, what: 'the pending command to succeed after the restart' })
    const again = await command(second.gw, 'r1', sent.body.id)
    expect(again).toMatchObject({ status: 'succeeded', sendCount: 2 })
    expect((await command(second.gw, 'r1', done.body.id)).status).toBe('canceled')
  })
})
