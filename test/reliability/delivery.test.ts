import { describe, expect, it } from 'vitest'
import { cases } from './cases-delivery.js'

// The delivery, HTTP and permission reliability cases at size 'ci' (npm run soak runs them big);
// the ones marked `alone` run in alone.test.ts.

describe('reliability: delivery, HTTP side and permissions', () => {
  for (const c of cases.filter((c) => c.alone !== true)) {
    it(c.name, async () => {
      const result = await c.run('ci')
      expect(result.pass, result.figure).toBe(true)
    }, 120_000)
  }
})
