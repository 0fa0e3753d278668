import { errorLine, EXIT, optionLines, parseCommandLine, stringOption, UsageError, wantsHelp, type OptionSpecs } from './args.js'
import { ApiError, createApi, resolveTarget, UnreachableError } from './client.js'
import type { Command } from './command.js'
import { deviceCommandCommands } from './device-commands.js'
import { deviceCommands } from './devices.js'
import { schemaCommands } from './schemas.js'
import { subscriptionCommands } from './subscriptions.js'
import { tailCommand } from './tail.js'
import { telemetryCommand } from './telemetry.js'
import { topicCommands } from './topics.js'

// The admin CLI: `gridgate <group> [<command>] ...` as a client of the HTTP API. Every
// command has --help; errors are one line on stderr with the exit codes of EXIT.

export const GLOBAL_OPTIONS: OptionSpecs = {
  url: { type: 'string', value: 'URL', help: 'the gateway\'s HTTP URL (GRIDGATE_URL; default http://127.0.0.1:8080, or GRIDGATE_HTTP_HOST/GRIDGATE_HTTP_PORT)' },
  key: { type: 'string', value: 'KEY', help: 'the access key (GRIDGATE_KEY; default: DIR/http-access-key)' },
  'data-dir': { type: 'string', value: 'DIR', help: 'a local gateway\'s data directory, for its key file (GRIDGATE_DATA_DIR; default ./data)' },
  json: { type: 'boolean', help: 'print the API\'s JSON instead of tables' },
  help: { type: 'boolean', short: 'h', help: 'show this help' }
}

export const COMMANDS: readonly Command[] = [
  ...deviceCommands, ...topicCommands, ...subscriptionCommands, ...deviceCommandCommands, tailCommand, telemetryCommand, ...schemaCommands
]

const GROUP_SUMMARIES: Readonly<Record<string, string>> = {
  devices: 'the device registry',
  topics: 'namespace topics',
  subscriptions: 'event subscriptions of a topic',
  commands: 'commands to devices',
  tail: 'follow a topic\'s new events',
  telemetry: 'a device\'s metrics, or one metric in windows',
  schemas: 'the schema registry\'s subjects and versions'
}

export const ADMIN_GROUPS: ReadonlySet<string> = new Set(COMMANDS.map((c) => c.group))

export const EXIT_CODES_HELP = `Exit codes: ${EXIT.ok} done, ${EXIT.refused} the API refused (its error code and message on stderr), ` +
  `${EXIT.usage} wrong command line, ${EXIT.unreachable} the gateway cannot be reached`

export interface AdminIo {
  env: Record<string, string | undefined>
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Reads a file, or standard input for `-`. */
  readInput: (file: string) => Promise<string>
  /** Aborted by SIGINT/SIGTERM. */
  signal: AbortSignal
  now: () => number
}

const membersOf = (group: string): Command[] => COMMANDS.filter((c) => c.group === group)

function usageOf (c: Command): string {
  return `gridgate ${c.group}${c.name === undefined ? '' : ` ${c.name}`}`
}

function synopsis (c: Command): string {
  return [usageOf(c), ...c.args].join(' ')
}

/** `gridgate devices add --help`. */
export function commandHelp (c: Command): string {
  const own = c.options ?? {}
  return [
    `Usage: ${synopsis(c)} [options]`,
    '',
    c.summary,
    ...(c.details ?? []),
    ...(Object.keys(own).length === 0 ? [] : ['', 'Options:', ...optionLines(own)]),
    '',
    'Global options:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    EXIT_CODES_HELP + (c.group === 'commands' && c.name === 'send' ? `, ${EXIT.commandFailed} the command did not succeed (with --wait)` : '') + '.',
    ''
  ].join('\n')
}

/** `gridgate devices --help`. */
export function groupHelp (group: string): string {
  const members = membersOf(group)
  const rows = members.map((c) => [[c.name ?? '', ...c.args].join(' '), c.summary] as const)
  const width = Math.max(...rows.map(([s]) => s.length))
  return [
    `Usage: gridgate ${group} <command> [options]`,
    '',
    `${GROUP_SUMMARIES[group] ?? group}:`,
    ...rows.map(([s, summary]) => `  ${s.padEnd(width)}  ${summary}`),
    '',
    `gridgate ${group} <command> --help shows a command's options.`,
    ''
  ].join('\n')
}

/** The admin part of `gridgate --help`. */
export function adminSummary (): string[] {
  const rows = [...ADMIN_GROUPS].map((group) => {
    const members = membersOf(group)
    const only = members.length === 1 && members[0]?.name === undefined ? members[0] : undefined
    const head = only === undefined ? `${group} ${members.map((c) => c.name).join('|')}` : [group, ...only.args].join(' ')
    return [head, GROUP_SUMMARIES[group] ?? ''] as const
  })
  // Heads longer than the column get their summary on the next line.
  const width = Math.max(...rows.map(([h]) => h.length).filter((n) => n <= 34))
  return rows.flatMap(([head, summary]) => head.length > width
    ? [`  ${head}`, `  ${''.padEnd(width)}  ${summary}`]
    : [`  ${head.padEnd(width)}  ${summary}`])
}

/** One line for stderr and the exit code of a failed command. */
export function failure (err: unknown): { line: string, code: number } {
  if (err instanceof UsageError) return { line: err.message, code: EXIT.usage }
  if (err instanceof ApiError) return { line: `${err.status} ${err.code}: ${err.message}`, code: EXIT.refused }
  if (err instanceof UnreachableError) return { line: err.message, code: EXIT.unreachable }
  return { line: err instanceof Error ? err.message : String(err), code: EXIT.refused }
}

/** Runs `argv` (its first element is the group: devices, topics, ..., tail, telemetry). */
export async function runAdmin (argv: readonly string[], io: AdminIo): Promise<number> {
  const [group = '', ...rest] = argv
  const members = membersOf(group)
  try {
    let command: Command | undefined = members.length === 1 && members[0]?.name === undefined ? members[0] : undefined
    let args = rest
    if (command === undefined) {
      const name = rest[0]
      const names = members.map((c) => c.name).join(', ')
      if (name === undefined || name.startsWith('-')) {
        if (wantsHelp(rest)) { io.stdout(groupHelp(group)); return EXIT.ok }
        throw new UsageError(`gridgate ${group}: which one? ${names} (see gridgate ${group} --help)`)
      }
      command = members.find((c) => c.name === name)
      if (command === undefined) throw new UsageError(`gridgate ${group}: unknown command '${name}'; one of ${names}`)
      args = rest.slice(1)
    }
    const usage = usageOf(command)
    const parsed = parseCommandLine({ usage, args: command.args, options: { ...command.options, ...GLOBAL_OPTIONS } }, args)
    if (parsed.help) { io.stdout(commandHelp(command)); return EXIT.ok }
    const target = resolveTarget({ url: stringOption(parsed.values, 'url'), key: stringOption(parsed.values, 'key'), dataDir: stringOption(parsed.values, 'data-dir'), env: io.env })
    return await command.run({
      api: createApi(target),
      json: parsed.values.json === true,
      out: io.stdout,
      now: io.now,
      signal: io.signal,
      readInput: io.readInput
    }, parsed.args, parsed.values, usage)
  } catch (err) {
    const { line, code } = failure(err)
    io.stderr(errorLine(line) + '\n')
    return code
  }
}
