import { randomUUID } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
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
  const { outputFiles } = await build({
    entryPoints: { console: `${APP_DIR}main.ts` },
    outdir: outDir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2022'],
    platform: 'browser',
    legalComments: 'none',
    logLevel: 'warning',
    write: false
  })
  const files = [...outputFiles.map((f) => ({ name: basename(f.path), contents: f.contents })), { name: 'index.html', contents: await readFile(`${APP_DIR}index.html`) }]
  // Each file replaces the old one in one step (rename): a gateway or another build reading
  // the folder meanwhile sees the old file or the new one, never half of one.
  await Promise.all(files.map(async ({ name, contents }) => {
    const tmp = join(outDir, `.${name}.${randomUUID()}.tmp`)
    await writeFile(tmp, contents)
    await rename(tmp, join(outDir, name))
  }))
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  buildConsole().catch((err: unknown) => {
    process.stderr.write(`gridgate: building the web console failed: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
