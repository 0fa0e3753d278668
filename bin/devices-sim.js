#!/usr/bin/env node
// The published entry point of the device simulator runs the compiled CLI; `npm run sim`
// and `npm run build:sim` produce dist/devices-sim/.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../dist/devices-sim/cli.js', import.meta.url))
if (!existsSync(cli)) {
  process.stderr.write('devices-sim: dist/devices-sim/ is missing; run `npm run build:sim` first (npm run sim does it for you)\n')
  process.exit(1)
}
await import(cli)
