import { describe, expect, it } from 'vitest'
import { readEvent, type SourceSpec } from '../../src/telemetry/source.js'

const ARRIVAL = Date.UTC(2026, 0, 1, 12)
const source: SourceSpec = { topic: 'telemetry', types: ['device.telemetry'] }
const event = (data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: 'device.telemetry', deviceid: 'dev-1', data, ...extra })

describe('readings of a telemetry event', () => {
  it.each([
    ['flat numbers', { t: 21.5, h: 40 }, source, [['t', 21.5], ['h', 40]], 0],
    ['nested fields by dot path', { env: { t: 1, inner: { p: 2 } } }, source, [['env.t', 1], ['env.inner.p', 2]], 0],
    ['a bare number as "value"', 7, source, [['value', 7]], 0],
    ['non-numbers skipped and counted', { t: 1, s: 'on', b: true, n: null, a: [1, 2] }, source, [['t', 1]], 4],
    ['names that cannot be metrics skipped and counted', { 'a b': 1, 'x/y': 2, ok: 3 }, source, [['ok', 3]], 2],
    ['only the configured fields', { t: 1, h: 2, env: { p: 3, q: 4 } }, { ...source, fields: ['h', 'env'] }, [['h', 2], ['env.p', 3], ['env.q', 4]], 0],
    ['the time field is not a reading', { ts: ARRIVAL - 1000, t: 1 }, { ...source, timeField: 'ts' }, [['t', 1]], 0],
    ['no numeric field: no readings', { s: 'x' }, source, [], 1]
  ])('takes %s', (_name, data, src, readings, skipped) => {
    const r = readEvent(event(data), ARRIVAL, src)
    expect(r).toEqual({ deviceId: 'dev-1', time: typeof data === 'object' && data !== null && 'ts' in data ? ARRIVAL - 1000 : ARRIVAL, readings, skipped })
  })

  it.each([
    ['epoch ms', ARRIVAL - 500, ARRIVAL - 500],
    ['RFC 3339', '2026-01-01T11:59:59.250Z', ARRIVAL - 750],
    ['RFC 3339 with an offset', '2026-01-01T13:00:00+01:00', ARRIVAL]
  ])('reads the event time from the time field as %s', (_name, ts, time) => {
    expect(readEvent(event({ ts, t: 1 }), ARRIVAL, { ...source, timeField: 'ts' })).toMatchObject({ time })
  })

  it('uses the arrival time when the time field is absent', () => {
    expect(readEvent(event({ t: 1 }), ARRIVAL, { ...source, timeField: 'ts' })).toMatchObject({ time: ARRIVAL })
  })

  it.each([
    ['another type', event({ t: 1 }, { type: 'device.event' }), source, 'type'],
    ['no deviceid', event({ t: 1 }, { deviceid: undefined }), source, 'device'],
    ['a deviceid that is not an id', event({ t: 1 }, { deviceid: 'a/b' }), source, 'device'],
    ['an unreadable time field', event({ ts: 'yesterday', t: 1 }), { ...source, timeField: 'ts' }, 'time'],
    ['an impossible date', event({ ts: '2026-02-30T00:00:00Z', t: 1 }), { ...source, timeField: 'ts' }, 'time']
  ])('passes over an event of %s', (_name, ev, src, reason) => {
    expect(readEvent(ev, ARRIVAL, src)).toBe(reason)
  })

  it('takes every type when the source lists none', () => {
    expect(readEvent(event({ t: 1 }, { type: 'x' }), ARRIVAL, { topic: 't', types: [] })).toMatchObject({ readings: [['t', 1]] })
  })
})
