import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Aedes } from 'aedes'
import { describe, expect, it } from 'vitest'
import type { Device, List } from '../helpers/api.js'
import { DIST } from '../helpers/build.js'
import { startTestGateway, TEST_KEY, type TestGateway } from '../helpers/gateway.js'
import { useTeardown } from '../helpers/teardown.js'

// The simulator's thresholds, --json, --cleanup and --broker-only as users run them: a child
// process against a real gateway in this process, or against a bare aedes broker, judged by
// its exit code (99 for a breached threshold, as k6) and the JSON summary on stdout.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const teardown = useTeardown()

interface SimRun { code: number | string, stdout: string, stderr: string }

/** Runs the simulator; `onStderr` sees its stderr as it grows (and may signal `proc`). */
async function runSim (args: string[], opts: { timeoutMs?: number, onStderr?: (text: string, proc: ReturnType<typeof spawn>) => void } = {}): Promise<SimRun> {
  const proc = spawn(process.execPath, [DIST.sim, ...args], { cwd: ROOT, env: { ...process.env, GRIDGATE_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
  teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); opts.onStderr?.(stderr, proc) })
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
  const [code, signal] = await once(proc, 'exit') as [number | null, string | null]
  clearTimeout(timer)
  return { code: code ?? signal ?? 'unknown', stdout, stderr }
}

/** The one JSON document --json prints on stdout. */
function summary (run: SimRun): any {
  expect(run.stdout.trim().startsWith('{'), run.stdout).toBe(true)
  return JSON.parse(run.stdout)
}

async function gateway (): Promise<TestGateway> {
  const gw = await startTestGateway()
  teardown(gw.stop)
  return gw
}

/** aedes as its README starts it: in-memory, anyone may connect, on a TCP port of its own. */
async function bareAedes (): Promise<string> {
  const broker = await Aedes.createBroker()
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    broker.handle(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => broker.close(() => resolve()))
    await new Promise((resolve) => server.close(resolve))
  })
  return `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const short = ['--devices', '5', '--rate', '100', '--duration', '1s', '--workers', '1', '--drain', '3s']

describe('devices-sim thresholds', () => {
  it('exits 99 naming a breached threshold, exits 0 when every threshold is met; --json on stdout, --cleanup deletes its devices', async () => {
    const gw = await gateway()
    const target = ['--http', gw.url, '--mqtt', gw.gateway.listeners.mqtt, '--key', TEST_KEY, '--json', '--cleanup']
    const [fail, pass] = await Promise.all([
      runSim([...target, ...short, '--prefix', 'sim-fail', '--min-rate', '1000000', '--max-loss', '0']),
      runSim([...target, ...short, '--prefix', 'sim-pass', '--min-rate', '50', '--max-loss', '0', '--max-errors', '0', '--max-puback-p99-ms', '10000', '--max-delivery-p99-ms', '10000'])
    ])

    expect(fail.code, fail.stderr).toBe(99)
    const f = summary(fail)
    expect(f).toMatchObject({ mode: 'gateway', sent: 100, acked: 100, delivered: 100, lost: 0, passed: false })
    expect(f.thresholds).toEqual([
      { name: 'max-loss', limit: 0, actual: 0, passed: true, text: 'lost 0 messages <= --max-loss 0' },
      { name: 'min-rate', limit: 1_000_000, actual: f.msgPerSec, passed: false, text: expect.stringMatching(/^publish rate [\d.]+ msg\/s < --min-rate 1000000$/) }
    ])
    // The table still goes to stderr, with the breach in it and on its own line.
    expect(fail.stderr).toMatch(/\| --min-rate \| 1000000 \| [\d.]+ \| BREACHED: publish rate/)
    expect(fail.stderr).toMatch(/^devices-sim: threshold breached: publish rate [\d.]+ msg\/s < --min-rate 1000000$/m)

    expect(pass.code, pass.stderr).toBe(0)
    const p = summary(pass)
    expect(p).toMatchObject({ sent: 100, delivered: 100, lost: 0, errors: 0, passed: true })
    expect(p.thresholds.map((t: { name: string, passed: boolean }) => [t.name, t.passed])).toEqual([
      ['max-loss', true], ['max-errors', true], ['max-puback-p99-ms', true], ['max-delivery-p99-ms', true], ['min-rate', true]
    ])
    expect(p.settings).toMatchObject({ duration: 1, drain: 3, json: true, cleanup: true })

    // --cleanup: both runs deleted the devices they registered.
    expect(pass.stderr).toMatch(/--cleanup: deleted 5 of 5 devices/)
    expect(fail.stderr).toMatch(/--cleanup: deleted 5 of 5 devices/)
    expect((await gw.request<List<Device>>('GET', '/devices')).body.value).toEqual([])
  })

  it('--cleanup deletes the devices after Ctrl-C too', async () => {
    const gw = await gateway()
    let interrupted = false
    const run = await runSim(['--http', gw.url, '--mqtt', gw.gateway.listeners.mqtt, '--key', TEST_KEY, '--cleanup', '--json', '--devices', '4', '--rate', '20', '--duration', '5m', '--workers', '1', '--prefix', 'sim-int', '--drain', '2s'], {
      // Ctrl-C once messages are going out (a progress line counts some sent).
      onStderr: (text, proc) => { if (!interrupted && /publishing\] connected 4\/4 \| sent [1-9]/.test(text)) { interrupted = true; proc.kill('SIGINT') } }
    })
    expect(interrupted).toBe(true)
    expect(run.code, run.stderr).toBe(0)
    const r = summary(run)
    expect(r.sent).toBeGreaterThan(0)
    expect(r.sent).toBeLessThan(6000)
    expect(r.warnings).toContain('the run was interrupted (Ctrl-C): publishing stopped early')
    expect(run.stderr).toMatch(/--cleanup: deleted 4 of 4 devices/)
    expect((await gw.request<List<Device>>('GET', '/devices')).body.value).toEqual([])
  })

  it('--broker-only drives a bare aedes: PUBACK and, with --subscribe, delivery measured without the HTTP API', async () => {
    const url = await bareAedes()
    const [sub, bare] = await Promise.all([
      runSim(['--broker-only', '--mqtt', url, '--subscribe', '--json', ...short, '--prefix', 'bare-s', '--max-loss', '0', '--max-puback-p99-ms', '10000', '--max-delivery-p99-ms', '10000']),
      runSim(['--broker-only', '--mqtt', url, '--json', ...short, '--prefix', 'bare-p', '--min-rate', '1000000'])
    ])

    expect(sub.code, sub.stderr).toBe(0)
    const s = summary(sub)
    expect(s).toMatchObject({ mode: 'broker-only', deliveryMeasured: true, connected: 5, sent: 100, acked: 100, delivered: 100, lost: 0, duplicates: 0, errors: 0, passed: true })
    expect(s.pubackLatencyMs.count).toBe(100)
    expect(s.latencyMs.count).toBe(100)
    expect(s.latencyMs.p99).toBeGreaterThan(0)
    expect(s.settings).not.toHaveProperty('key')

    // Without --subscribe nothing measures delivery; the rate threshold still judges the run.
    expect(bare.code, bare.stderr).toBe(99)
    const b = summary(bare)
    expect(b).toMatchObject({ mode: 'broker-only', deliveryMeasured: false, sent: 100, acked: 100, delivered: 0, lost: 0, passed: false })
    expect(b.thresholds).toMatchObject([{ name: 'min-rate', passed: false }])
    expect(bare.stderr).toContain('| delivered | – (not measured: --broker-only without --subscribe) |')
  })
})
