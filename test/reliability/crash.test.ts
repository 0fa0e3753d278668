import { describe, expect, it } from 'vitest'
import { cases } from './cases-crash.js'

// The crash cases of the reliability suite at size 'ci' (the soak sizes run in `npm run soak`).
describe('reliability: crashes and write errors', () => {
  for (const c of cases.filter((c) => c.alone !== true)) {
    it(c.name, async () => {
      const result = await c.run('ci')
      expect(result.pass, result.figure).toBe(true)
    }, 120_000)
  }
})
