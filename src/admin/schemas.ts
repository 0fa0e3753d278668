import { EXIT, intOption, stringOption, UsageError } from './args.js'
import { pathOf } from './client.js'
import type { Command, Context, List } from './command.js'
import { cell, json, table } from './format.js'

// gridgate schemas list|show|add: the schema registry's subjects and versions.

interface Subject { subject: string, compatibility?: string, latest?: number, updatedAt?: string }
interface Version { subject: string, version: number, id: string, schema: unknown, dataschema?: string, createdAt?: string }

const MODES = ['backward', 'forward', 'full', 'none']

/** A JSON file (or standard input for `-`), parsed. */
async function readJson (ctx: Context, file: string, usage: string): Promise<unknown> {
  let text: string
  try {
    text = await ctx.readInput(file)
  } catch (err) {
    throw new UsageError(`${usage}: cannot read ${file}: ${(err as Error).message.split('\n')[0] ?? ''}`)
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${usage}: ${file} is not JSON: ${(err as Error).message}`)
  }
}

export const schemaCommands: readonly Command[] = [
  {
    group: 'schemas',
    name: 'list',
    args: [],
    summary: 'List the schema subjects with their compatibility mode and latest version.',
    async run (ctx) {
      const list = await ctx.api.call<List<Subject>>('GET', '/schemas')
      if (ctx.json) ctx.out(json(list))
      else if (list.value.length === 0) ctx.out('no schema subjects\n')
      else ctx.out(table(['SUBJECT', 'MODE', 'LATEST', 'UPDATED'], list.value.map((s) => [s.subject, s.compatibility, s.latest, s.updatedAt])))
      return EXIT.ok
    }
  },
  {
    group: 'schemas',
    name: 'show',
    args: ['SUBJECT'],
    summary: 'Print a version of a subject (default: the latest) with its schema.',
    options: { version: { type: 'string', value: 'N', help: 'this version instead of the latest' } },
    async run (ctx, [subject = ''], values, usage) {
      const n = intOption(values, 'version', usage, 1)
      const v = await ctx.api.call<Version>('GET', `${pathOf('schemas', subject)}/versions/${n ?? 'latest'}`)
      ctx.out(ctx.json ? json(v) : `subject ${v.subject}, version ${v.version} (id ${v.id}, ${cell(v.dataschema)}, ${cell(v.createdAt)})\n${JSON.stringify(v.schema, null, 2)}\n`)
      return EXIT.ok
    }
  },
  {
    group: 'schemas',
    name: 'add',
    args: ['SUBJECT'],
    summary: 'Register a JSON Schema as the next version of a subject (refused when it breaks the subject\'s mode).',
    details: ['The file holds the JSON Schema (draft 2020-12) itself, e.g. {"type":"object","properties":{"total":{"type":"number"}}}'],
    options: {
      file: { type: 'string', short: 'f', value: 'FILE', help: 'the JSON Schema; - reads standard input' },
      compatibility: { type: 'string', value: 'MODE', help: `set the subject's mode: ${MODES.join(', ')} (default: keep it; backward for a new subject)` }
    },
    async run (ctx, [subject = ''], values, usage) {
      const file = stringOption(values, 'file')
      if (file === undefined) throw new UsageError(`${usage}: --file FILE is required (- for standard input)`)
      const compatibility = stringOption(values, 'compatibility')
      if (compatibility !== undefined && !MODES.includes(compatibility)) throw new UsageError(`${usage}: --compatibility must be one of ${MODES.join(', ')}, not '${compatibility}'`)
      const schema = await readJson(ctx, file, usage)
      const r = await ctx.api.call<{ subject: string, version: number, id: string }>('PUT', `${pathOf('schemas', subject)}/versions`, { body: { schema, ...(compatibility === undefined ? {} : { compatibility }) } })
      ctx.out(ctx.json ? json(r) : `subject ${r.subject}: version ${r.version} (id ${r.id})\n`)
      return EXIT.ok
    }
  }
]
