import { describe, expect, it } from 'vitest'
import type { TwinChange } from '../../src/twins/model.js'
import { decodeHistoryGroup, encodeHistoryGroup } from '../../src/twins/store.js'

// The stored layout of a history entry: what goes in comes back, in fewer bytes than the
// changes as objects, and entries written by earlier releases (arrays of objects) still read.

const T0 = Date.UTC(2026, 0, 1)
const change = (version: number, extra: Partial<TwinChange> = {}): TwinChange => ({
  deviceId: 'd1', version, t: T0 + version, time: T0 + version, eventId: `e-${version}`, topic: 'telemetry', offset: 100 + version, changed: { temperature: 20 + version, on: true }, ...extra
})

describe('history entries', () => {
  const cases: Array<{ name: string, group: TwinChange[] }> = [
    { name: 'one change', group: [change(1)] },
    { name: 'consecutive changes of one step', group: [change(7), change(8), change(9)] },
    { name: 'a late event keeps the later t of the twin', group: [change(3), change(4, { time: T0 - 5000, t: T0 + 3 })] },
    { name: 'a step over two source topics keeps each change\'s topic', group: [change(1), change(2, { topic: 'alerts', offset: 4 }), change(3)] },
    { name: 'nested values, nulls and strings that look like the layout', group: [change(1, { changed: { o: { a: [1, null] }, s: '["x",1]', n: null } })] }
  ]
  for (const c of cases) {
    it(`${c.name}: decodes to the changes encoded`, () => {
      const json = encodeHistoryGroup(c.group)
      expect(decodeHistoryGroup('d1', JSON.parse(json))).toEqual(c.group)
    })
  }

  it('takes about two thirds of the bytes of the changes as objects', () => {
    const group = Array.from({ length: 20 }, (_, i) => change(i + 1, { eventId: crypto.randomUUID() }))
    expect(encodeHistoryGroup(group).length).toBeLessThan(JSON.stringify(group).length * 0.7)
  })

  it('reads an entry of the earlier layout (an array of change objects) as it was written', () => {
    const group = [change(1), change(2)]
    expect(decodeHistoryGroup('d1', JSON.parse(JSON.stringify(group)))).toEqual(group)
  })
})
