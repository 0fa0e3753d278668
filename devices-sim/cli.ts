import { readFile, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { isSimError, SimError } from './errors.js'
import { mergeSettings, parseArgv, scenarioLayer, USAGE, type Settings } from './options.js'
import { renderTable } from './report.js'
import { runSimulation } from './run.js'

// devices-sim: options → run → table on stdout, JSON to --out, exit code. The simulator's
// own failures (SimError) end with one line on stderr and their exit code (2); a --max-*
// threshold exceeded ends with 1.

async function loadSettings (argv: string[]): Promise<Settings | undefined> {
  const args = parseArgv(argv)
  if (args.help) return undefined
  let scenario: { file: string, layer: Record<string, unknown> } | undefined
  if (args.scenario !== null) {
    const file = args.scenario
    let text: string
    try { text = await readFile(file, 'utf8') } catch (err) { throw new SimError('FILE_INVALID', `--scenario ${file}: ${(err as Error).message}`) }
    let doc: unknown
    try { doc = parseYaml(text) } catch (err) { throw new SimError('SCENARIO_INVALID', `${file}: not YAML: ${((err as Error).message.split('\n')[0] ?? '').replace(/:$/, '')}`) }
    scenario = { file, layer: scenarioLayer(doc, file, dirname(file)) }
  }
  return mergeSettings(args.flags, { cores: availableParallelism(), env: { GRIDGATE_KEY: process.env.GRIDGATE_KEY }, ...(scenario === undefined ? {} : { scenario }) })
}

async function main (argv: string[]): Promise<number> {
  const settings = await loadSettings(argv)
  if (settings === undefined) {
    process.stdout.write(USAGE)
    return 0
  }
  const { result, breaches } = await runSimulation(settings, {
    stderr: (text) => { process.stderr.write(text) },
    tty: process.stderr.isTTY === true,
    cores: availableParallelism()
  })
  process.stdout.write(renderTable(result))
  if (settings.out !== null) {
    try {
      await writeFile(settings.out, JSON.stringify(result, null, 2) + '\n')
    } catch (err) {
      throw new SimError('FILE_INVALID', `--out ${settings.out}: ${(err as Error).message}`)
    }
  }
  for (const b of breaches) process.stderr.write(`devices-sim: ${b}\n`)
  return breaches.length > 0 ? 1 : 0
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
  if (isSimError(err)) {
    process.stderr.write(`devices-sim: ${err.message}\n`)
    process.exit(err.exitCode)
  }
  // Anything else is a bug in the simulator: keep the stack.
  process.stderr.write(`devices-sim: internal error: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
