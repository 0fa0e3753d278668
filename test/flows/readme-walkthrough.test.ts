import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { DIST } from '../helpers/build.js'
import { FREE_PORTS } from '../helpers/child.js'
import { useTeardown } from '../helpers/teardown.js'
import { tempDir } from '../helpers/tmp.js'

// The README's walkthrough, verbatim: every ```sh walkthrough block, in order, in one bash
// (so $KEY, $PASSWORD and the rest carry over), from the checkout (npx mqtt, npx gridgate),
// against a fresh gateway started from the built dist/ as `npm start` starts it, with a
// generated access key in its data directory. The blocks use the default addresses; only
// those are rewritten to the test's: 127.0.0.1:8080 (HTTP), 1883 (MQTT), 127.0.0.1:9090 (the
// push example's back end) and data/http-access-key. The admin CLI finds the gateway through
// GRIDGATE_URL and GRIDGATE_DATA_DIR, as the README says it does. Each block must end with
// status 0 (the script runs under `set -eo pipefail`) and print what its comments show.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const BLOCK = /^```sh walkthrough\n([\s\S]*?)^```$/gm
// About 25 s alone, up to 40 s on 2 cores while the other flows run (fresh-clone CI, 2026-12-06).
const DEADLINE_MS = 75_000
const teardown = useTeardown()

/** The walkthrough blocks of a README, in order. */
function walkthroughBlocks (readme: string): string[] {
  return [...readme.matchAll(BLOCK)].map((m) => m[1] as string)
}

interface Targets { http: string, mqttPort: number, backendPort: number, dataDir: string }

/** A block with the README's default addresses replaced by the test's. */
function retarget (block: string, t: Targets): string {
  const http = new URL(t.http)
  return block
    .replaceAll('http://127.0.0.1:8080', `http://${http.host}`)
    .replaceAll('127.0.0.1:1883', `127.0.0.1:${t.mqttPort}`)
    .replaceAll('-p 1883 ', `-p ${t.mqttPort} `)
    .replaceAll('127.0.0.1:9090', `127.0.0.1:${t.backendPort}`)
    .replaceAll('listen(9090,', `listen(${t.backendPort},`)
    .replaceAll('data/http-access-key', join(t.dataDir, 'http-access-key'))
}

/** A port nothing listens on now. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** `gridgate start` from dist/, as `npm start` runs it; resolves with its listeners once it is listening. */
async function startGateway (dataDir: string): Promise<{ proc: ChildProcess, listeners: Record<string, string>, log: () => string }> {
  const proc = spawn(process.execPath, [DIST.cli, 'start'], {
    cwd: ROOT,
    env: { ...process.env, ...FREE_PORTS, GRIDGATE_DATA_DIR: dataDir, GRIDGATE_WEBHOOK_ALLOW_LOOPBACK: 'true', GRIDGATE_HTTP_KEYS: '' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  teardown(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return
    proc.kill('SIGTERM')
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000)
    await once(proc, 'exit')
    clearTimeout(timer)
  })
  let out = ''
  let err = ''
  // Its warnings and errors (a refused CONNECT, say) explain a block that went wrong.
  let warnings = ''
  proc.stderr?.on('data', (d: Buffer) => { err += d.toString() })
  proc.stdout?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (/"level":(40|50|60)/.test(line)) warnings = (warnings + line + '\n').slice(-16_384)
  })
  const listeners = await new Promise<Record<string, string>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not listen within 30 s; stderr: ${err}`)), 30_000)
    const onData = (d: Buffer): void => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.includes('"msg":"listening"'))
      if (line === undefined) return
      clearTimeout(timer)
      proc.stdout?.off('data', onData)
      resolve((JSON.parse(line) as { listeners: Record<string, string> }).listeners)
    }
    proc.stdout?.on('data', onData)
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the gateway exited (${code}) before listening; stderr: ${err}`)) })
  })
  return { proc, listeners, log: () => warnings + err }
}

interface BlockRun { block: string, output: string, ended: boolean }

/** Runs the blocks in one bash, each between markers; background jobs die with its process group. */
async function runBlocks (blocks: string[], dir: string, env: Record<string, string>): Promise<{ code: number | string, runs: BlockRun[], timedOut: boolean }> {
  const files = await Promise.all(blocks.map(async (b, i) => {
    const file = join(dir, `block-${i + 1}.sh`)
    await writeFile(file, b)
    return file
  }))
  const script = ['set -eo pipefail', 'exec 2>&1', ...files.map((f, i) => `printf '\\n@@block ${i} start\\n'; source '${f}'; printf '\\n@@block ${i} end\\n'`)].join('\n')
  const bash = spawn('bash', ['-c', script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const killGroup = (): void => { try { process.kill(-(bash.pid as number), 'SIGKILL') } catch { /* gone */ } }
  teardown(killGroup)
  let out = ''
  bash.stdout?.on('data', (d: Buffer) => { out += d.toString() })
  bash.stderr?.on('data', (d: Buffer) => { out += d.toString() })
  let timedOut = false
  const timer = setTimeout(() => { timedOut = true; killGroup() }, DEADLINE_MS)
  const [code, signal] = await once(bash, 'exit') as [number | null, string | null]
  clearTimeout(timer)
  // What the blocks left running (they should leave nothing) goes with the group.
  killGroup()
  const runs = blocks.map((block, i) => {
    const start = out.indexOf(`@@block ${i} start\n`)
    const end = out.indexOf(`@@block ${i} end\n`)
    const from = start < 0 ? out.length : start + `@@block ${i} start\n`.length
    const next = out.indexOf('@@block ', from)
    return { block, output: out.slice(from, end >= 0 ? end : next >= 0 ? next : out.length), ended: end >= 0 }
  })
  return { code: code ?? signal ?? 'unknown', runs, timedOut }
}

/** What each block must print, found by a line of the block. */
const EXPECTED: Array<{ block: string, output: RegExp[] }> = [
  { block: 'KEY=$(cat data/http-access-key)', output: [/"name":"orders","retention":\{"maxAgeSeconds":86400/, /\}\{\}\{\}\{\}\{"value"/, /"nextOffset":2/, /"type":"order.closed"/] },
  { block: 'PASSWORD=$(echo "$SENSOR" | jq -r .password)', output: [/"id":"sensor-1".*"password":"[^"]{20,}"/, /"subject":"devices\/sensor-1\/telemetry".*"data":\{"temperature":21.5\}/] },
  { block: 'retained?filter=', output: [/"topic":"devices\/sensor-1\/telemetry".*"clientId":"sensor-1"/, /\b204$/m] },
  { block: 'alerts:receive', output: [/"lockToken":"[^"]+".*"data":\{"temperature":35.2\}/, /"failedLockTokens":\[\],"succeededLockTokens":\["[^"]+"\]/, /application\/cloudevents-batch\+json; charset=utf-8 v1,\S+\n\[\{"specversion":"1.0".*"data":\{"temperature":35.2\}\}\]$/m] },
  { block: 'commands?wait=30', output: [/"deviceId":"pump-1".*"status":"succeeded".*"result":\{"reboot":\{"delaySeconds":5\}\}/] },
  // (one window, or two when the readings 21.5, 21.7, 35.2 straddle a minute: the first window
  // then ends after any of them)
  { block: '/telemetry/sensor-1/temperature?', output: [/"series":\[\{"start":"[^"]+","end":"[^"]+","count":[123],"min":2\d\.\d,"max":(21\.5|21\.7|35\.2),/, /"max":35\.2,/, /"metric":"temperature","lastValue":35\.2/] },
  {
    block: 'npx gridgate devices add valve-1',
    output: [
      /^registered device valve-1\npassword: \S{20,}$/m,
      /^valve-1\s+no\s+-\s+site=oslo$/m,
      /^subscription hot on telemetry: Queue$/m,
      /^status\s+pending$/m,
      /^2\s+\S+\s+device\.telemetry\s+devices\/sensor-1\/telemetry\s+\{"temperature":35\.2\}$/m,
      /^START\s+END\s+COUNT\s+AVG\s+MAX\n\S+\s+\S+\s+[12]\s/m,
      /^alerts\ncommands\nevents\ninvalid\norders\nsystem\ntelemetry\ntelemetry-windows$/m
    ]
  }
]

// It starts its own gateway process on LevelDB: not again in the flows-memory project.
describe.skipIf(process.env.GRIDGATE_TEST_ENGINE === 'memory')('README walkthrough', () => {
  beforeAll(() => {
    for (const tool of ['bash', 'curl', 'jq']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`the README walkthrough needs ${tool}: apt-get install ${tool}`)
    }
    // `npm start` builds dist/ first; the flows project's global setup has built it (not again
    // here: other files' children run from it meanwhile).
    if (!existsSync(DIST.cli)) throw new Error('dist/cli.js is missing: test/global-setup.ts builds it')
  })

  it('runs every ```sh walkthrough block in order against a fresh gateway', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const blocks = walkthroughBlocks(readme)
    expect(blocks.length).toBeGreaterThanOrEqual(EXPECTED.length)
    for (const e of EXPECTED) expect(blocks.filter((b) => b.includes(e.block)), e.block).toHaveLength(1)

    const dir = await tempDir('readme-walkthrough-')
    teardown(dir.remove)
    const dataDir = join(dir.path, 'data')
    const { listeners, log } = await startGateway(dataDir)
    const targets: Targets = { http: listeners.http as string, mqttPort: Number(new URL(listeners.mqtt as string).port), backendPort: await freePort(), dataDir }
    const { code, runs, timedOut } = await runBlocks(blocks.map((b) => retarget(b, targets)), dir.path, { GRIDGATE_URL: targets.http, GRIDGATE_DATA_DIR: dataDir })

    if (process.env.WALKTHROUGH_DUMP !== undefined) await writeFile(process.env.WALKTHROUGH_DUMP, runs.map((r) => `=== block\n${r.block}\n=== output\n${r.output}`).join('\n'))
    const failed = runs.find((r) => !r.ended)
    const gateway = `\nthe gateway's warnings and errors:\n${log() || '(none)'}`
    // The blocks that ended are checked first (when none failed, that is all of them): a wrong
    // output there is what a later block's failure or deadline usually follows from.
    for (const e of EXPECTED) {
      const run = runs.find((r) => r.block.includes(e.block.replace('data/http-access-key', join(dataDir, 'http-access-key')))) as BlockRun
      if (!run.ended) continue
      for (const re of e.output) expect(run.output, `block with ${e.block}${gateway}`).toMatch(re)
    }
    expect(timedOut, `the walkthrough ran past ${DEADLINE_MS / 1000} s in block:\n${failed?.block ?? ''}\noutput:\n${failed?.output ?? ''}${gateway}`).toBe(false)
    expect(failed, `a block failed (bash exit ${code}):\n${failed?.block ?? ''}\noutput:\n${failed?.output ?? ''}${gateway}`).toBeUndefined()
    expect(code).toBe(0)
  }, DEADLINE_MS + 30_000)
})
