import { parseArgs } from 'node:util'

// Command lines of the gridgate CLI: each command declares its arguments and options once;
// parsing (strict, with one-line errors) and --help text come from that declaration.

/** Exit codes of every gridgate command (README, "Admin CLI"). */
export const EXIT = {
  ok: 0,
  /** The API refused the call (its code and message are on stderr), or the gateway could not start. */
  refused: 1,
  /** The command line (or the config of `start`) is wrong. */
  usage: 2,
  /** The gateway cannot be reached at the URL. */
  unreachable: 3,
  /** `commands send --wait`: the command ended other than `succeeded`, or had not ended. */
  commandFailed: 4
} as const

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** The value's placeholder in help (`N`, `FILE`). */
  value?: string
  help: string
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>
export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>

/** A wrong command line: one line, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
  /** The option at fault (`--port`), when there is one. */
  readonly option?: string
  constructor (message: string, option?: string) {
    super(message)
    if (option !== undefined) this.option = option
  }
}

/** The line for stderr: `gridgate start: ...` as it is, anything else after `gridgate: `. */
export function errorLine (message: string): string {
  const line = message.replace(/\s*\n\s*/g, '; ')
  return line.startsWith('gridgate ') ? line : `gridgate: ${line}`
}

export interface CommandLine {
  /** `gridgate devices add`, for messages and help. */
  usage: string
  /** Positional arguments: `ID`, `[METRIC]` (optional), `OFFSET...` (any number). */
  args: readonly string[]
  options: OptionSpecs
}

export interface Parsed {
  args: string[]
  values: Values
  help: boolean
}

/** Whether argv asks for help (before any `--`). */
export function wantsHelp (argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--help' || a === '-h')
}

/** Node's parseArgs errors as one line that names the option and the command. */
function usageError (err: unknown, command: string): UsageError {
  const e = err as { code?: string, message?: string }
  const quoted = /'([^']*)'/.exec(e.message ?? '')?.[1]
  const option = /--[\w-]+/.exec(quoted ?? '')?.[0] ?? quoted
  return new UsageError(usageLine(e, command, option), option?.startsWith('-') === true ? option : undefined)
}

function usageLine (e: { code?: string, message?: string }, command: string, option: string | undefined): string {
  const help = `see ${command} --help`
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${command}: unknown option '${option ?? '?'}' (${help})`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(e.message ?? '')
        ? `${command}: option '${option ?? '?'}' needs a value (${help})`
        : `${command}: option '${option ?? '?'}' takes no value (${help})`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `${command}: unexpected argument${option === undefined ? '' : ` '${option}'`} (${help})`
  }
  return `${command}: ${(e.message ?? '').split('\n')[0] ?? ''} (${help})`
}

/** Parses argv against a command line; throws UsageError (one line) when it does not fit. */
export function parseCommandLine (line: CommandLine, argv: readonly string[]): Parsed {
  if (wantsHelp(argv)) return { args: [], values: {}, help: true }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: Object.fromEntries(Object.entries(line.options).map(([name, o]) => [name, {
        type: o.type,
        ...(o.short === undefined ? {} : { short: o.short }),
        ...(o.multiple === undefined ? {} : { multiple: o.multiple })
      }]))
    })
  } catch (err) {
    throw usageError(err, line.usage)
  }
  const required = line.args.filter((a) => !a.startsWith('[') && !a.endsWith('...')).length
  const unbounded = line.args.some((a) => a.endsWith('...'))
  const args = parsed.positionals
  if (args.length < required) {
    const missing = line.args.slice(args.length).filter((a) => !a.startsWith('['))
    throw new UsageError(`${line.usage}: missing ${missing.join(' ')} (see ${line.usage} --help)`)
  }
  if (!unbounded && args.length > line.args.length) {
    throw new UsageError(`${line.usage}: unexpected argument '${args[line.args.length] ?? ''}' (see ${line.usage} --help)`)
  }
  return { args, values: parsed.values as Values, help: false }
}

/** The options block of a help text, aligned. */
export function optionLines (options: OptionSpecs): string[] {
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`
    return [flag, o.help + (o.multiple === true ? ' (repeatable)' : '')] as const
  })
  const width = Math.max(0, ...rows.map(([flag]) => flag.length))
  return rows.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`)
}

/** A non-negative whole number option, or undefined when absent. */
export function intOption (values: Values, name: string, command: string, min = 0): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) {
    throw new UsageError(`${command}: --${name} must be a whole number${min > 0 ? ` of at least ${min}` : ''}, not '${String(raw)}'`)
  }
  return Number(raw)
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 }

/** `90`, `90s`, `5m`, `1h`, `7d` as whole seconds. */
export function durationSeconds (raw: string, what: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(raw.trim())
  if (m === null) throw new UsageError(`${what} must be a duration like 90s, 5m, 1h or 7d (or whole seconds), not '${raw}'`)
  return Number(m[1]) * (UNITS[m[2] === '' ? 's' : m[2] as string] ?? 1)
}

export function stringOption (values: Values, name: string): string | undefined {
  const v = values[name]
  return typeof v === 'string' ? v : undefined
}

export function listOption (values: Values, name: string): string[] {
  const v = values[name]
  return Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []
}
