import { describe, expect, it } from 'vitest'
import { createRetainedCap } from '../../src/broker/retained-cap.js'

type Step = [device: string, topic: string, clearing: boolean, allowed: boolean]

describe('createRetainedCap', () => {
  it.each<{ name: string, max: number, steps: Step[] }>([
    { name: 'allows up to max distinct topics per device', max: 2, steps: [['d1', 'a', false, true], ['d1', 'b', false, true], ['d1', 'c', false, false]] },
    { name: 'counts a topic once however often it is retained', max: 1, steps: [['d1', 'a', false, true], ['d1', 'a', false, true], ['d1', 'b', false, false]] },
    { name: 'counts each device on its own', max: 1, steps: [['d1', 'a', false, true], ['d2', 'a', false, true], ['d2', 'b', false, false], ['d1', 'b', false, false]] },
    { name: 'a clearing publish frees its topic', max: 1, steps: [['d1', 'a', false, true], ['d1', 'b', false, false], ['d1', 'a', true, true], ['d1', 'b', false, true]] },
    { name: 'a clearing publish is allowed at the cap and for unknown topics or devices', max: 1, steps: [['d1', 'a', false, true], ['d1', 'z', true, true], ['d9', 'z', true, true], ['d1', 'b', false, false]] },
    { name: 'max 0 is no limit', max: 0, steps: [['d1', 'a', false, true], ['d1', 'b', false, true], ['d1', 'c', false, true]] }
  ])('$name', ({ max, steps }) => {
    const cap = createRetainedCap(max)
    expect(steps.map(([device, topic, clearing]) => cap.allow(device, topic, clearing))).toEqual(steps.map((s) => s[3]))
  })
})
