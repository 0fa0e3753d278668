import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { makeDevCerts } from './certs.js'
import { DEFAULT_CONFIG_PATH, loadConfig } from './config/load.js'
import { isGridgateError } from './core/errors.js'
import { startGateway, type Gateway } from './main.js'
import { createLogger } from './observability/logger.js'

const USAGE = `Usage: gridgate <command> [options]

Commands:
  start [--config FILE]   start the gateway (default config: config/default.yaml)
  certs [--dir DIR] [--device ID]... [--host NAME]... [--force]
                          make a development CA, a server certificate and device
                          certificates with openssl (default dir: ./certs)
  version                 print the version
  help                    show this text

Environment overrides (see README): GRIDGATE_DATA_DIR, GRIDGATE_HTTP_PORT, GRIDGATE_MQTT_PORT,
GRIDGATE_MQTT_WS_PORT, GRIDGATE_MQTTS_PORT, GRIDGATE_MQTT_WSS_PORT, GRIDGATE_HTTP_KEYS,
GRIDGATE_MQTT_ALLOW_ANONYMOUS, GRIDGATE_WEBHOOK_ALLOW_LOOPBACK, GRIDGATE_LOG_LEVEL, GRIDGATE_STORAGE_ENGINE
`

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

/**
 * Signal handlers go in before anything opens: a SIGTERM or SIGINT at any moment of start-up
 * aborts it (startGateway closes what it opened), and after start-up stops the gateway;
 * either way the exit code is 0.
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
  const config = await loadConfig(configFile)
  if (abort.signal.aborted) process.exit(0) // nothing was opened yet
  const logger = createLogger(config.log.level)
  logger.info({ engine: config.storage.engine }, 'starting')
  let gateway: Gateway
  try {
    gateway = await startGateway(config, { logger, configDir: dirname(resolve(configFile)), signal: abort.signal })
  } catch (err) {
    if (!abort.signal.aborted) throw err
    logger.info({ signal: abort.signal.reason }, 'start-up interrupted; stopped')
    process.exit(0)
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

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      dir: { type: 'string' },
      device: { type: 'string', multiple: true },
      host: { type: 'string', multiple: true },
      force: { type: 'boolean' }
    }
  })
  const command = positionals[0] ?? 'help'
  if (values.help === true || command === 'help') {
    process.stdout.write(USAGE)
    return 0
  }
  if (command === 'version') {
    process.stdout.write(version() + '\n')
    return 0
  }
  if (command === 'certs') {
    const dir = values.dir ?? 'certs'
    const paths = await makeDevCerts({ dir, devices: values.device, hosts: values.host, force: values.force })
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
    return 0
  }
  if (command === 'start') {
    await start(values.config ?? DEFAULT_CONFIG_PATH)
    return -1 // keep running
  }
  process.stderr.write(`gridgate: unknown command '${command}'\n\n${USAGE}`)
  return 2
}

main(process.argv.slice(2)).then((code) => {
  if (code >= 0) process.exit(code)
}, (err: unknown) => {
  if (isGridgateError(err) && err.code === 'CONFIG_INVALID') {
    process.stderr.write(`gridgate: ${err.message}\n`)
    process.exit(2)
  }
  process.stderr.write(`gridgate: failed to start: ${isGridgateError(err) ? err.message : (err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
