import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// Child processes in the tests run the compiled gateway and simulator (dist/), as `npm start`
// and `npm run sim` run them. Starting from the .ts through tsx costs about 0.4 s of CPU per
// admin CLI run and a second or more per gateway (its worker threads compile their own
// modules again), which added up to about a minute of `npm test` on 2 cores. The flows
// project builds dist/ once before any test file starts (test/global-setup.ts), so nothing
// rebuilds it while children run from it; the build is skipped when no source changed since.

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
const PROJECTS = ['tsconfig.build.json', 'tsconfig.sim.json']
const SOURCES = ['src', 'devices-sim']
const STAMP = join(ROOT, 'dist/.built-for-tests')

/** The compiled entry points the tests start. */
export const DIST = {
  cli: join(ROOT, 'dist/cli.js'),
  sim: join(ROOT, 'dist/devices-sim/cli.js')
}

/** The newest modification time of the sources and the build configs, in ms. */
function newestSource (): number {
  let newest = 0
  const visit = (path: string): void => {
    const st = statSync(path)
    if (st.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
    else newest = Math.max(newest, st.mtimeMs)
  }
  for (const dir of SOURCES) visit(join(ROOT, dir))
  for (const file of ['tsconfig.json', ...PROJECTS, 'package-lock.json']) visit(join(ROOT, file))
  return newest
}

/** Compiles src/ and devices-sim/ into dist/ unless dist/ is newer than every source. */
export async function buildDist (): Promise<void> {
  const newest = newestSource()
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs > newest && Object.values(DIST).every((f) => existsSync(f))) return
  // tsc emits even where it reports type errors (typecheck reports those); both at once.
  const runs = PROJECTS.map(async (project) => {
    const tsc = spawn(process.execPath, [TSC, '-p', project], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    tsc.stdout.on('data', (d: Buffer) => { out += d.toString() })
    tsc.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const [code] = await once(tsc, 'exit') as [number | null]
    return { project, code, out }
  })
  const done = await Promise.all(runs)
  for (const [name, file] of Object.entries(DIST)) {
    if (!existsSync(file)) {
      const why = done.map((d) => `tsc -p ${d.project} exited ${String(d.code)}\n${d.out}`).join('\n')
      throw new Error(`building dist/ for the tests did not produce the ${name} (${file}):\n${why}`)
    }
  }
  writeFileSync(STAMP, `${new Date().toISOString()}\n`)
}
