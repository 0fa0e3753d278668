import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { USAGE } from '../../devices-sim/options.js'

// The README's simulator section documents every flag of `devices-sim --help`.

describe('README: Device simulator', () => {
  it('names every flag of the usage text', async () => {
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8')
    const start = readme.indexOf('## Device simulator')
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1))
    const flags = [...new Set([...USAGE.matchAll(/^\s+(?:-h, )?(--[a-z0-9-]+)/gm)].map((m) => m[1] as string))].filter((f) => f !== '--help')
    expect(flags.length).toBeGreaterThan(25)
    expect(flags.filter((f) => !section.includes(`\`${f}`))).toEqual([])
  })
})
