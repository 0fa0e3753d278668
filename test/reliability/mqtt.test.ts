import { describe, expect, it } from 'vitest'
import { cases } from './cases-mqtt.js'

// The MQTT reliability cases at size 'ci' (npm run soak runs them at full size).
describe('reliability: MQTT', () => {
  it.each(cases.filter((c) => c.alone !== true).map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const result = await c.run('ci')
    console.log(`${c.name}: ${result.figure}`)
    expect(result.pass, result.figure).toBe(true)
  }, 60_000)
})
