import { readFile, writeFile } from 'node:fs/promises'
import { availableParallelism } from 'node:os'
import { dirname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { isSimError, SimError } from './errors.js'
import { mergeSettings, parseArgv, scenarioLayer, USAGE, type Settings } from './options.js'
import { renderTable } from './report.js'
import { runSimulation } from './run.js'

// devices-sim: options → run → table on stdout (with --json: the result as JSON on stdout
// and the table on stderr), JSON to --out, exit code. The simulator's own failures
// (SimError) end with one line on stderr and their exit code (2); a breached threshold
// (--max-*, --min-rate) ends with 99, as in k6.

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
  const { result, exitCode } = await runSimulation(settings, {
    stderr: (text) => { process.stderr.write(text) },
    tty: process.stderr.isTTY === true,
    cores: availableParallelism()
  })
  const json = JSON.stringify(result, null, 2) + '\n'
  if (settings.json) {
    process.stderr.write(renderTable(result))
    process.stdout.write(json)
  } else {
    process.stdout.write(renderTable(result))
  }
  if (settings.out !== null) {
    try {
      await writeFile(settings.out, json)
    } catch (err) {
      throw new SimError('FILE_INVALID', `--out ${settings.out}: ${(err as Error).message}`)
    }
  }
  for (const t of result.thresholds) if (!t.passed) process.stderr.write(`devices-sim: threshold breached: ${t.text}\n`)
  return exitCode
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
