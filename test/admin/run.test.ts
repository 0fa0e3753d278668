import { describe, expect, it } from 'vitest'
import { COMMANDS, runAdmin, type AdminIo } from '../../src/admin/run.js'

// The dispatcher and help texts, without a gateway: nothing here reaches the network.

async function run (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  let out = ''
  let err = ''
  const io: AdminIo = {
    env: { GRIDGATE_URL: 'http://127.0.0.1:1' },
    stdout: (t) => { out += t },
    stderr: (t) => { err += t },
    readInput: async () => '',
    signal: new AbortController().signal,
    now: () => 0
  }
  return { code: await runAdmin(argv, io), out, err }
}

const invocations = COMMANDS.map((c) => ({ argv: c.name === undefined ? [c.group] : [c.group, c.name], usage: ['gridgate', c.group, c.name].filter(Boolean).join(' ') }))

describe('admin commands', () => {
  it.each(invocations)('$usage --help shows its usage, options and exit codes', async ({ argv, usage }) => {
    const res = await run([...argv, '--help'])
    expect(res.code).toBe(0)
    expect(res.out).toMatch(new RegExp(`^Usage: ${usage}`))
    expect(res.out).toContain('--json')
    expect(res.out).toContain('Exit codes: 0')
    expect(res.err).toBe('')
  })

  it.each(['devices', 'topics', 'subscriptions', 'commands'])('gridgate %s --help lists its commands', async (group) => {
    const res = await run([group, '--help'])
    expect(res.code).toBe(0)
    for (const c of COMMANDS.filter((c) => c.group === group)) expect(res.out).toContain(`  ${c.name ?? ''}`)
  })

  it('asks which command when a group is given alone, in one line, exit code 2', async () => {
    const res = await run(['devices'])
    expect(res).toEqual({ code: 2, out: '', err: 'gridgate devices: which one? add, list, show, rm (see gridgate devices --help)\n' })
  })

  it('refuses an unknown command of a group', async () => {
    const res = await run(['topics', 'purge'])
    expect(res.code).toBe(2)
    expect(res.err).toBe("gridgate topics: unknown command 'purge'; one of list, show, create, rm, events\n")
  })

  it('refuses a bad option before calling the gateway', async () => {
    const res = await run(['commands', 'send', 'pump-1', 'reboot', '--payload', '{bad'])
    expect(res.code).toBe(2)
    expect(res.err).toMatch(/^gridgate commands send: --payload is not JSON/)
    expect(res.err.split('\n')).toHaveLength(2)
  })
})
