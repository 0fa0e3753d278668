import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { errorLine, EXIT, optionLines, parseCommandLine, UsageError, type CommandLine } from './admin/args.js'
import { ENV_OVERRIDES } from './config/env.js'
import { isGridgateError } from './core/errors.js'

// The command line: `start` and `certs` run the gateway's parts (imported when used, so the
// admin commands start fast); devices, topics, subscriptions, commands, tail, telemetry and schemas are
// the admin CLI in src/admin/, a client of the HTTP API. Errors are one line on stderr.

const ADMIN = new Set(['devices', 'topics', 'subscriptions', 'commands', 'tail', 'telemetry', 'schemas'])

const START: CommandLine = {
  usage: 'gridgate start',
  args: [],
  options: {
    config: { type: 'string', short: 'c', value: 'FILE', help: 'the config file (default: config/default.yaml of this package)' },
    help: { type: 'boolean', short: 'h', help: 'show this help' }
  }
}

const CERTS: CommandLine = {
  usage: 'gridgate certs',
  args: [],
  options: {
    dir: { type: 'string', value: 'DIR', help: 'where to write them (default ./certs)' },
    device: { type: 'string', multiple: true, value: 'ID', help: 'also a client certificate for this device' },
    host: { type: 'string', multiple: true, value: 'NAME', help: 'a name or address of the server certificate (default localhost, 127.0.0.1, ::1)' },
    force: { type: 'boolean', help: 'replace certificates that exist' },
    help: { type: 'boolean', short: 'h', help: 'show this help' }
  }
}

/** Words joined by ', ' in lines of at most `width` characters, indented by two spaces. */
function wrapList (words: readonly string[], width = 96): string {
  const lines: string[] = []
  let line = ''
  for (const w of words) {
    if (line !== '' && line.length + w.length + 2 > width) { lines.push(line + ','); line = '' }
    line += (line === '' ? '' : ', ') + w
  }
  return [...lines, line].map((l) => `  ${l}`).join('\n')
}

const START_HELP = `Usage: gridgate start [--config FILE]

Start the gateway. Environment variables override single values of the config (README,
"Running gridgate from scripts and tests"):
${wrapList(Object.keys(ENV_OVERRIDES))}

Options:
${optionLines(START.options).join('\n')}

Exit codes: 0 stopped by SIGTERM or SIGINT, 1 could not start (a port in use, the data directory
locked by another process, ...: one line on stderr says what and how to change it), 2 the config
or the command line is wrong.
`

const CERTS_HELP = `Usage: gridgate certs [options]

Make a development CA, a server certificate and device certificates with openssl.

Options:
${optionLines(CERTS.options).join('\n')}
`

async function usage (): Promise<string> {
  const { adminSummary, EXIT_CODES_HELP } = await import('./admin/run.js')
  return `Usage: gridgate <command> [options]

Gateway:
  start [--config FILE]   start the gateway (default config: config/default.yaml)
  certs [--dir DIR] [--device ID]... [--host NAME]... [--force]
                          make a development CA, a server certificate and device
                          certificates with openssl (default dir: ./certs)
  version                 print the version
  help                    show this text

Administration, over the HTTP API (--url, --key, --json; GRIDGATE_URL, GRIDGATE_KEY):
${adminSummary().join('\n')}

gridgate <command> --help shows each command's options.
${EXIT_CODES_HELP}, ${EXIT.commandFailed} a command sent with --wait did not succeed.
`
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/**
 * Signal handlers go in before anything opens: a SIGTERM or SIGINT at any moment of start-up
 * aborts it (startGateway closes what it opened), and after start-up stops the gateway;
 * either way the exit code is 0. A start that fails ends with one line on stderr.
 */
async function start (configFile: string): Promise<void> {
  const abort = new AbortController()
  // Set once the gateway runs: how a signal stops it.
  const running: { stop?: (signal: string) => void } = {}
  const onSignal = (signal: string): void => {
    if (running.stop !== undefined) running.stop(signal)
    else if (!abort.signal.aborted) abort.abort(signal)
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
  // Before any module that creates `debug` functions loads (aedes' codec, ioredis).
  await import('./broker/quiet-debug.js')
  const { loadConfig } = await import('./config/load.js')
  const config = await loadConfig(configFile)
  if (abort.signal.aborted) process.exit(0) // nothing was opened yet
  const [{ startGateway }, { createLogger }, { describeStartupError }] = await Promise.all([
    import('./main.js'), import('./observability/logger.js'), import('./startup-errors.js')
  ])
  const logger = createLogger(config.log.level)
  logger.info({ engine: config.storage.engine }, 'starting')
  const fail = async (err: unknown): Promise<never> => {
    logger.debug({ err }, 'start-up failed') // the stack, for GRIDGATE_LOG_LEVEL=debug
    const failure = await describeStartupError(err, { config, configFile })
    process.stderr.write(`gridgate: ${failure.line}\n`)
    process.exit(failure.exitCode)
  }
  // An error event nobody listens to during start-up (a listener's socket) is a failed start too.
  const uncaught = (err: unknown): void => { void fail(err) }
  process.on('uncaughtException', uncaught)
  let gateway: Awaited<ReturnType<typeof startGateway>>
  try {
    gateway = await startGateway(config, { logger, configDir: dirname(resolve(configFile)), signal: abort.signal })
  } catch (err) {
    if (abort.signal.aborted) {
      logger.info({ signal: abort.signal.reason }, 'start-up interrupted; stopped')
      process.exit(0)
    }
    return await fail(err)
  } finally {
    process.off('uncaughtException', uncaught)
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping')
    gateway.stop().then(() => {
      logger.info('stopped')
      process.exit(0)
    }, (err: unknown) => {
      logger.error({ err }, 'stop failed')
      process.exit(1)
    })
  }
  running.stop = stop
  // A signal that came while the last step of start-up finished.
  if (abort.signal.aborted) stop(String(abort.signal.reason))
}

// Options people try on `start` that are config values: where to set them instead.
const START_HINTS: Readonly<Record<string, string>> = {
  '--port': 'ports are set with GRIDGATE_HTTP_PORT, GRIDGATE_MQTT_PORT, ... or http.port, mqtt.port in the config',
  '--host': 'addresses are set with GRIDGATE_HTTP_HOST, GRIDGATE_MQTT_HOST or http.host, mqtt.host in the config',
  '--data-dir': 'the data directory is set with GRIDGATE_DATA_DIR or dataDir in the config',
  '--log-level': 'the log level is set with GRIDGATE_LOG_LEVEL or log.level in the config',
  '--key': 'HTTP access keys are set with GRIDGATE_HTTP_KEYS or http.keys in the config'
}

function startCommandLine (argv: string[]): ReturnType<typeof parseCommandLine> {
  try {
    return parseCommandLine(START, argv)
  } catch (err) {
    const option = err instanceof UsageError ? /^--[\w-]+/.exec(err.option ?? '')?.[0] : undefined
    const hint = Object.entries(START_HINTS).find(([o]) => option !== undefined && (o === option || option.endsWith(`-${o.slice(2)}`)))?.[1]
    if (hint === undefined || !(err instanceof UsageError)) throw err
    throw new UsageError(err.message.replace(/ \(see gridgate start --help\)$/, `: ${hint} (see gridgate start --help)`), err.option)
  }
}

async function certs (argv: string[]): Promise<number> {
  const { values } = parseCommandLine(CERTS, argv)
  const { makeDevCerts } = await import('./certs.js')
  const paths = await makeDevCerts({ dir: (values.dir as string | undefined) ?? 'certs', devices: values.device as string[] | undefined, hosts: values.host as string[] | undefined, force: values.force as boolean | undefined })
  process.stdout.write([
    `certificates in ${paths.dir}:`,
    `  CA           ${paths.caCert}`,
    `  server       ${paths.serverCert}`,
    ...Object.entries(paths.devices).map(([id, p]) => `  device ${id}  ${p.cert}  ${p.key}`),
    '',
    'Turn on the TLS (8883) and secure WebSocket (8084) listeners with:',
    '  mqtt:',
    '    tls:',
    `      cert: ${paths.serverCert}`,
    `      key: ${paths.serverKey}`,
    `      ca: ${paths.caCert}      # devices may then authenticate with their certificates`,
    ''
  ].join('\n'))
  return EXIT.ok
}

async function admin (argv: string[]): Promise<number> {
  const { runAdmin } = await import('./admin/run.js')
  // tail ends on a signal with exit code 0; any other command is cut short as usual (128 + signal).
  const abort = new AbortController()
  const onSignal = (code: number) => (): void => {
    if (argv[0] === 'tail') abort.abort()
    else process.exit(code)
  }
  process.once('SIGINT', onSignal(130))
  process.once('SIGTERM', onSignal(143))
  return await runAdmin(argv, {
    env: process.env,
    stdout: (text) => { process.stdout.write(text) },
    stderr: (text) => { process.stderr.write(text) },
    readInput: async (file) => file === '-' ? readFileSync(0, 'utf8') : await readFile(file, 'utf8'),
    signal: abort.signal,
    now: Date.now
  })
}

async function main (argv: string[]): Promise<number> {
  const [command = 'help', ...rest] = argv
  if (ADMIN.has(command)) return await admin(argv)
  switch (command) {
    case 'help': case '--help': case '-h':
      process.stdout.write(await usage())
      return EXIT.ok
    case 'version': case '--version':
      process.stdout.write(version() + '\n')
      return EXIT.ok
    case 'certs':
      if (parseCommandLine(CERTS, rest).help) { process.stdout.write(CERTS_HELP); return EXIT.ok }
      return await certs(rest)
    case 'start': {
      const parsed = startCommandLine(rest)
      if (parsed.help) { process.stdout.write(START_HELP); return EXIT.ok }
      const { DEFAULT_CONFIG_PATH } = await import('./config/load.js')
      await start((parsed.values.config as string | undefined) ?? DEFAULT_CONFIG_PATH)
      return -1 // keep running
    }
  }
  throw new UsageError(`unknown command '${command}' (gridgate --help lists them)`)
}

main(process.argv.slice(2)).then((code) => {
  // After what was written reaches a pipe (the keep-alive sockets of the admin client would hold the process).
  if (code >= 0) process.stdout.write('', () => process.exit(code))
}, (err: unknown) => {
  const message = err instanceof Error ? err.message : String(err)
  // A config with several problems lists one per line, as the README shows.
  process.stderr.write((isGridgateError(err) ? `gridgate: ${message}` : errorLine(message)) + '\n')
  process.exit(err instanceof UsageError || (isGridgateError(err) && err.code === 'CONFIG_INVALID') ? EXIT.usage : EXIT.refused)
})
