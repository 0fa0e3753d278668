import { once } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { ErrorBody, LoggedEvent, Replay, Topic } from '../helpers/api.js'
import { FREE_PORTS, launch, runCli, spawnGateway, type ChildGateway } from '../helpers/child.js'
import { cloudEvent, type Answer } from '../helpers/http.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'
import { reached, within } from '../helpers/wait.js'

const teardown = useTeardown()
const KEY = 'process-test-key-0123456789'

async function dataDir (): Promise<string> {
  const dir = await tempDir()
  teardown(dir.remove)
  return dir.path
}

async function start (dir: string, env: Record<string, string> = {}, shellPrefix?: string): Promise<ChildGateway> {
  const gw = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'info', ...env }, shellPrefix })
  teardown(() => gw.kill('SIGKILL'))
  return gw
}

async function replayAll (gw: ChildGateway, topic: string): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = []
  let from = 0
  for (let guard = 0; guard < 1000; guard++) {
    const page = await gw.request<Replay>('GET', `/topics/${topic}/events?fromOffset=${from}&limit=1000`)
    expect(page.status).toBe(200)
    if (page.body.value.length === 0) break
    out.push(...page.body.value)
    from = page.body.nextOffset
  }
  return out
}

/**
 * Starts `gridgate start`, sends `signal` when a stdout or stderr line contains `at` (a moment
 * of start-up), and resolves with the exit code and output.
 */
async function signalDuringStart (dir: string, at: string, signal: NodeJS.Signals): Promise<{ code: number | string, out: string, err: string }> {
  const proc = launch({ env: { ...FREE_PORTS, GRIDGATE_DATA_DIR: dir, GRIDGATE_HTTP_KEYS: KEY, GRIDGATE_LOG_LEVEL: 'debug' } })
  teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL') })
  let out = ''
  let err = ''
  let sent = false
  const watch = (): void => {
    if (!sent && (out + err).includes(at)) { sent = true; proc.kill(signal) }
  }
  proc.stdout?.on('data', (d: Buffer) => { out += d.toString(); watch() })
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString(); watch() })
  const [code, sig] = await within(once(proc, 'exit') as Promise<[number | null, string | null]>, { timeoutMs: 30_000, what: 'the gateway to exit' })
  expect(sent).toBe(true)
  return { code: code ?? sig ?? 'unknown', out, err }
}

describe('the gateway as a process', () => {
  it.each([
    { at: '"msg":"starting"', signal: 'SIGTERM' as const },
    { at: '"msg":"storage open"', signal: 'SIGINT' as const },
    { at: '"msg":"mqtt listeners open"', signal: 'SIGTERM' as const },
    { at: '"msg":"listening"', signal: 'SIGINT' as const }
  ])('stops cleanly with exit 0 on $signal at $at during start-up, and the data opens again', async ({ at, signal }) => {
    const dir = await dataDir()
    const { code, err } = await signalDuringStart(dir, at, signal)
    expect(code).toBe(0)
    expect(err).not.toMatch(/\n\s+at /) // no stack trace
    const again = await start(dir)
    expect((await again.request('GET', '/topics')).status).toBe(200)
  })

  it('logs one listening line with URLs and stops cleanly with exit 0 on SIGTERM', async () => {
    const gw = await start(await dataDir())
    expect(gw.listeners.http).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect((await gw.request('GET', '/healthz')).status).toBe(200)
    expect(await gw.kill('SIGTERM')).toBe(0)
    expect(gw.stdout()).toContain('"msg":"stopped"')
  })

  it('keeps every event answered 200 across kill -9 and restart, with gap-free offsets', async () => {
    const dir = await dataDir()
    const first = await start(dir)
    expect((await first.request('PUT', '/topics/crash')).status).toBe(201)
    const acked = new Set<string>()
    let killed = false
    let reached: () => void = () => {}
    const enough = new Promise<void>((resolve) => { reached = resolve })
    // Eight publishers keep publishing; the process is killed while requests are in flight.
    const publishers = Array.from({ length: 8 }, async (_, p) => {
      for (let i = 0; i < 10_000; i++) {
        if (killed) return
        const batch = [cloudEvent(`${p}-${i}-a`), cloudEvent(`${p}-${i}-b`)]
        try {
          const res = await first.publish('crash', batch)
          if (res.status === 200) for (const e of batch) acked.add(e.id as string)
          if (acked.size >= 400) reached()
        } catch { return } // connection reset by the kill
      }
    })
    await within(enough, { timeoutMs: 20_000, orElse: undefined }) // then kill, whatever was reached: judged below
    killed = true
    expect(await first.kill('SIGKILL')).toBe('SIGKILL')
    await Promise.all(publishers)
    expect(acked.size).toBeGreaterThanOrEqual(400)

    const second = await start(dir)
    const events = await replayAll(second, 'crash')
    const ids = new Set(events.map((r) => r.event.id))
    const missing = [...acked].filter((id) => !ids.has(id))
    expect(missing).toEqual([])
    expect(events.map((r) => r.offset)).toEqual(events.map((_, i) => i))
    // Appends after the restart continue the same sequence.
    expect((await second.publish('crash', cloudEvent('after'))).status).toBe(200)
    const topic = await second.request<Topic>('GET', '/topics/crash')
    expect(topic.body.nextOffset).toBe(events.length + 1)
  })

  it('generates an access key on first start, shows it once, and accepts it', async () => {
    const dir = await dataDir()
    const first = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dir } })
    teardown(() => first.kill('SIGKILL'))
    await reached(() => first.stderr().includes('Use it as'), { timeoutMs: 5000, everyMs: 25 }) // the key is judged below
    const key = /\n {4}(\S+)\n/.exec(first.stderr())?.[1]
    expect(key).toBeDefined()
    expect(first.stderr()).toContain('Authorization: SharedAccessKey')
    expect(first.stdout()).not.toContain(key as string) // never in the JSON log
    expect(await first.kill('SIGTERM')).toBe(0)
    const second = await spawnGateway({ env: { GRIDGATE_DATA_DIR: dir }, key })
    teardown(() => second.kill('SIGKILL'))
    expect(second.stderr()).not.toContain(key as string)
    expect((await second.request('GET', '/topics')).status).toBe(200)
    expect((await second.request('GET', '/topics', { auth: 'SharedAccessKey not-the-key-0123456789' })).status).toBe(401)
  })

  it('starts with every documented environment override set', async () => {
    const dir = await dataDir()
    const gw = await start(dir, {
      GRIDGATE_MQTT_ALLOW_ANONYMOUS: 'true',
      GRIDGATE_WEBHOOK_ALLOW_LOOPBACK: 'true',
      GRIDGATE_LOG_LEVEL: 'debug'
    })
    expect((await gw.request('GET', '/topics')).status).toBe(200)
  })
})

describe('a bad config stops the start with the field named', () => {
  const cases = [
    { name: 'a port out of range', yaml: 'http:\n  port: 99999\n', env: { GRIDGATE_HTTP_PORT: '' }, expect: '/http/port' },
    { name: 'an unknown field', yaml: 'http:\n  prot: 8080\n', expect: "unknown field 'prot'" },
    { name: 'a wrong type', yaml: 'storage:\n  sync: maybe\n', expect: '/storage/sync' },
    { name: 'invalid YAML', yaml: 'http: [\n', expect: 'CONFIG_INVALID' },
    { name: 'a bad environment value', yaml: '', env: { GRIDGATE_HTTP_PORT: 'eighty' }, expect: 'GRIDGATE_HTTP_PORT' }
  ]

  it.each(cases)('$name', async (c) => {
    const dir = await dataDir()
    const file = join(dir, 'config.yaml')
    await writeFile(file, c.yaml)
    const res = await runCli({ args: ['start', '--config', file], env: { GRIDGATE_DATA_DIR: join(dir, 'data'), ...c.env } })
    expect(res.code).toBe(2)
    if (c.expect !== 'CONFIG_INVALID') expect(res.stderr).toContain(c.expect)
    expect(res.stderr).toMatch(/^gridgate: /)
    expect(res.stdout).not.toContain('"msg":"listening"')
  })

  it('refuses a missing config file', async () => {
    const res = await runCli({ args: ['start', '--config', '/nonexistent/gridgate.yaml'] })
    expect(res.code).toBe(2)
    expect(res.stderr).toContain('/nonexistent/gridgate.yaml')
  })
})

describe('storage faults', () => {
  it('answers 503 STORAGE_WRITE_FAILED, never 200, when the disk refuses a write, and keeps serving', async () => {
    const dir = await dataDir()
    // A real write error: the file-size limit makes LevelDB's write-ahead log fail with EFBIG.
    const gw = await start(dir, {}, 'ulimit -f 4096;')
    expect((await gw.request('PUT', '/topics/full')).status).toBe(201)
    const acked: string[] = []
    let refused: Answer<ErrorBody> | undefined
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const batch = Array.from({ length: 10 }, (_, j) => cloudEvent(`${i}-${j}`, 'x'.repeat(20_000)))
      const res = await gw.publish<ErrorBody>('full', batch)
      if (res.status === 200) acked.push(...batch.map((e) => e.id as string))
      else refused = res
    }
    expect(refused?.status).toBe(503)
    expect(refused?.body.error.code).toBe('STORAGE_WRITE_FAILED')
    expect(refused?.headers.get('retry-after')).toBe('1')
    // Still serving: probes, reads of what was acknowledged, and the failure in the metrics.
    expect((await gw.request('GET', '/healthz')).status).toBe(200)
    const events = await replayAll(gw, 'full')
    expect(events.map((r) => r.event.id)).toEqual(acked)
    const metrics = (await gw.request('GET', '/metrics')).text
    expect(metrics).toMatch(/gridgate_log_write_failures_total [1-9]/)
    expect(metrics).toMatch(/gridgate_rejections_total\{code="STORAGE_WRITE_FAILED",source="http"\} [1-9]/)
  })
})
