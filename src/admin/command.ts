import type { OptionSpecs, Values } from './args.js'
import type { Api } from './client.js'

// One admin command: its command line (for parsing and --help) and what it does.

export interface Context {
  api: Api
  /** --json: print the API's JSON instead of tables. */
  json: boolean
  out: (text: string) => void
  now: () => number
  /** Aborted by SIGINT or SIGTERM: a following command (tail) ends with exit code 0. */
  signal: AbortSignal
  /** Reads a file, or standard input for `-` (subscriptions create --file). */
  readInput: (file: string) => Promise<string>
}

export interface Command {
  /** `devices`, or the command itself for one-word commands (`tail`). */
  group: string
  /** `add`; undefined for one-word commands. */
  name?: string
  args: readonly string[]
  summary: string
  /** More lines of help after the summary. */
  details?: readonly string[]
  options?: OptionSpecs
  /** Returns the exit code. `usage` is `gridgate devices add`, for messages. */
  run: (ctx: Context, args: string[], values: Values, usage: string) => Promise<number>
}

/** `{"value":[...]}` lists of the API. */
export interface List<T> { value: T[] }
