import { describe, expect, it } from 'vitest'
import { applyChange, foldEvent, sourceEvent } from '../../src/twins/fold.js'
import { computeDelta, mergePatch } from '../../src/twins/desired.js'
import { deepEqual, emptyReported, type ReportedState, type SourceEvent } from '../../src/twins/model.js'

// The pure parts of twins: folding events into reported state, the delta, RFC 7396 merge patch.

const T0 = Date.UTC(2026, 0, 1)
const ev = (offset: number, data: Record<string, unknown>, extra: Partial<SourceEvent> = {}): SourceEvent =>
  ({ deviceId: 'd1', eventId: `e${offset}`, time: T0 + offset * 1000, topic: 'telemetry', offset, data, ...extra })

function foldAll (events: SourceEvent[]): { state: ReportedState, versions: number[] } {
  let state = emptyReported('d1')
  const versions: number[] = []
  for (const e of events) {
    const f = foldEvent(state, e)
    if (f.change !== undefined) versions.push(f.change.version)
    state = f.state
  }
  return { state, versions }
}

describe('foldEvent', () => {
  const cases: Array<{ name: string, events: SourceEvent[], fields: Record<string, [unknown, number]>, version: number }> = [
    { name: 'the first event sets each top-level field', events: [ev(0, { a: 1, b: 'x' })], fields: { a: [1, 0], b: ['x', 0] }, version: 1 },
    { name: 'a later value replaces the field and names its event', events: [ev(0, { a: 1 }), ev(1, { a: 2 })], fields: { a: [2, 1] }, version: 2 },
    { name: 'the same value again changes nothing (the first event stays the one that set it)', events: [ev(0, { a: 1 }), ev(1, { a: 1 })], fields: { a: [1, 0] }, version: 1 },
    { name: 'equal objects in another key order are the same value', events: [ev(0, { o: { x: 1, y: 2 } }), ev(1, { o: { y: 2, x: 1 } })], fields: { o: [{ x: 1, y: 2 }, 0] }, version: 1 },
    { name: 'a nested object is one field, replaced whole', events: [ev(0, { o: { x: 1, y: 2 } }), ev(1, { o: { x: 1 } })], fields: { o: [{ x: 1 }, 1] }, version: 2 },
    { name: 'fields of other events stay', events: [ev(0, { a: 1 }), ev(1, { b: 2 })], fields: { a: [1, 0], b: [2, 1] }, version: 2 },
    { name: 'null and arrays are values like any other', events: [ev(0, { a: null, l: [1, 2] }), ev(1, { a: null, l: [2, 1] })], fields: { a: [null, 0], l: [[2, 1], 1] }, version: 2 },
    { name: 'an event with empty data changes nothing', events: [ev(0, {})], fields: {}, version: 0 }
  ]
  for (const c of cases) {
    it(c.name, () => {
      const { state } = foldAll(c.events)
      expect(state.version).toBe(c.version)
      expect(Object.fromEntries(Object.entries(state.fields).map(([k, f]) => [k, [f.value, f.offset]]))).toEqual(c.fields)
    })
  }

  it('keeps t non-decreasing and positions per topic, so asOf and atOffset can search on them', () => {
    const { state } = foldAll([ev(5, { a: 1 }), ev(6, { a: 2 }, { time: T0 }), ev(0, { b: 1 }, { topic: 'events' })])
    expect(state.t).toBe(T0 + 5000)
    expect(state.positions).toEqual({ telemetry: 6, events: 0 })
  })

  it('replaying the history entries gives the same state as folding the events', () => {
    const events = [ev(0, { a: 1, b: 1 }), ev(1, { a: 1 }), ev(2, { b: 3 }), ev(3, { c: { d: 1 } })]
    let folded = emptyReported('d1')
    let replayed = emptyReported('d1')
    for (const e of events) {
      const f = foldEvent(folded, e)
      folded = f.state
      if (f.change !== undefined) replayed = applyChange(replayed, f.change)
    }
    expect(replayed).toEqual(folded)
  })

  it('leaves the state it was given untouched', () => {
    const before = foldEvent(emptyReported('d1'), ev(0, { a: 1 })).state
    const copy = structuredClone(before)
    foldEvent(before, ev(1, { a: 2, b: 1 }))
    expect(before).toEqual(copy)
  })
})

describe('sourceEvent', () => {
  const cases: Array<{ name: string, event: unknown, device?: string }> = [
    { name: 'a device event with object data', event: { id: 'x', deviceid: 'd1', time: '2026-01-01T00:00:01.000Z', data: { a: 1 } }, device: 'd1' },
    { name: 'binary data is not a source', event: { id: 'x', deviceid: 'd1', data_base64: 'AA==' } },
    { name: 'array data is not a source', event: { id: 'x', deviceid: 'd1', data: [1] } },
    { name: 'no deviceid (an HTTP-published event) is not a source', event: { id: 'x', data: { a: 1 } } },
    { name: 'an invalid device id is not a source', event: { id: 'x', deviceid: 'a!b', data: { a: 1 } } }
  ]
  for (const c of cases) {
    it(c.name, () => expect(sourceEvent('t', 0, T0, c.event)?.deviceId).toBe(c.device))
  }
  it('takes the time from the event, or the arrival when it has none', () => {
    expect(sourceEvent('t', 0, T0, { deviceid: 'd1', time: '2026-01-01T00:00:01.000Z', data: {} })?.time).toBe(T0 + 1000)
    expect(sourceEvent('t', 0, T0, { deviceid: 'd1', data: {} })?.time).toBe(T0)
  })
})

describe('mergePatch (RFC 7396 appendix A)', () => {
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }]
  ]
  for (const [target, patch, result] of cases) {
    it(`${JSON.stringify(target)} + ${JSON.stringify(patch)} = ${JSON.stringify(result)}`, () => {
      const before = structuredClone(target)
      expect(mergePatch(target, patch)).toEqual(result)
      expect(target).toEqual(before)
    })
  }
})

describe('computeDelta', () => {
  const reported = foldAll([ev(0, { open: true, limits: { max: 80 }, speed: 3 })]).state.fields
  const cases: Array<{ name: string, desired: Record<string, unknown>, delta: Record<string, unknown> }> = [
    { name: 'nothing desired, nothing to do', desired: {}, delta: {} },
    { name: 'a field reported with the desired value is done', desired: { open: true }, delta: {} },
    { name: 'a different value is in the delta', desired: { open: false }, delta: { open: false } },
    { name: 'a field never reported is in the delta', desired: { color: 'red' }, delta: { color: 'red' } },
    { name: 'objects compare deeply', desired: { limits: { max: 80 } }, delta: {} },
    { name: 'an object differing in one member is in the delta whole', desired: { limits: { max: 90 } }, delta: { limits: { max: 90 } } }
  ]
  for (const c of cases) it(c.name, () => expect(computeDelta(c.desired, reported)).toEqual(c.delta))
})

describe('deepEqual', () => {
  const cases: Array<[unknown, unknown, boolean]> = [
    [1, 1, true], [1, '1', false], [null, null, true], [null, {}, false], [[], {}, false],
    [[1, [2]], [1, [2]], true], [[1, 2], [2, 1], false], [{ a: 1, b: 2 }, { b: 2, a: 1 }, true], [{ a: undefined }, {}, false]
  ]
  for (const [a, b, equal] of cases) it(`${JSON.stringify(a)} vs ${JSON.stringify(b)}: ${equal}`, () => expect(deepEqual(a, b)).toBe(equal))
})
