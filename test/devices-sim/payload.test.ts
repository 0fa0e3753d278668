import { describe, expect, it } from 'vitest'
import { SimError } from '../../devices-sim/errors.js'
import { compileTemplate, DEFAULT_TEMPLATE, DevicePayload, formatNumber, seededRandom, walkStep } from '../../devices-sim/payload.js'

describe('compileTemplate', () => {
  it.each<[string, unknown, number[], number[]]>([
    ['the default', DEFAULT_TEMPLATE, [21.5, 40, 3.7], [1, 0, 1]],
    ['nested objects and arrays', { env: { t: 1.25, tags: ['a', 2] }, on: true, n: null }, [1.25, 2], [2, 0]],
    ['no numbers', { status: 'ok' }, [], []],
    ['empty', {}, [], []],
    ['small and exponent numbers', { a: 0.001, b: 1e-7, c: -3 }, [0.001, 1e-7, -3], [3, 6, 0]]
  ])('%s', (_name, template, initial, decimals) => {
    const t = compileTemplate(template)
    expect(t.initial).toEqual(initial)
    expect(t.decimals).toEqual(decimals)
    expect(t.pieces).toHaveLength(initial.length + 1)
  })

  it.each([[[1, 2]], ['text'], [null], [42]])('refuses %j with the source named', (template) => {
    expect(() => compileTemplate(template, '--payload p.json')).toThrow(SimError)
    expect(() => compileTemplate(template, '--payload p.json')).toThrow(/--payload p.json: the payload template must be a JSON object/)
  })
})

describe('DevicePayload', () => {
  it('renders JSON with run, seq and sentAt first and the template shape after', () => {
    const p = new DevicePayload(compileTemplate({ env: { t: 20.5, tags: ['x', 1] }, name: 'a "quoted" \\ name', seq: 99 }), seededRandom(1))
    const msg = JSON.parse(p.next('run1', 7, 1_764_000_000_123.456))
    expect(Object.keys(msg)).toEqual(['run', 'seq', 'sentAt', 'env', 'name'])
    expect(msg).toMatchObject({ run: 'run1', seq: 7, sentAt: 1_764_000_000_123.456, name: 'a "quoted" \\ name', env: { tags: ['x', expect.any(Number)] } })
    expect(typeof msg.env.t).toBe('number')
  })

  it('renders an empty template as the measurement fields only', () => {
    expect(new DevicePayload(compileTemplate({}), Math.random).next('r', 1, 5)).toBe('{"run":"r","seq":1,"sentAt":5}')
  })

  it('random-walks every number: changes, keeps its decimals and stays near the template', () => {
    const p = new DevicePayload(compileTemplate(DEFAULT_TEMPLATE), seededRandom(42))
    const seen = { temperature: new Set<number>(), humidity: new Set<number>(), battery: new Set<number>() }
    for (let i = 1; i <= 10_000; i++) {
      const m = JSON.parse(p.next('r', i, i)) as Record<string, number>
      for (const k of ['temperature', 'humidity', 'battery'] as const) seen[k].add(m[k] as number)
      expect(m.temperature).toBeGreaterThan(21.5 * 0.8)
      expect(m.temperature).toBeLessThan(21.5 * 1.2)
      expect(Number.isInteger(m.humidity)).toBe(true)
      expect(String(m.battery)).toMatch(/^\d+(\.\d)?$/)
    }
    expect(seen.temperature.size).toBeGreaterThan(3)
    expect(seen.humidity.size).toBeGreaterThan(1)
    expect(seen.battery.size).toBeGreaterThan(1)
  })

  it('two devices walk independently', () => {
    const t = compileTemplate({ v: 100 })
    const a = new DevicePayload(t, seededRandom(1))
    const b = new DevicePayload(t, seededRandom(2))
    const va = Array.from({ length: 20 }, (_, i) => JSON.parse(a.next('r', i + 1, 0)).v)
    const vb = Array.from({ length: 20 }, (_, i) => JSON.parse(b.next('r', i + 1, 0)).v)
    expect(va).not.toEqual(vb)
  })
})

describe('walkStep and formatNumber', () => {
  it.each([
    // current, initial, decimals, random, next
    [20, 20, 1, 0.5, 20], // no noise, at the mean
    [20, 20, 1, 1, 20.2], // +1 % of 20
    [20, 20, 1, 0, 19.8],
    [30, 20, 1, 0.5, 29.5], // 5 % back towards 20
    [0, 0, 0, 1, 1], // a zero template walks by one unit of its last place
    [0, 0, 2, 0, -0.01]
  ])('from %d (template %d, %d decimals, random %d) to %d', (current, initial, decimals, random, next) => {
    expect(walkStep(current, initial, decimals, () => random)).toBeCloseTo(next, 10)
  })

  it.each([
    [21.456, 1, '21.5'],
    [21.0, 1, '21'],
    [-0.04, 1, '0'],
    [39.6, 0, '40'],
    [1.23456789, 6, '1.234568']
  ])('formats %d with %d decimals as %s', (value, decimals, text) => {
    expect(formatNumber(value, decimals)).toBe(text)
  })
})
