import { describe, expect, it } from 'vitest'
import { durationSeconds, errorLine, intOption, parseCommandLine, UsageError, wantsHelp, type CommandLine } from '../../src/admin/args.js'

const LINE: CommandLine = {
  usage: 'gridgate things add',
  args: ['ID', '[NOTE]'],
  options: {
    count: { type: 'string', value: 'N', help: 'how many' },
    tag: { type: 'string', multiple: true, help: 'a tag' },
    quiet: { type: 'boolean', short: 'q', help: 'say less' }
  }
}

function usageError (argv: string[]): UsageError {
  try {
    parseCommandLine(LINE, argv)
  } catch (err) {
    if (err instanceof UsageError) return err
    throw err
  }
  throw new Error('no usage error')
}

describe('command lines', () => {
  it('reads arguments, repeated and short options', () => {
    const p = parseCommandLine(LINE, ['a', 'b', '--count', '3', '--tag', 'x', '--tag', 'y', '-q'])
    expect(p).toEqual({ args: ['a', 'b'], values: { count: '3', tag: ['x', 'y'], quiet: true }, help: false })
  })

  it('answers --help and -h before judging anything else', () => {
    expect(parseCommandLine(LINE, ['--bogus', '--help']).help).toBe(true)
    expect(parseCommandLine(LINE, ['-h']).help).toBe(true)
    expect(wantsHelp(['a', '--', '--help'])).toBe(false)
  })

  it.each([
    { argv: ['a', '--port', '1'], line: "gridgate things add: unknown option '--port' (see gridgate things add --help)", option: '--port' },
    { argv: ['a', '--count'], line: "gridgate things add: option '--count' needs a value (see gridgate things add --help)", option: '--count' },
    { argv: ['a', '--quiet=yes'], line: "gridgate things add: option '--quiet' takes no value (see gridgate things add --help)", option: '--quiet' },
    { argv: [], line: 'gridgate things add: missing ID (see gridgate things add --help)' },
    { argv: ['a', 'b', 'c'], line: "gridgate things add: unexpected argument 'c' (see gridgate things add --help)" }
  ])('refuses $argv in one line naming the command', ({ argv, line, option }) => {
    const err = usageError(argv)
    expect(err.message).toBe(line)
    expect(err.option).toBe(option)
  })

  it('prints command lines as they are and other errors after gridgate:', () => {
    expect(errorLine('gridgate start: unknown option')).toBe('gridgate start: unknown option')
    expect(errorLine('cannot reach x:\n  refused')).toBe('gridgate: cannot reach x:; refused')
  })

  it.each([
    { raw: '0', s: 0 }, { raw: '90', s: 90 }, { raw: '90s', s: 90 }, { raw: '5m', s: 300 }, { raw: '1h', s: 3600 }, { raw: '7d', s: 604800 }
  ])('reads the duration $raw as $s seconds', ({ raw, s }) => {
    expect(durationSeconds(raw, '--max-age')).toBe(s)
  })

  it.each(['', '1.5h', '-1', '5 minutes', '1w'])('refuses the duration %j', (raw) => {
    expect(() => durationSeconds(raw, '--max-age')).toThrow(/--max-age must be a duration like 90s/)
  })

  it('reads whole numbers and refuses others, naming the option', () => {
    expect(intOption({ limit: '10' }, 'limit', 'gridgate x')).toBe(10)
    expect(intOption({}, 'limit', 'gridgate x')).toBeUndefined()
    expect(() => intOption({ limit: 'ten' }, 'limit', 'gridgate x')).toThrow("gridgate x: --limit must be a whole number, not 'ten'")
    expect(() => intOption({ limit: '0' }, 'limit', 'gridgate x', 1)).toThrow('of at least 1')
  })
})
