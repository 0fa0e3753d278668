import { readFileSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Command, Device, Received, Replay, SubscriptionStatus, Topic } from '../helpers/api.js'
import { FREE_PORTS, launch, runCli } from '../helpers/child.js'
import { startTestGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { cloudEvent } from '../helpers/http.js'
import { connectDevice, registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { pause, until, within } from '../helpers/wait.js'

// The admin CLI (src/admin/) as a child process against a real gateway in this process: each
// command for people and with --json, and its exit codes: 0 done, 1 the API refused, 2 the
// command line is wrong, 3 the gateway cannot be reached, 4 a command did not succeed.

const teardown = useTeardown()
let gw: TestGateway

beforeAll(async () => { gw = await startTestGateway() })
afterAll(async () => { await gw?.stop() })

interface Run { code: number | string, stdout: string, stderr: string }

/** `gridgate ARGS` with the gateway's URL and key in the environment. */
async function cli (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return await runCli({ args, env: { GRIDGATE_URL: gw.url, GRIDGATE_KEY: TEST_KEY, GRIDGATE_DATA_DIR: '/nonexistent/gridgate-data', ...env } })
}

/** Runs, expects exit 0 and nothing on stderr, returns stdout. */
async function ok (args: string[], env: Record<string, string> = {}): Promise<string> {
  const res = await cli(args, env)
  expect({ code: res.code, stderr: res.stderr }, args.join(' ')).toEqual({ code: 0, stderr: '' })
  return res.stdout
}

/** Runs with --json, expects exit 0, returns the parsed answer. */
async function okJson<T> (args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '--json'])) as T
}

/** Expects the exit code and exactly one line on stderr; returns that line. */
async function fails (args: string[], code: number, env: Record<string, string> = {}): Promise<string> {
  const res = await cli(args, env)
  expect(res.code, res.stderr).toBe(code)
  const lines = res.stderr.split('\n').filter((l) => l !== '')
  expect(lines).toHaveLength(1)
  return lines[0] as string
}

describe.skipIf(process.env.GRIDGATE_TEST_ENGINE === 'memory')('gridgate admin CLI', () => {
  it('devices add, list, show and rm', async () => {
    const added = await ok(['devices', 'add', 'cli-d1', '--attr', 'site=oslo', '--attr', 'floor=2'])
    expect(added).toMatch(/^registered device cli-d1\npassword: (\S{20,})\n\(shown only this once/)
    const password = /password: (\S+)/.exec(added)?.[1] as string
    const client = await connectDevice(gw.gateway.listeners.mqtt, 'cli-d1', password)
    await client.endAsync(true)

    expect(await ok(['devices', 'add', 'cli-d1'])).toBe('device cli-d1 already exists; nothing changed (its password is unchanged)\n')
    expect(await ok(['devices', 'list'])).toMatch(/^ID {6}CONNECTED {2}LAST SEEN +ATTRIBUTES\n(.*\n)*cli-d1 {2}(yes|no) +\S+ +site=oslo,floor=2\n/)
    const shown = await okJson<Device>(['devices', 'show', 'cli-d1'])
    expect(shown).toMatchObject({ id: 'cli-d1', attributes: { site: 'oslo', floor: '2' } })
    expect(await ok(['devices', 'show', 'cli-d1'])).toMatch(/^id +cli-d1\n/)
    const listed = await okJson<{ value: Device[] }>(['devices', 'list'])
    expect(listed.value.map((d) => d.id)).toContain('cli-d1')

    expect(await ok(['devices', 'rm', 'cli-d1'])).toBe('removed device cli-d1\n')
    expect(await fails(['devices', 'show', 'cli-d1'], 1)).toBe("gridgate: 404 DEVICE_NOT_FOUND: device 'cli-d1' does not exist")
    expect((await okJson<{ password: string }>(['devices', 'add', 'cli-d2'])).password.length).toBeGreaterThan(20)
  })

  it('topics create, list, show, events and rm', async () => {
    expect(await ok(['topics', 'create', 'cli-t1', '--max-age', '1h', '--max-bytes', '1048576'])).toBe('topic cli-t1: keeps events for 1h, at most 1.0 MiB\n')
    expect((await gw.publish('cli-t1', [cloudEvent('a', { n: 1 }, { type: 'cli.test', subject: 's/1' }), cloudEvent('b', { n: 2 })])).status).toBe(200)
    expect(await ok(['topics', 'list'])).toMatch(/^NAME +EVENTS +BYTES +OFFSETS +MAX AGE +MAX BYTES\n(.*\n)*cli-t1 +2 +\d+ B +0\.\.2 +1h +1\.0 MiB\n/)
    const listed = await okJson<{ value: Topic[] }>(['topics', 'list'])
    expect(listed.value.find((t) => t.name === 'cli-t1')).toMatchObject({ events: 2, nextOffset: 2, retention: { maxAgeSeconds: 3600, maxBytes: 1048576 } })
    expect(await ok(['topics', 'show', 'cli-t1'])).toMatch(/^name +cli-t1\n(.*\n)*events +2\n/)
    expect(await okJson<Topic>(['topics', 'show', 'cli-t1'])).toMatchObject({ name: 'cli-t1', events: 2 })

    const page = await ok(['topics', 'events', 'cli-t1'])
    expect(page).toMatch(/^0 {2}\S+Z {2}cli\.test {2}s\/1 {2}\{"n":1\}\n1 {2}\S+Z {2}\S+ {2}- {2}\{"n":2\}\n\(next offset 2\)\n$/)
    const second = await okJson<Replay>(['topics', 'events', 'cli-t1', '--from-offset', '1', '--limit', '5'])
    expect(second.value.map((r) => r.event.id)).toEqual(['b'])

    expect(await ok(['topics', 'rm', 'cli-t1'])).toBe('removed topic cli-t1\n')
    expect(await fails(['topics', 'show', 'cli-t1'], 1)).toBe("gridgate: 404 TOPIC_NOT_FOUND: topic 'cli-t1' does not exist")
  })

  it('subscriptions create from a file, list, show, status, deadletters, redeliver and rm', async () => {
    await gw.request('PUT', '/topics/cli-t2')
    const dir = await tempDir()
    teardown(dir.remove)
    const file = join(dir.path, 'sub.json')
    await writeFile(file, JSON.stringify({ properties: { deliveryConfiguration: { deliveryMode: 'Queue' }, filtersConfiguration: { includedEventTypes: ['cli.test'] } } }))
    expect(await ok(['subscriptions', 'create', 'cli-t2', 'reader', '--file', file])).toBe('subscription reader on cli-t2: Queue\n')
    expect(await ok(['subscriptions', 'list', 'cli-t2'])).toBe('NAME    MODE   ENDPOINT  FILTERS\nreader  Queue  -         types cli.test\n')
    expect(JSON.parse(await ok(['subscriptions', 'show', 'cli-t2', 'reader']))).toMatchObject({ name: 'reader', properties: { deliveryConfiguration: { deliveryMode: 'Queue' } } })

    await gw.publish('cli-t2', [cloudEvent('x1', 1, { type: 'cli.test' }), cloudEvent('x2', 2, { type: 'cli.test' })])
    expect(await okJson<SubscriptionStatus>(['subscriptions', 'status', 'cli-t2', 'reader'])).toMatchObject({ name: 'reader', backlog: 2, deadLettered: 0 })
    expect(await ok(['subscriptions', 'status', 'cli-t2', 'reader'])).toMatch(/^name +reader\n(.*\n)*backlog +2\n/)

    // Reject one: it is dead-lettered.
    const got = await gw.request<Received>('POST', '/topics/cli-t2/eventsubscriptions/reader:receive?maxEvents=1&maxWaitTime=10')
    const token = got.body.value[0]?.brokerProperties.lockToken as string
    await gw.request('POST', '/topics/cli-t2/eventsubscriptions/reader:reject', { body: { lockTokens: [token] } })
    expect(await ok(['subscriptions', 'deadletters', 'cli-t2', 'reader'])).toMatch(/^OFFSET +EVENT ID +TYPE +ATTEMPTS +HTTP +DEAD-LETTERED AT +REASON\n0 +x1 +cli\.test +1 +- +\S+ +Rejected by the receiver\.\n$/)
    expect((await okJson<{ value: unknown[] }>(['subscriptions', 'deadletters', 'cli-t2', 'reader', '--limit', '10'])).value).toHaveLength(1)
    expect(await ok(['subscriptions', 'redeliver', 'cli-t2', 'reader', '--offset', '0'])).toBe('redelivered 1 event(s)\n')
    expect(await ok(['subscriptions', 'deadletters', 'cli-t2', 'reader'])).toBe('no dead letters\n')
    expect(await okJson<{ redelivered: number }>(['subscriptions', 'redeliver', 'cli-t2', 'reader'])).toEqual({ redelivered: 0 })

    expect(await ok(['subscriptions', 'rm', 'cli-t2', 'reader'])).toBe('removed subscription reader from cli-t2\n')
    expect(await ok(['subscriptions', 'list', 'cli-t2'])).toBe('no subscriptions on cli-t2\n')
    expect(await fails(['subscriptions', 'create', 'cli-t2', 'bad', '--file', join(dir.path, 'missing.json')], 2)).toMatch(/^gridgate subscriptions create: cannot read .*missing\.json: ENOENT/)
    await writeFile(file, '{"properties":{"deliveryConfiguration":{"deliveryMode":"Sometimes"}}}')
    expect(await fails(['subscriptions', 'create', 'cli-t2', 'bad', '--file', file], 1)).toMatch(/^gridgate: 400 SUBSCRIPTION_INVALID: .*deliveryMode/)
  })

  it('schemas add from a file, list and show; a breaking version refused with exit 1', async () => {
    const dir = await tempDir()
    teardown(dir.remove)
    const file = join(dir.path, 'orders.schema.json')
    await writeFile(file, JSON.stringify({ type: 'object', properties: { total: { type: 'number' } }, required: ['total'] }))
    expect(await ok(['schemas', 'add', 'cli-orders', '--file', file])).toMatch(/^subject cli-orders: version 1 \(id [0-9a-f]{32}\)\n$/)
    await writeFile(file, JSON.stringify({ type: 'object', properties: { total: { type: 'number' }, currency: { type: 'string' } }, required: ['total', 'currency'] }))
    expect(await fails(['schemas', 'add', 'cli-orders', '--file', file], 1)).toBe("gridgate: 409 SCHEMA_INCOMPATIBLE: the schema is not backward compatible with version 1 of 'cli-orders': data.currency: required field 'currency' added")
    expect(await okJson<{ version: number }>(['schemas', 'add', 'cli-orders', '--file', file, '--compatibility', 'none'])).toMatchObject({ subject: 'cli-orders', version: 2 })
    expect(await ok(['schemas', 'list'])).toMatch(/^SUBJECT +MODE +LATEST +UPDATED\n(.*\n)*cli-orders +none +2 +\S+Z\n/)
    expect(await ok(['schemas', 'show', 'cli-orders', '--version', '1'])).toMatch(/^subject cli-orders, version 1 \(id [0-9a-f]+, urn:gridgate:schema:cli-orders:1, \S+\)\n\{\n {2}"type": "object",/)
    expect(await okJson<{ version: number, dataschema: string }>(['schemas', 'show', 'cli-orders'])).toMatchObject({ version: 2, dataschema: 'urn:gridgate:schema:cli-orders:2' })
    expect(await fails(['schemas', 'add', 'cli-orders', '--file', file, '--compatibility', 'sideways'], 2)).toBe("gridgate schemas add: --compatibility must be one of backward, forward, full, none, not 'sideways'")
  })

  describe('commands', () => {
    let device: MqttClient | undefined
    afterAll(async () => { await device?.endAsync(true) })

    it('send waits for the device\'s answer; list and show', async () => {
      const password = await registerDevice(gw, 'cli-pump')
      device = await connectDevice(gw.gateway.listeners.mqtt, 'cli-pump', password)
      device.on('message', (topic, payload) => {
        const commandId = topic.split('/')[4] as string
        const { delay } = JSON.parse(payload.toString()) as { delay: number }
        device?.publish(`devices/cli-pump/responses/${commandId}`, JSON.stringify({ status: 'succeeded', result: { rebootedIn: delay } }), { qos: 1 })
      })
      await device.subscribeAsync('devices/cli-pump/commands/#', { qos: 1 })

      const sent = await ok(['commands', 'send', 'cli-pump', 'reboot', '--payload', '{"delay":5}', '--wait', '20'])
      expect(sent).toMatch(/^id +\S+\n(.*\n)*status +succeeded\n(.*\n)*result +\{"rebootedIn":5\}\n/)
      const id = /^id +(\S+)$/m.exec(sent)?.[1] as string
      expect(await okJson<Command>(['commands', 'show', 'cli-pump', id])).toMatchObject({ id, name: 'reboot', status: 'succeeded' })
      expect(await ok(['commands', 'list', 'cli-pump'])).toMatch(new RegExp(`^ID +NAME +STATUS +CREATED +UPDATED\\n${id} +reboot +succeeded `))
      expect((await okJson<{ value: Command[] }>(['commands', 'list', 'cli-pump', '--status', 'succeeded'])).value.map((c) => c.id)).toEqual([id])
    })

    it('send exits 4 when the command has not succeeded when the wait ends, 0 without --wait', async () => {
      await registerDevice(gw, 'cli-offline')
      const res = await cli(['commands', 'send', 'cli-offline', 'ping', '--wait', '1', '--json'])
      expect(res.code).toBe(4)
      expect(JSON.parse(res.stdout)).toMatchObject({ name: 'ping', status: 'pending' })
      expect((await okJson<Command>(['commands', 'send', 'cli-offline', 'ping', '--id', 'p-2'])).status).toBe('pending')
      expect(await fails(['commands', 'send', 'cli-nobody', 'ping'], 1)).toBe("gridgate: 404 DEVICE_NOT_FOUND: device 'cli-nobody' does not exist")
    })
  })

  describe('tail', () => {
    it('follows new events from the end of the topic', async () => {
      await gw.request('PUT', '/topics/cli-t3')
      await gw.publish('cli-t3', [cloudEvent('old-1'), cloudEvent('old-2')])
      const proc = launch({ args: ['tail', 'cli-t3', '--count', '2', '--json'], env: { ...FREE_PORTS, GRIDGATE_URL: gw.url, GRIDGATE_KEY: TEST_KEY } })
      teardown(() => proc.kill('SIGKILL'))
      let out = ''
      proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
      const exited = once(proc, 'exit')
      // Publish until the tail has printed two events and ended; it never saw the old ones.
      for (let i = 0; proc.exitCode === null && i < 200; i++) {
        await gw.publish('cli-t3', cloudEvent(`new-${i}`))
        await pause(50) // pacing: one event per poll at most
      }
      const [code] = await within(exited, { timeoutMs: 10_000, what: 'gridgate tail to end after --count' }) as [number]
      expect(code).toBe(0)
      const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { offset: number, event: { id: string } })
      expect(lines).toHaveLength(2)
      expect(lines.map((l) => l.event.id).every((id) => id.startsWith('new-'))).toBe(true)
      expect(lines[1]?.offset).toBe((lines[0]?.offset ?? -1) + 1)
    })

    it('starts where it is told and ends with exit code 0 on SIGINT', async () => {
      await gw.request('PUT', '/topics/cli-t4')
      await gw.publish('cli-t4', [cloudEvent('e0', { n: 0 }, { type: 'cli.test' }), cloudEvent('e1', { n: 1 }, { type: 'cli.test' })])
      const proc = launch({ args: ['tail', 'cli-t4', '--from-offset', '1'], env: { ...FREE_PORTS, GRIDGATE_URL: gw.url, GRIDGATE_KEY: TEST_KEY } })
      teardown(() => proc.kill('SIGKILL'))
      let out = ''
      proc.stdout?.on('data', (d: Buffer) => { out += d.toString() })
      const exited = once(proc, 'exit')
      await until(() => out.includes('\n'), { timeoutMs: 15_000, what: 'the first line of gridgate tail' })
      await gw.publish('cli-t4', cloudEvent('e2', { n: 2 }, { type: 'cli.test' }))
      await until(() => out.split('\n').length > 2, { timeoutMs: 10_000, what: 'the event published while tailing' })
      proc.kill('SIGINT')
      const [code] = await within(exited, { timeoutMs: 10_000, what: 'gridgate tail to end on SIGINT' }) as [number]
      expect(code).toBe(0)
      expect(out).toMatch(/^1 {2}\S+Z {2}cli\.test {2}- {2}\{"n":1\}\n2 {2}\S+Z {2}cli\.test {2}- {2}\{"n":2\}\n$/)
    })

    it('refuses a topic that does not exist', async () => {
      expect(await fails(['tail', 'cli-none'], 1)).toBe("gridgate: 404 TOPIC_NOT_FOUND: topic 'cli-none' does not exist")
    })
  })

  it('telemetry lists a device\'s metrics and aggregates one in windows', async () => {
    await gw.publish('telemetry', [
      cloudEvent('t1', { temperature: 20 }, { type: 'device.telemetry', deviceid: 'cli-sensor' }),
      cloudEvent('t2', { temperature: 22 }, { type: 'device.telemetry', deviceid: 'cli-sensor' })
    ])
    // Windows ending in (from, to]: `to` an hour ahead takes in the window of now.
    const to = new Date(Date.now() + 3600_000).toISOString()
    await until(async () => (await gw.request('GET', `/telemetry/cli-sensor/temperature?size=1h&agg=count&to=${to}`)).text.includes('"count":2'), { timeoutMs: 15_000, what: 'the readings in the rollups' })
    expect(await ok(['telemetry', 'cli-sensor'])).toMatch(/^METRIC +LAST VALUE +LAST TIME\ntemperature +22 +\S+Z\n$/)
    expect(await ok(['telemetry', 'cli-sensor', 'temperature', '--window', 'tumbling', '--size', '1h', '--since', '2h', '--to', to, '--agg', 'count,min,max'])).toMatch(/^START +END +COUNT +MIN +MAX\n(\S+Z +\S+Z +2 +20 +22\n)$/)
    const json = await okJson<{ series: Array<{ count: number }> }>(['telemetry', 'cli-sensor', 'temperature', '--size', '1h', '--to', to, '--agg', 'count'])
    expect(json.series.reduce((n, w) => n + w.count, 0)).toBe(2)
    expect(await fails(['telemetry', 'cli-sensor', 'temperature', '--window', 'weekly'], 1)).toMatch(/^gridgate: 400 QUERY_PARAM_INVALID: .*window/)
    expect(await fails(['telemetry', 'cli-sensor', 'temperature', '--since', 'yesterday'], 2)).toMatch(/^gridgate telemetry: --since must be a duration/)
  })

  describe('errors and exit codes', () => {
    it('a wrong key: exit 1, one line saying which key was refused', async () => {
      expect(await fails(['devices', 'list'], 1, { GRIDGATE_KEY: 'wrong-key-0123456789' })).toMatch(/^gridgate: 401 UNAUTHORIZED: .* \(the key from GRIDGATE_KEY was refused\)$/)
      expect(await fails(['devices', 'list', '--key', 'wrong-key-0123456789'], 1)).toMatch(/\(the key from --key was refused\)$/)
      expect(await fails(['devices', 'list'], 1, { GRIDGATE_KEY: '' })).toMatch(/^gridgate: 401 UNAUTHORIZED: .*\(no key was sent: pass --key, set GRIDGATE_KEY, or run where \/nonexistent\/gridgate-data\/http-access-key is readable\)$/)
    })

    it('reads the key from the data directory of a local gateway', async () => {
      const dir = await tempDir()
      teardown(dir.remove)
      await mkdir(dir.path, { recursive: true })
      await writeFile(join(dir.path, 'http-access-key'), TEST_KEY + '\n')
      expect(await ok(['topics', 'list', '--json'], { GRIDGATE_KEY: '', GRIDGATE_DATA_DIR: dir.path })).toMatch(/"value"/)
      expect(await ok(['topics', 'list', '--json', '--data-dir', dir.path], { GRIDGATE_KEY: '' })).toMatch(/"value"/)
    })

    it('an unreachable gateway: exit 3, one line naming the URL', async () => {
      const server = createServer().listen(0, '127.0.0.1')
      await once(server, 'listening')
      const port = (server.address() as AddressInfo).port
      await new Promise((resolve) => server.close(resolve)) // a port nobody listens on
      expect(await fails(['devices', 'list', '--url', `http://127.0.0.1:${port}`], 3)).toBe(`gridgate: cannot reach http://127.0.0.1:${port}: connection refused (set --url or GRIDGATE_URL)`)
      expect(await fails(['topics', 'list'], 3, { GRIDGATE_URL: 'http://no-such-host.invalid:8080' })).toMatch(/^gridgate: cannot reach http:\/\/no-such-host\.invalid:8080: no such host/)
    })

    it('a wrong command line: exit 2, one line', async () => {
      expect(await fails(['devices', 'add'], 2)).toBe('gridgate devices add: missing ID (see gridgate devices add --help)')
      expect(await fails(['topics', 'list', '--colour'], 2)).toBe("gridgate topics list: unknown option '--colour' (see gridgate topics list --help)")
      expect(await fails(['topics', 'list', '--url', 'ftp://x'], 2)).toBe("gridgate: 'ftp://x' is not an http(s) URL (--url or GRIDGATE_URL)")
    })

    it('gridgate --help is the text the README shows', async () => {
      const help = await ok(['--help'])
      expect(help).toContain('devices add|list|show|rm')
      const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
      expect(readme.includes('```\n$ gridgate --help\n' + help + '```'), 'the README shows `gridgate --help` as it is now').toBe(true)
    })
  })
})
