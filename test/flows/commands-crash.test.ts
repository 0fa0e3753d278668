import type { MqttClient } from 'mqtt'
import { describe, expect, it } from 'vitest'
import type { Command } from '../helpers/api.js'
import { spawnGateway, type ChildGateway } from '../helpers/child.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { until } from '../helpers/wait.js'

const teardown = useTeardown()
const KEY = 'commands-crash-key-0123456789'

async function start (dir: string): Promise<ChildGateway> {
  const gw = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'warn' } })
  teardown(() => gw.kill('SIGKILL'))
  return gw
}

/** A device that records command names and answers those `answers` accepts. */
async function device (gw: ChildGateway, password: string, answers: (name: string) => boolean): Promise<{ client: MqttClient, names: string[] }> {
  const client = await connectDevice(gw.listeners.mqtt as string, 'k1', password)
  teardown(() => client.endAsync(true))
  const names: string[] = []
  client.on('message', (topic) => {
    const [, , , name, id] = topic.split('/') as [string, string, string, string, string]
    names.push(name)
    if (answers(name)) client.publish(`devices/k1/responses/${id}`, '{"status":"succeeded"}', { qos: 1 })
  })
  await client.subscribeAsync('devices/k1/commands/#', { qos: 1 })
  return { client, names }
}

async function status (gw: ChildGateway, id: string): Promise<string> {
  return (await gw.request<Command>('GET', `/devices/k1/commands/${id}`)).body.status
}

describe('commands across kill -9', () => {
  it('keeps end states, still sends pending commands and sends unanswered ones again', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const first = await start(dir.path)
    const password = await registerDevice(first, 'k1')
    const dev = await device(first, password, (name) => name === 'ok')
    const ok = (await first.request<Command>('POST', '/devices/k1/commands?wait=10', { body: { name: 'ok', id: 'c-ok' } })).body
    expect(ok.status).toBe('succeeded')
    await first.request('POST', '/devices/k1/commands', { body: { name: 'slow', id: 'c-slow', timeoutSeconds: 3600 } })
    await until(() => dev.names.includes('slow'), { timeoutMs: 15_000, what: "the 'slow' command at the device" })
    await dev.client.endAsync()
    await first.request('POST', '/devices/k1/commands', { body: { name: 'later', id: 'c-later' } })
    await first.request('POST', '/devices/k1/commands', { body: { name: 'nix', id: 'c-nix' } })
    expect((await first.request<Command>('DELETE', '/devices/k1/commands/c-nix')).body.status).toBe('canceled')
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')

    const second = await start(dir.path)
    expect([await status(second, 'c-ok'), await status(second, 'c-nix'), await status(second, 'c-later')]).toEqual(['succeeded', 'canceled', 'pending'])
    expect(['sent', 'delivered']).toContain(await status(second, 'c-slow'))
    const again = await device(second, password, () => true)
    await until(async () => await status(second, 'c-slow') === 'succeeded' && await status(second, 'c-later') === 'succeeded', { timeoutMs: 15_000, what: "'c-slow' and 'c-later' to succeed after the restart" })
    expect(again.names).toEqual(['slow', 'later'])
    expect(await status(second, 'c-ok')).toBe('succeeded')
  })
})
