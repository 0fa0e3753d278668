import { describe, expect, it } from 'vitest'
import type { ReliabilityCase } from './case.js'
import { cases as crash } from './cases-crash.js'
import { cases as delivery } from './cases-delivery.js'
import { cases as mqtt } from './cases-mqtt.js'

// The reliability cases that compare rates measured one after the other, at size 'ci'. The
// `alone` project runs this file after every other file has finished, with nothing beside it.
const alone: ReliabilityCase[] = [...crash, ...mqtt, ...delivery].filter((c) => c.alone === true)

describe('reliability: cases measured with nothing beside them', () => {
  it('has a case to run', () => {
    expect(alone.map((c) => c.name)).toContain('slow webhook and frozen MQTT subscriber')
  })
  for (const c of alone) {
    it(c.name, async () => {
      const result = await c.run('ci')
      console.log(`${c.name}: ${result.figure}`)
      expect(result.pass, result.figure).toBe(true)
    }, 120_000)
  }
})
