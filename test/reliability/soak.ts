import { setMaxListeners } from 'node:events'
import { buildDist } from '../helpers/build.js'
import type { ReliabilityCase, Size } from './case.js'

// `npm run soak`: every reliability case at full size, one after the other, then one table.
// Progress on stderr; the Markdown table on stdout; exit code 1 when a case fails.

async function load (): Promise<ReliabilityCase[]> {
  const modules = ['./cases-crash.js', './cases-mqtt.js', './cases-delivery.js', './cases-cluster.js']
  const out: ReliabilityCase[] = []
  for (const m of modules) {
    const mod = await import(m) as { cases: ReliabilityCase[] }
    out.push(...mod.cases)
  }
  return out
}

async function main (): Promise<number> {
  setMaxListeners(100)
  const size: Size = process.argv.includes('--ci') ? 'ci' : 'soak'
  const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length)
  const cases = (await load()).filter((c) => only === undefined || c.name.includes(only))
  // The cases start the compiled gateway (dist/), as the flows project does.
  process.stderr.write('building dist/ ... ')
  await buildDist()
  process.stderr.write('done\n')
  const rows: string[] = []
  let failed = 0
  const started = Date.now()
  for (const [i, c] of cases.entries()) {
    process.stderr.write(`[${i + 1}/${cases.length}] ${c.name} ... `)
    const t0 = Date.now()
    let figure: string
    let pass: boolean
    try {
      ({ figure, pass } = await c.run(size))
    } catch (err) {
      figure = `error: ${(err as Error).message.split('\n')[0] ?? ''}`
      pass = false
    }
    if (!pass) failed++
    process.stderr.write(`${pass ? 'pass' : 'FAIL'} (${((Date.now() - t0) / 1000).toFixed(1)} s): ${figure}\n`)
    rows.push(`| ${c.name} | ${c.action(size)} | ${c.criterion} | ${figure} | ${pass ? 'pass' : '**fail**'} |`)
  }
  const date = new Date().toISOString().slice(0, 10)
  process.stdout.write([
    `Reliability suite (${size}), ${date}, ${((Date.now() - started) / 60_000).toFixed(1)} min, ${cases.length - failed} of ${cases.length} passed`,
    '',
    '| case | what was done | must hold | measured | result |',
    '|---|---|---|---|---|',
    ...rows,
    ''
  ].join('\n'))
  return failed === 0 ? 0 : 1
}

process.exitCode = await main()
