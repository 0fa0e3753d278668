import { copyFile, mkdir } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { CONSOLE_DIR } from './assets.js'

// Bundles the web console (src/console/app/) with esbuild into dist/console/: one minified
// script, one stylesheet (the app's and uPlot's) and index.html. Run by `npm run build`
// (`node dist/console/build.js`) and by the browser tests; everything is local, no CDN.

const APP_DIR = fileURLToPath(new URL('../../src/console/app/', import.meta.url))

/** Writes the console's assets to `outDir` (default dist/console/); resolves when they are there. */
export async function buildConsole (outDir: string = CONSOLE_DIR): Promise<void> {
  await mkdir(outDir, { recursive: true })
  await build({
    entryPoints: { console: `${APP_DIR}main.ts` },
    outdir: outDir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    legalComments: 'none',
    logLevel: 'warning'
  })
  await copyFile(`${APP_DIR}index.html`, `${outDir}/index.html`)
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildConsole().catch((err: unknown) => {
    process.stderr.write(`gridgate: building the web console failed: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
