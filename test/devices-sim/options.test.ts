import { describe, expect, it } from 'vitest'
import { SimError } from '../../devices-sim/errors.js'
import { mergeSettings, parseArgv, publicSettings, resolveMqtt, scenarioLayer, type Settings } from '../../devices-sim/options.js'

const KEY = ['--key', 'k-0123456789abcdef']

/** Settings from argv (plus options), as the CLI makes them. */
function settings (argv: string[], opts: Partial<Parameters<typeof mergeSettings>[1]> = {}): Settings {
  return mergeSettings(parseArgv(argv).flags, { cores: 2, ...opts })
}

function failure (fn: () => unknown): SimError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(SimError)
    return err as SimError
  }
  throw new Error('expected a SimError')
}

describe('parseArgv', () => {
  it('reads flags, --help and --scenario', () => {
    expect(parseArgv(['--devices', '5', '--qos', '0'])).toEqual({ help: false, scenario: null, flags: { devices: '5', qos: '0' } })
    expect(parseArgv(['-h']).help).toBe(true)
    expect(parseArgv(['--scenario', 's.yaml']).scenario).toBe('s.yaml')
  })

  it.each([
    [['--devcies', '5'], /unknown option '--devcies'/i],
    [['--devices'], /--devices/],
    [['positional'], /positional/i]
  ])('refuses %j', (argv, message) => {
    const err = failure(() => parseArgv(argv))
    expect(err.code).toBe('OPTION_INVALID')
    expect(err.exitCode).toBe(2)
    expect(err.message).toMatch(message)
  })
})

describe('mergeSettings', () => {
  it('has defaults for everything but the key', () => {
    const s = settings(KEY)
    expect(s).toMatchObject({
      http: 'http://127.0.0.1:8080',
      mqtt: 'mqtt://127.0.0.1:1883',
      transport: 'tcp',
      topic: 'telemetry',
      devices: 100,
      rate: 100,
      duration: 10,
      messages: 1000,
      qos: 1,
      ramp: 500,
      commandShare: 0,
      commandRate: 0,
      churnShare: 0,
      churnInterval: 10,
      workers: 2,
      prefix: 'sim',
      drain: 10,
      warmup: 0,
      maxLoss: null,
      maxErrors: null,
      out: null
    })
    expect(Object.isFrozen(s)).toBe(true)
  })

  it.each<[string, string[], Partial<Settings>]>([
    ['duration sets the message count', ['--rate', '250', '--duration', '4'], { messages: 1000, duration: 4 }],
    ['messages set the duration', ['--rate', '200', '--messages', '50'], { messages: 50, duration: 0.25 }],
    ['a fractional rate rounds the count', ['--rate', '0.5', '--duration', '3'], { messages: 2 }],
    ['workers: at most the devices', ['--devices', '3', '--workers', '8'], { workers: 3 }],
    ['default workers: the cores, at most 4', [], { workers: 2 }],
    ['command rate defaults to 5 with a share', ['--command-share', '0.5'], { commandShare: 0.5, commandRate: 5 }],
    ['transport from the URL', ['--mqtt', 'wss://gw.example:9000/mqtt', '--ca', 'ca.pem'], { transport: 'wss', mqtt: 'wss://gw.example:9000/mqtt', ca: 'ca.pem' }],
    ['host:port takes the transport', ['--mqtt', '10.0.0.5:1999', '--transport', 'ws'], { transport: 'ws', mqtt: 'ws://10.0.0.5:1999/mqtt' }],
    ['http URL loses its trailing slash', ['--http', 'http://localhost:9/'], { http: 'http://localhost:9' }],
    ['thresholds', ['--max-loss', '0', '--max-errors', '3'], { maxLoss: 0, maxErrors: 3, maxPubackP99Ms: null, maxDeliveryP99Ms: null, minRate: null }],
    ['latency and rate thresholds', ['--max-puback-p99-ms', '50', '--max-delivery-p99-ms', '250.5', '--min-rate', '900'], { maxPubackP99Ms: 50, maxDeliveryP99Ms: 250.5, minRate: 900 }],
    ['a plain --duration is seconds', ['--rate', '10', '--duration', '3'], { duration: 3, messages: 30 }],
    ['--duration with a unit', ['--rate', '10', '--duration', '1m30s'], { duration: 90, messages: 900 }],
    ['--duration in ms', ['--rate', '100', '--duration', '500ms'], { duration: 0.5, messages: 50 }],
    ['--drain and --churn-interval with units', ['--drain', '2m', '--churn-interval', '1500ms'], { drain: 120, churnInterval: 1.5 }],
    ['--warmup with a unit', ['--duration', '20', '--warmup', '5s'], { warmup: 5, duration: 20 }],
    ['--warmup under a --messages run', ['--rate', '100', '--messages', '1000', '--warmup', '2500ms'], { warmup: 2.5, duration: 10 }],
    ['--json and --cleanup', ['--json', '--cleanup'], { json: true, cleanup: true, brokerOnly: false }],
    ['switches are off by default', [], { json: false, cleanup: false, brokerOnly: false, subscribe: false, username: null, password: null }],
    ['qos 0', ['--qos', '0'], { qos: 0 }],
    ['exponent notation', ['--rate', '5e3'], { rate: 5000 }]
  ])('%s', (_name, argv, expected) => {
    expect(settings([...KEY, ...argv])).toMatchObject(expected)
  })

  it('defaults to 4 workers at most on a large machine', () => {
    expect(settings(KEY, { cores: 32 }).workers).toBe(4)
  })

  it.each<[string[], RegExp]>([
    [['--devices', '0'], /--devices: must be a whole number >= 1 .* \(got "0"\)/],
    [['--devices', '2.5'], /--devices: must be a whole number/],
    [['--devices', 'ten'], /--devices: .*got "ten"/],
    [['--rate', '0'], /--rate: must be a number > 0/],
    [['--rate', '0x10'], /--rate/],
    [['--rate', ''], /--rate/],
    [['--qos', '2'], /--qos: must be one of 0, 1/],
    [['--duration', '-1'], /--duration: a value starting with '-' must be written --duration=VALUE/],
    [['--duration=-1'], /--duration: must be a duration \(500ms, 30s, 5m, 1h, or seconds\) > 0/],
    [['--duration', '0s'], /--duration: must be a duration .* > 0 .*\(got "0s"\)/],
    [['--duration', '10 minutes'], /--duration: must be a duration/],
    [['--duration', '8d'], /--duration: must be a duration/],
    [['--drain', '2h'], /--drain: must be a duration .* <= 3600 \(got "2h"\)/],
    [['--duration', '5', '--messages', '10'], /duration and --messages exclude each other/],
    [['--transport', 'udp'], /--transport: must be .*tcp, tls, ws, wss/],
    [['--transport', 'tls', '--mqtt', 'mqtt://h:1883'], /--transport tls does not match --mqtt/],
    [['--mqtt', 'http://h:1883'], /--mqtt: unsupported scheme 'http:'/],
    [['--http', 'ftp://h'], /--http: must be an http:\/\/ or https:\/\/ URL/],
    [['--http', 'not a url'], /--http: not a URL/],
    [['--command-share', '1.5'], /--command-share: must be a share from 0 to 1/],
    [['--command-rate', '5'], /--command-rate: needs --command-share > 0/],
    [['--command-share', '0.001', '--devices', '50'], /--command-share: 0.001 of 50 devices selects none/],
    [['--churn-share', '0.01', '--devices', '10'], /--churn-share: 0.01 of 10 devices selects none/],
    [['--churn-interval', '0'], /--churn-interval/],
    [['--workers', '0'], /--workers/],
    [['--prefix', 'a/b'], /--prefix: 1–100 letters/],
    [['--topic=-x'], /--topic: not a topic name/],
    [['--ca', 'ca.pem'], /--ca: only for --transport tls or wss/],
    [['--drain=-1'], /--drain: must be a duration .* >= 0/],
    [['--duration', '10', '--warmup', '10'], /--warmup: 10 s leaves nothing of the 10 s of publishing to measure/],
    [['--warmup', 'soon'], /--warmup: must be a duration/],
    [['--max-loss=-1'], /--max-loss: must be a whole number >= 0/],
    [['--max-puback-p99-ms', '0'], /--max-puback-p99-ms: must be a number > 0/],
    [['--max-delivery-p99-ms', 'fast'], /--max-delivery-p99-ms: must be a number > 0 .*\(got "fast"\)/],
    [['--min-rate', '-5'], /--min-rate: a value starting with '-' must be written --min-rate=VALUE/],
    [['--min-rate=0'], /--min-rate: must be a number > 0/],
    [['--max-puback-p99-ms', '50', '--qos', '0'], /--max-puback-p99-ms: QoS 0 has no PUBACK/],
    [['--json=yes'], /--json/],
    [['--subscribe'], /--subscribe: only with --broker-only/],
    [['--username', 'u'], /--username: only with --broker-only/],
    [['--broker-only', '--cleanup'], /--cleanup: needs the gateway's HTTP API, which --broker-only does not use/],
    [['--broker-only', '--command-share', '0.5'], /--command-share: needs the gateway's HTTP API/],
    [['--broker-only', '--devices-file', 'd.json'], /--devices-file: needs the gateway's HTTP API/],
    [['--broker-only', '--max-loss', '0'], /--max-loss: with --broker-only, needs --subscribe/],
    [['--broker-only', '--max-delivery-p99-ms', '9'], /--max-delivery-p99-ms: with --broker-only, needs --subscribe/],
    [['--broker-only', '--password', 'p'], /--password: needs --username/]
  ])('refuses %j', (argv, message) => {
    const err = failure(() => settings([...KEY, ...argv]))
    expect(err.message).toMatch(message)
    expect(err.exitCode).toBe(2)
  })

  it('--broker-only needs no key, and takes shared credentials and --subscribe', () => {
    expect(settings(['--broker-only', '--mqtt', 'mqtt://127.0.0.1:1999'])).toMatchObject({ brokerOnly: true, key: '', subscribe: false, username: null, password: null, mqtt: 'mqtt://127.0.0.1:1999' })
    expect(settings(['--broker-only', '--subscribe', '--username', 'bench', '--password', 'secret', '--max-loss', '0', '--max-delivery-p99-ms', '20'])).toMatchObject({ subscribe: true, username: 'bench', password: 'secret', maxLoss: 0, maxDeliveryP99Ms: 20 })
  })

  it('takes the switches from a scenario as YAML booleans', () => {
    const scenario = { file: 's.yaml', layer: scenarioLayer({ 'broker-only': true, subscribe: true, json: false, duration: '45s' }, 's.yaml', '/base') }
    expect(settings([], { scenario })).toMatchObject({ brokerOnly: true, subscribe: true, json: false, duration: 45 })
    const bad = { file: 's.yaml', layer: scenarioLayer({ cleanup: 'sometimes' }, 's.yaml', '/base') }
    expect(failure(() => settings(KEY, { scenario: bad })).message).toBe('s.yaml: cleanup: must be true or false (got "sometimes")')
  })

  it('needs a key, from --key or GRIDGATE_KEY', () => {
    expect(failure(() => settings([])).message).toMatch(/--key: the gateway's HTTP access key is required/)
    expect(settings([], { env: { GRIDGATE_KEY: 'from-env' } }).key).toBe('from-env')
    expect(settings(['--key', 'flag'], { env: { GRIDGATE_KEY: 'from-env' } }).key).toBe('flag')
  })

  it('layers: defaults < scenario < flags; duration and messages replace each other', () => {
    const scenario = { file: 's.yaml', layer: scenarioLayer({ devices: 20, rate: 40, messages: 400, commandShare: 0.5, key: 'scenario-key' }, 's.yaml', '/base') }
    expect(settings([], { scenario })).toMatchObject({ devices: 20, rate: 40, messages: 400, commandShare: 0.5, key: 'scenario-key', scenario: 's.yaml' })
    expect(settings(['--devices', '7', '--duration', '2'], { scenario })).toMatchObject({ devices: 7, rate: 40, messages: 80, duration: 2 })
    expect(settings(['--key', 'flag-key'], { scenario, env: { GRIDGATE_KEY: 'env-key' } }).key).toBe('flag-key')
    expect(settings([], { scenario, env: { GRIDGATE_KEY: 'env-key' } }).key).toBe('scenario-key')
  })

  it('names the scenario file in its errors', () => {
    const scenario = { file: 's.yaml', layer: scenarioLayer({ rate: 'fast' }, 's.yaml', '/base') }
    const err = failure(() => settings(KEY, { scenario }))
    expect(err.code).toBe('SCENARIO_INVALID')
    expect(err.message).toBe('s.yaml: rate: must be a number > 0 and <= 10000000 (got "fast")')
  })

  it('keeps the key and the MQTT password out of the public settings', () => {
    expect(publicSettings(settings(KEY))).not.toHaveProperty('key')
    const broker = publicSettings(settings(['--broker-only', '--username', 'u', '--password', 'secret']))
    expect(broker).not.toHaveProperty('password')
    expect(broker.username).toBe('u')
  })
})

describe('scenarioLayer', () => {
  it('accepts flag names and camelCase, and takes relative paths from the scenario directory', () => {
    expect(scenarioLayer({ 'command-share': 0.1, churnInterval: 5, payload: 'p.json', out: '/abs/r.json', devicesFile: 'devs.json' }, 's.yaml', '/scen')).toEqual({
      'command-share': 0.1, 'churn-interval': 5, payload: '/scen/p.json', out: '/abs/r.json', 'devices-file': '/scen/devs.json'
    })
    expect(scenarioLayer(null, 's.yaml', '/')).toEqual({})
  })

  it.each<[unknown, RegExp]>([
    [[1, 2], /s.yaml: must be a YAML mapping/],
    ['text', /s.yaml: must be a YAML mapping/],
    [{ colour: 'red' }, /s.yaml: unknown setting 'colour'/],
    [{ scenario: 'other.yaml' }, /unknown setting 'scenario'/],
    [{ 'command-share': 0.1, commandShare: 0.2 }, /'commandShare' is given twice/]
  ])('refuses %j', (doc, message) => {
    const err = failure(() => scenarioLayer(doc, 's.yaml', '/'))
    expect(err.code).toBe('SCENARIO_INVALID')
    expect(err.message).toMatch(message)
  })
})

describe('resolveMqtt', () => {
  it.each<[string | undefined, 'tcp' | 'tls' | 'ws' | 'wss' | undefined, string, string]>([
    [undefined, undefined, 'mqtt://127.0.0.1:1883', 'tcp'],
    [undefined, 'tls', 'mqtts://127.0.0.1:8883', 'tls'],
    [undefined, 'ws', 'ws://127.0.0.1:8083/mqtt', 'ws'],
    [undefined, 'wss', 'wss://127.0.0.1:8084/mqtt', 'wss'],
    ['mqtt://gw:1999', undefined, 'mqtt://gw:1999', 'tcp'],
    ['tcp://gw', undefined, 'mqtt://gw:1883', 'tcp'],
    ['tls://gw:8000', undefined, 'mqtts://gw:8000', 'tls'],
    ['mqtts://gw', 'tls', 'mqtts://gw:8883', 'tls'],
    ['ws://gw:80/custom', undefined, 'ws://gw/custom', 'ws'],
    ['ws://gw:9001', undefined, 'ws://gw:9001/mqtt', 'ws'],
    ['gw:5000', 'wss', 'wss://gw:5000/mqtt', 'wss'],
    ['gw', undefined, 'mqtt://gw:1883', 'tcp']
  ])('%s with %s → %s', (mqtt, transport, url, t) => {
    expect(resolveMqtt(mqtt, transport)).toEqual({ url, transport: t })
  })
})
