import { isAbsolute, join } from 'node:path'
import { parseArgs } from 'node:util'
import { SimError } from './errors.js'
import { parseDuration } from './limits.js'

// Options: command-line flags, a YAML scenario with the same names, and the environment,
// merged (defaults < GRIDGATE_KEY < scenario < flags) and validated into frozen Settings.
// Pure: the caller reads the scenario file and passes its parsed contents.

export const USAGE = `Usage: devices-sim [options]        (or: npm run sim -- [options])

Simulates MQTT devices against a gridgate gateway and measures it end to end: devices
publish telemetry, a pull subscription receives it, and the run reports what was sent,
acknowledged (PUBACK), delivered, lost and duplicated, with latencies. With --broker-only
it drives any MQTT broker (bare aedes, Mosquitto) without the HTTP API, for a baseline.

Gateway:
  --http URL              HTTP API (default http://127.0.0.1:8080)
  --mqtt URL              MQTT broker: mqtt://, mqtts://, ws://, wss:// or host:port
                          (default 127.0.0.1 on the transport's default port)
  --transport T           tcp | tls | ws | wss (default: from --mqtt, else tcp)
  --ca FILE               CA certificate (PEM) for tls/wss (and an https --http)
  --key KEY               HTTP access key (default: $GRIDGATE_KEY)
  --topic NAME            namespace topic the telemetry lands on (default telemetry)
  --broker-only           any MQTT broker, no HTTP API: no registration, no pull
                          subscription; measures PUBACK latency (and delivery latency
                          with --subscribe); --key, --http are not used
  --username U            with --broker-only: every device's username and password
  --password P            (default: none, anonymous)
  --subscribe             with --broker-only: one more client subscribes to
                          devices/+/telemetry and measures delivery, loss, duplicates

Load:
  --devices N             simulated devices (default 100)
  --rate N                messages per second, all devices together (default 100)
  --duration D            how long to publish: 500ms, 30s, 5m, 1h, 1m30s or plain
                          seconds (default 10)
  --messages N            publish N messages in all instead of --duration
  --warmup D              leave messages sent in the first D of publishing out of the
                          latency figures (they still count as sent, acked, lost); the
                          first seconds of a fresh gateway measure its start (default 0)
  --qos 0|1               MQTT QoS of telemetry (default 1)
  --ramp N                new connections per second while connecting (default 500)
  --payload FILE          JSON object template; its numbers random-walk per device
                          (default {"temperature":21.5,"humidity":40,"battery":3.7})
  --command-share X       share 0..1 of devices that answer commands (default 0)
  --command-rate N        commands per second sent to those devices (default 5 when
                          --command-share is set)
  --churn-share X         share 0..1 of devices that disconnect and reconnect (default 0)
  --churn-interval D      time between a churning device's disconnects (default 10s)
  --workers N             worker threads driving the devices (default: cores, at most 4)
  --prefix P              device id prefix: ids are P-1 .. P-N (default sim)
  --devices-file FILE     keep device credentials here and reuse them in later runs
  --drain D               wait this long for deliveries after the last publish (default 10s)
  --cleanup               delete the devices this run registered when it ends (also
                          after Ctrl-C; not with --broker-only)

Results:
  --json                  print the result as JSON on stdout (the table goes to stderr)
  --out FILE              write the full result as JSON
  --scenario FILE.yaml    the same settings in YAML (keys as the flag names); flags win
  -h, --help              show this text

Thresholds (each breach is named in the table and the JSON; the run then exits 99):
  --max-loss N            at most N messages lost
  --max-errors N          at most N errors
  --max-puback-p99-ms MS  publish → PUBACK p99 at most MS (QoS 1)
  --max-delivery-p99-ms MS
                          publish → delivery p99 at most MS
  --min-rate N            achieved publish rate at least N msg/s

Exit codes: 0 done, every threshold met; 99 a threshold was breached; 1 a device worker
failed; 2 the run could not be made (bad option, gateway unreachable, access key refused,
subscription refused); 130 interrupted while connecting.
`

export type Transport = 'tcp' | 'tls' | 'ws' | 'wss'

export interface Settings {
  http: string
  mqtt: string
  transport: Transport
  key: string
  topic: string
  ca: string | null
  devices: number
  rate: number
  /** Messages in all: --messages, or rate × duration. */
  messages: number
  /** Seconds of publishing asked for (--duration), or messages / rate. */
  duration: number
  qos: 0 | 1
  ramp: number
  payload: string | null
  commandShare: number
  commandRate: number
  churnShare: number
  churnInterval: number
  workers: number
  prefix: string
  devicesFile: string | null
  drain: number
  /** Seconds at the start of publishing whose messages the latency figures leave out. */
  warmup: number
  out: string | null
  json: boolean
  cleanup: boolean
  /** Any MQTT broker: no HTTP API, shared (or no) credentials. */
  brokerOnly: boolean
  /** --broker-only: a subscriber measures delivery. */
  subscribe: boolean
  username: string | null
  password: string | null
  maxLoss: number | null
  maxErrors: number | null
  maxPubackP99Ms: number | null
  maxDeliveryP99Ms: number | null
  minRate: number | null
  scenario: string | null
}

/** `duration`: seconds, written as a plain number or with units (parseDuration). */
type Kind = 'string' | 'path' | 'number' | 'integer' | 'share' | 'duration' | 'boolean'

interface OptionSpec {
  key: keyof Settings
  kind: Kind
  /** Inclusive bounds; `above` is an exclusive lower bound. */
  min?: number
  above?: number
  max?: number
  values?: readonly string[]
}

/** Every option by its flag name; a scenario uses the same names (or their camelCase). */
const OPTIONS: Record<string, OptionSpec> = {
  http: { key: 'http', kind: 'string' },
  mqtt: { key: 'mqtt', kind: 'string' },
  transport: { key: 'transport', kind: 'string', values: ['tcp', 'tls', 'ws', 'wss'] },
  key: { key: 'key', kind: 'string' },
  topic: { key: 'topic', kind: 'string' },
  ca: { key: 'ca', kind: 'path' },
  devices: { key: 'devices', kind: 'integer', min: 1, max: 1_000_000 },
  rate: { key: 'rate', kind: 'number', above: 0, max: 10_000_000 },
  duration: { key: 'duration', kind: 'duration', above: 0, max: 7 * 86_400 },
  messages: { key: 'messages', kind: 'integer', min: 1, max: Number.MAX_SAFE_INTEGER },
  qos: { key: 'qos', kind: 'integer', values: ['0', '1'] },
  ramp: { key: 'ramp', kind: 'number', above: 0, max: 1_000_000 },
  payload: { key: 'payload', kind: 'path' },
  'command-share': { key: 'commandShare', kind: 'share' },
  'command-rate': { key: 'commandRate', kind: 'number', min: 0, max: 100_000 },
  'churn-share': { key: 'churnShare', kind: 'share' },
  'churn-interval': { key: 'churnInterval', kind: 'duration', above: 0, max: 86_400 },
  workers: { key: 'workers', kind: 'integer', min: 1, max: 64 },
  prefix: { key: 'prefix', kind: 'string' },
  'devices-file': { key: 'devicesFile', kind: 'path' },
  drain: { key: 'drain', kind: 'duration', min: 0, max: 3600 },
  warmup: { key: 'warmup', kind: 'duration', min: 0, max: 86_400 },
  cleanup: { key: 'cleanup', kind: 'boolean' },
  'broker-only': { key: 'brokerOnly', kind: 'boolean' },
  subscribe: { key: 'subscribe', kind: 'boolean' },
  username: { key: 'username', kind: 'string' },
  password: { key: 'password', kind: 'string' },
  out: { key: 'out', kind: 'path' },
  json: { key: 'json', kind: 'boolean' },
  'max-loss': { key: 'maxLoss', kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER },
  'max-errors': { key: 'maxErrors', kind: 'integer', min: 0, max: Number.MAX_SAFE_INTEGER },
  'max-puback-p99-ms': { key: 'maxPubackP99Ms', kind: 'number', above: 0, max: 86_400_000 },
  'max-delivery-p99-ms': { key: 'maxDeliveryP99Ms', kind: 'number', above: 0, max: 86_400_000 },
  'min-rate': { key: 'minRate', kind: 'number', above: 0, max: 10_000_000 }
}

/** Values one source gave, by flag name, not yet validated. */
export type Layer = Record<string, unknown>

export interface ParsedArgs {
  help: boolean
  scenario: string | null
  flags: Layer
}

/** Reads argv (without node and the script). Unknown flags and missing values are OptionInvalid. */
export function parseArgv (argv: readonly string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean', short?: string }> = { help: { type: 'boolean', short: 'h' }, scenario: { type: 'string' } }
  for (const [name, spec] of Object.entries(OPTIONS)) options[name] = { type: spec.kind === 'boolean' ? 'boolean' : 'string' }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
  } catch (err) {
    // node:util's messages are clear but span lines; keep the first, with the hint for '-1'.
    const text = (err as Error).message
    const first = (text.split('\n')[0] ?? text).replace(/\. To specify a positional argument.*$/, '').replace(/^Unknown option/, 'unknown option')
    const flag = /'(--[a-z-]+)' argument is ambiguous/.exec(first)?.[1]
    throw new SimError('OPTION_INVALID', flag === undefined ? first : `${flag}: a value starting with '-' must be written ${flag}=VALUE`)
  }
  const { help, scenario, ...flags } = parsed.values
  return { help: help === true, scenario: typeof scenario === 'string' ? scenario : null, flags }
}

const camelToFlag = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** A scenario document (parsed YAML) as a layer; relative paths are taken from `baseDir`. */
export function scenarioLayer (doc: unknown, file: string, baseDir: string): Layer {
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new SimError('SCENARIO_INVALID', `${file}: must be a YAML mapping of settings (devices: 100, rate: 500, …)`)
  const layer: Layer = {}
  for (const [name, value] of Object.entries(doc as Record<string, unknown>)) {
    const flag = OPTIONS[name] !== undefined ? name : camelToFlag(name)
    const spec = OPTIONS[flag]
    if (spec === undefined) throw new SimError('SCENARIO_INVALID', `${file}: unknown setting '${name}'`)
    if (flag in layer) throw new SimError('SCENARIO_INVALID', `${file}: '${name}' is given twice`)
    layer[flag] = spec.kind === 'path' && typeof value === 'string' && !isAbsolute(value) ? join(baseDir, value) : value
  }
  return layer
}

function describe (spec: OptionSpec): string {
  if (spec.values !== undefined) return `one of ${spec.values.join(', ')}`
  if (spec.kind === 'boolean') return 'true or false'
  const what = spec.kind === 'integer' ? 'a whole number' : spec.kind === 'share' ? 'a share from 0 to 1' : spec.kind === 'duration' ? 'a duration (500ms, 30s, 5m, 1h, or seconds)' : 'a number'
  if (spec.kind === 'share') return what
  const bounds: string[] = []
  if (spec.above !== undefined) bounds.push(`> ${spec.above}`)
  if (spec.min !== undefined) bounds.push(`>= ${spec.min}`)
  if (spec.max !== undefined && spec.max < Number.MAX_SAFE_INTEGER) bounds.push(`<= ${spec.max}`)
  return `${what} ${bounds.join(' and ')}`.trim()
}

/** One value, from a flag (a string) or a scenario (any YAML scalar), checked against its spec. */
function coerce (flag: string, spec: OptionSpec, value: unknown, where: string): string | number | boolean {
  const bad = (): SimError => new SimError(where === '' ? 'OPTION_INVALID' : 'SCENARIO_INVALID',
    `${where}${where === '' ? '--' : ''}${flag}: must be ${spec.values !== undefined ? describe(spec) : spec.kind === 'path' ? 'a file path' : spec.kind === 'string' ? 'a non-empty string' : describe(spec)} (got ${JSON.stringify(value)})`)
  if (spec.kind === 'string' || spec.kind === 'path') {
    if (typeof value !== 'string' && typeof value !== 'number') throw bad()
    const text = String(value).trim()
    if (text === '' || (spec.values !== undefined && !spec.values.includes(text))) throw bad()
    return text
  }
  if (spec.kind === 'boolean') {
    if (value === true || value === 'true') return true
    if (value === false || value === 'false') return false
    throw bad()
  }
  if (typeof value !== 'number' && typeof value !== 'string') throw bad()
  const text = String(value).trim()
  let n: number
  if (spec.kind === 'duration') {
    const seconds = parseDuration(text)
    if (seconds === undefined) throw bad()
    n = seconds
  } else {
    // Number('') is 0 and Number('0x10') is 16: accept plain decimals only.
    if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) throw bad()
    n = Number(text)
  }
  if (!Number.isFinite(n)) throw bad()
  if (spec.values !== undefined && !spec.values.includes(String(n))) throw bad()
  if (spec.kind === 'integer' && !Number.isInteger(n)) throw bad()
  if (spec.kind === 'share' && (n < 0 || n > 1)) throw bad()
  if (spec.min !== undefined && n < spec.min) throw bad()
  if (spec.above !== undefined && n <= spec.above) throw bad()
  if (spec.max !== undefined && n > spec.max) throw bad()
  return n
}

const TRANSPORT_OF_SCHEME: Record<string, Transport> = { 'mqtt:': 'tcp', 'tcp:': 'tcp', 'mqtts:': 'tls', 'ssl:': 'tls', 'tls:': 'tls', 'ws:': 'ws', 'wss:': 'wss' }
const SCHEME_OF: Record<Transport, string> = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws', wss: 'wss' }
const DEFAULT_PORT: Record<Transport, number> = { tcp: 1883, tls: 8883, ws: 8083, wss: 8084 }

/** The broker URL and transport from --mqtt and --transport (either may be missing; they must agree). */
export function resolveMqtt (mqtt: string | undefined, transport: Transport | undefined): { url: string, transport: Transport } {
  if (mqtt === undefined) {
    const t = transport ?? 'tcp'
    return { url: `${SCHEME_OF[t]}://127.0.0.1:${DEFAULT_PORT[t]}${t === 'ws' || t === 'wss' ? '/mqtt' : ''}`, transport: t }
  }
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(mqtt)
  const text = hasScheme ? mqtt : `${SCHEME_OF[transport ?? 'tcp']}://${mqtt}`
  let url: URL
  try { url = new URL(text) } catch { throw new SimError('OPTION_INVALID', `--mqtt: not a URL: '${mqtt}'`) }
  const t = TRANSPORT_OF_SCHEME[url.protocol]
  if (t === undefined) throw new SimError('OPTION_INVALID', `--mqtt: unsupported scheme '${url.protocol}' (use mqtt://, mqtts://, ws:// or wss://)`)
  if (url.hostname === '') throw new SimError('OPTION_INVALID', `--mqtt: no host in '${mqtt}'`)
  if (transport !== undefined && transport !== t) throw new SimError('OPTION_INVALID', `--transport ${transport} does not match --mqtt ${mqtt} (${t})`)
  url.protocol = `${SCHEME_OF[t]}:`
  if ((t === 'ws' || t === 'wss') && (url.pathname === '' || url.pathname === '/')) url.pathname = '/mqtt'
  // An explicit port equal to the scheme's own (ws :80) reads as '' from URL: keep it then.
  const explicitPort = /^[^:]+:\/\/(?:[^@/]*@)?(?:\[[^\]]*\]|[^/:?#]*):\d+/.test(text)
  if (url.port === '' && !explicitPort) url.port = String(DEFAULT_PORT[t])
  // URL keeps a lone '/' path for mqtt: URLs; mqtt.js does not need it.
  const href = url.href
  return { url: t === 'tcp' || t === 'tls' ? href.replace(/\/$/, '') : href, transport: t }
}

function resolveHttp (http: string): string {
  let url: URL
  try { url = new URL(http) } catch { throw new SimError('OPTION_INVALID', `--http: not a URL: '${http}'`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SimError('OPTION_INVALID', `--http: must be an http:// or https:// URL (got '${http}')`)
  return url.href.replace(/\/+$/, '')
}

export interface Environment {
  GRIDGATE_KEY?: string
}

export interface MergeOptions {
  /** Logical cores of this machine (default workers: this, at most 4). */
  cores: number
  env?: Environment
  scenario?: { file: string, layer: Layer }
}

/**
 * Defaults < $GRIDGATE_KEY < scenario < flags, validated. --duration and --messages
 * are one choice: whichever the higher layer sets wins; one layer may not set both.
 */
export function mergeSettings (flags: Layer, opts: MergeOptions): Settings {
  const layers: Array<{ where: string, values: Layer }> = []
  if (opts.env?.GRIDGATE_KEY !== undefined && opts.env.GRIDGATE_KEY !== '') layers.push({ where: '$GRIDGATE_KEY: ', values: { key: opts.env.GRIDGATE_KEY } })
  if (opts.scenario !== undefined) layers.push({ where: `${opts.scenario.file}: `, values: opts.scenario.layer })
  layers.push({ where: '', values: flags })

  const v: Record<string, string | number | boolean> = {}
  let length: { by: 'duration' | 'messages', value: number } | undefined
  for (const { where, values } of layers) {
    if (values.duration !== undefined && values.messages !== undefined) {
      throw new SimError(where === '' ? 'OPTION_INVALID' : 'SCENARIO_INVALID', `${where}${where === '' ? '--' : ''}duration and ${where === '' ? '--' : ''}messages exclude each other: give one`)
    }
    for (const [flag, raw] of Object.entries(values)) {
      if (raw === undefined) continue
      const spec = OPTIONS[flag]
      if (spec === undefined) throw new SimError('OPTION_INVALID', `${where}unknown setting '${flag}'`)
      const value = coerce(flag, spec, raw, where)
      if (flag === 'duration' || flag === 'messages') length = { by: flag, value: value as number }
      else v[flag] = value
    }
  }

  const num = (flag: string, fallback: number): number => (v[flag] as number | undefined) ?? fallback
  const str = (flag: string): string | undefined => v[flag] as string | undefined
  const bool = (flag: string): boolean => v[flag] === true
  const optionError = (text: string): SimError => new SimError('OPTION_INVALID', text)

  const brokerOnly = bool('broker-only')
  const subscribe = bool('subscribe')
  const username = str('username') ?? null
  const password = str('password') ?? null
  const key = str('key')
  if (key === undefined && !brokerOnly) throw optionError('--key: the gateway\'s HTTP access key is required (or set GRIDGATE_KEY); gridgate printed it on its first start and keeps it in data/http-access-key')
  if (brokerOnly) {
    // Nothing here talks to the HTTP API: these need it.
    for (const flag of ['command-share', 'command-rate', 'devices-file', 'cleanup', 'topic']) {
      if (v[flag] !== undefined && v[flag] !== false && v[flag] !== 0) throw optionError(`--${flag}: needs the gateway's HTTP API, which --broker-only does not use`)
    }
    if (!subscribe) {
      for (const flag of ['max-loss', 'max-delivery-p99-ms']) {
        if (v[flag] !== undefined) throw optionError(`--${flag}: with --broker-only, needs --subscribe (nothing measures delivery without it)`)
      }
    }
  } else {
    for (const flag of ['subscribe', 'username', 'password']) {
      if (v[flag] !== undefined && v[flag] !== false) throw optionError(`--${flag}: only with --broker-only (against gridgate every device connects as itself, and a pull subscription measures delivery)`)
    }
  }
  if (password !== null && username === null) throw optionError('--password: needs --username (MQTT 3.1.1 sends no password without a username)')

  const prefix = str('prefix') ?? 'sim'
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(prefix)) throw new SimError('OPTION_INVALID', `--prefix: 1–100 letters, digits, '-', '_', '.' or ':' (got '${prefix}')`)
  const topic = str('topic') ?? 'telemetry'
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,49}$/.test(topic)) throw new SimError('OPTION_INVALID', `--topic: not a topic name (1–50 letters, digits, '-', '_' or '.', starting with a letter or digit): '${topic}'`)

  const { url: mqtt, transport } = resolveMqtt(str('mqtt'), str('transport') as Transport | undefined)
  const ca = str('ca') ?? null
  if (ca !== null && transport !== 'tls' && transport !== 'wss' && !(str('http') ?? '').startsWith('https:')) {
    throw new SimError('OPTION_INVALID', `--ca: only for --transport tls or wss, or an https --http (the transport is ${transport})`)
  }

  const devices = num('devices', 100)
  const rate = num('rate', 100)
  const messages = length === undefined
    ? Math.max(1, Math.round(rate * 10))
    : length.by === 'messages' ? length.value : Math.max(1, Math.round(rate * length.value))
  const duration = length?.by === 'duration' ? length.value : messages / rate

  const commandShare = num('command-share', 0)
  const commandRate = num('command-rate', commandShare > 0 ? 5 : 0)
  if (commandRate > 0 && commandShare === 0) throw new SimError('OPTION_INVALID', '--command-rate: needs --command-share > 0 (the devices that answer)')
  if (commandShare > 0 && Math.floor(devices * commandShare) < 1) throw new SimError('OPTION_INVALID', `--command-share: ${commandShare} of ${devices} devices selects none`)
  const churnShare = num('churn-share', 0)
  if (churnShare > 0 && Math.floor(devices * churnShare) < 1) throw new SimError('OPTION_INVALID', `--churn-share: ${churnShare} of ${devices} devices selects none`)

  const warmup = num('warmup', 0)
  if (warmup > 0 && warmup >= duration) throw new SimError('OPTION_INVALID', `--warmup: ${warmup} s leaves nothing of the ${duration} s of publishing to measure`)
  const qos = num('qos', 1) as 0 | 1
  if (qos === 0 && v['max-puback-p99-ms'] !== undefined) throw optionError('--max-puback-p99-ms: QoS 0 has no PUBACK (use --qos 1)')
  const limit = (flag: string): number | null => (v[flag] as number | undefined) ?? null
  return Object.freeze({
    http: resolveHttp(str('http') ?? 'http://127.0.0.1:8080'),
    mqtt,
    transport,
    key: key ?? '',
    topic,
    ca,
    devices,
    rate,
    messages,
    duration,
    qos,
    ramp: num('ramp', 500),
    payload: str('payload') ?? null,
    commandShare,
    commandRate,
    churnShare,
    churnInterval: num('churn-interval', 10),
    // More workers than devices would leave some idle.
    workers: Math.min(devices, num('workers', Math.max(1, Math.min(4, opts.cores)))),
    prefix,
    devicesFile: str('devices-file') ?? null,
    drain: num('drain', 10),
    warmup,
    out: str('out') ?? null,
    json: bool('json'),
    cleanup: bool('cleanup'),
    brokerOnly,
    subscribe,
    username,
    password,
    maxLoss: limit('max-loss'),
    maxErrors: limit('max-errors'),
    maxPubackP99Ms: limit('max-puback-p99-ms'),
    maxDeliveryP99Ms: limit('max-delivery-p99-ms'),
    minRate: limit('min-rate'),
    scenario: opts.scenario?.file ?? null
  })
}

export type PublicSettings = Omit<Settings, 'key' | 'password'>

/** Settings as they go into the JSON result: everything but the access key and the MQTT password. */
export function publicSettings (s: Settings): PublicSettings {
  const { key: _key, password: _password, ...rest } = s
  return rest
}
