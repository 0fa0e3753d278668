import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import type { CommandPage, List, Subscription, Topic } from '../helpers/api.js'
import { DIST } from '../helpers/build.js'
import { startTestGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { registerDevice } from '../helpers/mqtt.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// The device simulator as users run it: a child process (dist/devices-sim/cli.js, as
// `npm run sim` runs it) against a real gateway in this process, judged by its exit code,
// its stderr and the JSON of --out.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const teardown = useTeardown()

interface SimRun { code: number | string, stdout: string, stderr: string }

async function runSim (args: string[], timeoutMs = 30_000): Promise<SimRun> {
  const proc = spawn(process.execPath, [DIST.sim, ...args], { cwd: ROOT, env: { ...process.env, GRIDGATE_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
  const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
  const [code, signal] = await once(proc, 'exit') as [number | null, string | null]
  clearTimeout(timer)
  return { code: code ?? signal ?? 'unknown', stdout, stderr }
}

async function gateway (overrides: Record<string, any> = {}): Promise<TestGateway> {
  const gw = await startTestGateway(overrides)
  teardown(gw.stop)
  return gw
}

async function outDir (): Promise<string> {
  const dir = await tempDir('devices-sim-')
  teardown(dir.remove)
  return dir.path
}

const target = (gw: TestGateway): string[] => ['--http', gw.url, '--mqtt', gw.gateway.listeners.mqtt, '--key', TEST_KEY]

/** A port nothing listens on: bound, then closed. */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** Exit code 2, one line naming the problem, no stack trace. */
function expectCleanFailure (run: SimRun, message: RegExp): void {
  expect(run.code, run.stderr).toBe(2)
  const lines = run.stderr.trim().split('\n')
  expect(lines.at(-1)).toMatch(message)
  expect(run.stderr).not.toMatch(/^\s+at /m)
  expect(run.stdout).toBe('')
}

describe('devices-sim', () => {
  it('measures a clean QoS 1 run: sent = acked = delivered, nothing lost, latencies measured', async () => {
    const gw = await gateway()
    const out = join(await outDir(), 'result.json')
    const run = await runSim([...target(gw), '--devices', '50', '--rate', '300', '--duration', '2', '--qos', '1', '--workers', '2', '--prefix', 'sim-a', '--drain', '5', '--out', out, '--max-loss', '0', '--max-errors', '0'])
    expect(run.code, run.stderr).toBe(0)
    const r = JSON.parse(await readFile(out, 'utf8'))
    expect(r).toMatchObject({ devices: 50, connected: 50, sent: 600, acked: 600, delivered: 600, lost: 0, duplicates: 0, errors: 0, unacked: 0 })
    expect(r.msgPerSec).toBeGreaterThan(200)
    for (const l of [r.latencyMs, r.pubackLatencyMs]) {
      for (const k of ['p50', 'p90', 'p99', 'p999', 'max']) expect(l[k], k).toBeGreaterThan(0)
      expect(l.p50).toBeLessThanOrEqual(l.p99)
      expect(l.p99).toBeLessThanOrEqual(l.max)
    }
    expect(r.simulatorCpuCores).toBeGreaterThan(0)
    expect(r.settings).not.toHaveProperty('key')
    expect(r.series.reduce((a: number, p: { sent: number }) => a + p.sent, 0)).toBe(600)
    expect(run.stdout).toContain('| delivered | 600')
    expect(run.stdout).toContain('| publish → delivery | 600 |')
    expect(run.stderr).toMatch(/\[\s*\d+s publishing\] connected 50\/50/)
    // The run's subscription is gone.
    expect((await gw.request<List<Subscription>>('GET', '/topics/telemetry/eventsubscriptions')).body.value).toEqual([])
  })

  it('leaves the messages of the --warmup out of the latency figures and nowhere else', async () => {
    const gw = await gateway()
    const out = join(await outDir(), 'result.json')
    const run = await runSim([...target(gw), '--devices', '20', '--rate', '100', '--duration', '3', '--warmup', '1', '--qos', '1', '--workers', '1', '--prefix', 'sim-w', '--drain', '5', '--out', out, '--max-loss', '0'])
    expect(run.code, run.stderr).toBe(0)
    const r = JSON.parse(await readFile(out, 'utf8'))
    expect(r).toMatchObject({ sent: 300, acked: 300, delivered: 300, lost: 0, settings: { warmup: 1 } })
    expect(r.series.reduce((a: number, p: { sent: number }) => a + p.sent, 0)).toBe(300)
    // The first second's messages are left out: some were sent in it, at most its 100 due ones (+1 at the edge).
    const left = 300 - (r.pubackLatencyMs.count as number)
    expect(left).toBeGreaterThan(0)
    expect(left).toBeLessThanOrEqual(101)
    // Both measures decide by the same send time against the same start.
    expect(r.latencyMs.count).toBe(r.pubackLatencyMs.count)
    expect(run.stdout).toContain('| latency (ms), of messages sent after the first 1 s (--warmup) |')
  })

  it('fails with one clear line and exit code 2 when it cannot run', async () => {
    const gw = await gateway()
    const port = await closedPort()
    const [http, mqtt, key, topic] = await Promise.all([
      runSim(['--http', `http://127.0.0.1:${port}`, '--key', TEST_KEY, '--devices', '2']),
      runSim(['--http', gw.url, '--mqtt', `mqtt://127.0.0.1:${port}`, '--key', TEST_KEY, '--devices', '2']),
      runSim(['--http', gw.url, '--mqtt', gw.gateway.listeners.mqtt, '--key', 'wrong-key-0123456789', '--devices', '2']),
      runSim([...target(gw), '--topic', 'no-such-topic', '--devices', '2'])
    ])
    expectCleanFailure(http, new RegExp(`^devices-sim: cannot reach the gateway's HTTP API at http://127.0.0.1:${port}: ECONNREFUSED`))
    expectCleanFailure(mqtt, new RegExp(`^devices-sim: cannot reach the MQTT broker at mqtt://127.0.0.1:${port}: ECONNREFUSED`))
    expectCleanFailure(key, /^devices-sim: the gateway at .* refused the access key \(401 UNAUTHORIZED/)
    expectCleanFailure(topic, /^devices-sim: cannot create the event subscription 'devices-sim-[0-9a-f]+' on topic 'no-such-topic': 404 TOPIC_NOT_FOUND/)
    // Nothing was left behind on the gateway by the runs that got as far as subscribing.
    expect((await gw.request<List<Subscription>>('GET', '/topics/telemetry/eventsubscriptions')).body.value).toEqual([])
  })

  it('detects loss: a device whose telemetry is routed elsewhere is acknowledged but never delivered', async () => {
    const gw = await gateway({
      routes: [
        { filter: 'devices/sim-t-3/telemetry/#', topic: 'elsewhere', type: 'device.telemetry' },
        { filter: 'devices/sim-t-3/telemetry', topic: 'elsewhere', type: 'device.telemetry' },
        { filter: 'devices/+/telemetry/#', topic: 'telemetry', type: 'device.telemetry' },
        { filter: 'devices/+/telemetry', topic: 'telemetry', type: 'device.telemetry' },
        { filter: 'devices/+/events/#', topic: 'events', type: 'device.event' }
      ]
    })
    const out = join(await outDir(), 'result.json')
    const run = await runSim([...target(gw), '--devices', '6', '--rate', '60', '--duration', '1', '--prefix', 'sim-t', '--workers', '1', '--drain', '1', '--max-loss', '0', '--out', out])
    expect(run.code, run.stderr).toBe(99)
    expect(run.stderr).toMatch(/devices-sim: threshold breached: lost 10 messages > --max-loss 0/)
    const r = JSON.parse(await readFile(out, 'utf8'))
    expect(r).toMatchObject({ sent: 60, acked: 60, delivered: 50, lost: 10, duplicates: 0 })
    expect(r.lostByDevice).toEqual([{ device: 'sim-t-3', lost: 10, firstLostSeq: 1 }])
    // They were acknowledged because they were written, to the other topic.
    expect((await gw.request<Topic>('GET', '/topics/elsewhere')).body.events).toBe(10)
  })

  it('measures command round trips to the devices that answer', async () => {
    const gw = await gateway()
    const out = join(await outDir(), 'result.json')
    const run = await runSim([...target(gw), '--devices', '10', '--rate', '20', '--duration', '2', '--prefix', 'sim-c', '--workers', '1', '--command-share', '0.5', '--command-rate', '15', '--out', out, '--max-errors', '0'])
    expect(run.code, run.stderr).toBe(0)
    const r = JSON.parse(await readFile(out, 'utf8'))
    expect(r.commands.sent).toBeGreaterThanOrEqual(25)
    expect(r.commands.outcomes).toMatchObject({ succeeded: r.commands.sent, failed: 0, timedOut: 0, unfinished: 0 })
    expect(r.commands.latencyMs.count).toBe(r.commands.sent)
    expect(r.commands.latencyMs.p50).toBeGreaterThan(0)
    expect(r.commands.latencyMs.max).toBeGreaterThanOrEqual(r.commands.latencyMs.p99)
    expect(run.stdout).toMatch(/\| command → end state \| \d+ \|/)
    // Only the answering half got commands.
    const listed = await Promise.all(Array.from({ length: 10 }, (_, i) => gw.request<CommandPage>('GET', `/devices/sim-c-${i + 1}/commands`)))
    expect(listed.filter((a) => a.body.value.length > 0)).toHaveLength(5)
  })

  it('counts and reports a device whose CONNECT is refused, and carries on with the others', async () => {
    const gw = await gateway()
    const dir = await outDir()
    const out = join(dir, 'result.json')
    const devicesFile = join(dir, 'devices.json')
    // sim-r-2 exists with a password the file gets wrong: the simulator reuses it and is refused.
    await registerDevice(gw, 'sim-r-2')
    await writeFile(devicesFile, JSON.stringify({ gateway: gw.url, devices: { 'sim-r-2': 'not-the-password' } }))
    const run = await runSim([...target(gw), '--devices', '4', '--rate', '40', '--duration', '1', '--prefix', 'sim-r', '--workers', '1', '--devices-file', devicesFile, '--out', out])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/1 of 4 devices could not connect: 1 × CONNACK 4 \(bad username or password\)/)
    const r = JSON.parse(await readFile(out, 'utf8'))
    expect(r).toMatchObject({ connected: 3, refused: { count: 1, byCode: { 4: 1 } }, sent: 40, delivered: 40, lost: 0 })
    expect(run.stdout).toContain('| devices connected | 3 / 4 (1 refused: 4 ×1) |')
    // The file now holds the other three devices' passwords for the next run.
    const file = JSON.parse(await readFile(devicesFile, 'utf8'))
    expect(Object.keys(file.devices).sort()).toEqual(['sim-r-1', 'sim-r-2', 'sim-r-3', 'sim-r-4'])
  })
})
