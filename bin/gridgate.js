#!/usr/bin/env node
// The published entry point runs the compiled CLI; `npm start` and `npm run build` produce dist/.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url))
if (!existsSync(cli)) {
  process.stderr.write('gridgate: dist/ is missing; run `npm run build` first (npm start does it for you)\n')
  process.exit(1)
}
await import(cli)
