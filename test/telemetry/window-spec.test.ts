import { describe, expect, it } from 'vitest'
import { caught } from '../helpers/errors.js'
import { parseWindow, renderWindow, sameWindow } from '../../src/telemetry/window-spec.js'

const tumbling = { kind: 'tumbling', sizeSeconds: 60 }

describe('window definitions', () => {
  it.each([
    ['tumbling', { window: tumbling }, { kind: 'tumbling', sizeMs: 60_000, offsetMs: 0 }],
    ['tumbling with offset', { window: { kind: 'tumbling', sizeSeconds: 60, offsetSeconds: 15 } }, { kind: 'tumbling', sizeMs: 60_000, offsetMs: 15_000 }],
    ['hopping', { window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 5 } }, { kind: 'hopping', sizeMs: 10_000, hopMs: 5_000, offsetMs: 0 }],
    ['sliding, sub-second', { window: { kind: 'sliding', sizeSeconds: 0.25 } }, { kind: 'sliding', sizeMs: 250 }],
    ['session', { window: { kind: 'session', timeoutSeconds: 5, maxDurationSeconds: 60 } }, { kind: 'session', timeoutMs: 5000, maxDurationMs: 60_000 }]
  ])('accepts %s windows in ms', (_name, body, shape) => {
    expect(parseWindow(body).spec.window).toEqual(shape)
  })

  it('fills the defaults: telemetry in, telemetry-windows out, every metric, count/min/max/avg', () => {
    const { spec, matcher } = parseWindow({ window: tumbling })
    expect(spec).toEqual({ sourceTopic: 'telemetry', outputTopic: 'telemetry-windows', metrics: [], aggregates: ['count', 'min', 'max', 'avg'], window: { kind: 'tumbling', sizeMs: 60_000, offsetMs: 0 } })
    expect(matcher).toBeUndefined()
  })

  it.each([
    ['a body that is not an object', 'x', 'body'],
    ['an unknown field', { window: tumbling, extra: 1 }, 'extra'],
    ['no window', {}, 'window'],
    ['an unknown kind', { window: { kind: 'weekly' } }, 'window.kind'],
    ['a field of another kind', { window: { kind: 'tumbling', sizeSeconds: 1, hopSeconds: 1 } }, 'window.hopSeconds'],
    ['a missing size', { window: { kind: 'sliding' } }, 'window.sizeSeconds'],
    ['a zero size', { window: { kind: 'tumbling', sizeSeconds: 0 } }, 'window.sizeSeconds'],
    ['a size finer than a millisecond', { window: { kind: 'tumbling', sizeSeconds: 0.0005 } }, 'window.sizeSeconds'],
    ['a size over 7 days', { window: { kind: 'tumbling', sizeSeconds: 8 * 86_400 } }, 'window.sizeSeconds'],
    ['a size given as a string', { window: { kind: 'tumbling', sizeSeconds: '60' } }, 'window.sizeSeconds'],
    ['an offset not below the size', { window: { kind: 'tumbling', sizeSeconds: 10, offsetSeconds: 10 } }, 'window.offsetSeconds'],
    ['a hop above the size', { window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 20 } }, 'window.hopSeconds'],
    ['an offset not below the hop', { window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 5, offsetSeconds: 5 } }, 'window.offsetSeconds'],
    ['a session without max duration', { window: { kind: 'session', timeoutSeconds: 5 } }, 'window.maxDurationSeconds'],
    ['a max duration below the timeout', { window: { kind: 'session', timeoutSeconds: 5, maxDurationSeconds: 4 } }, 'window.maxDurationSeconds'],
    ['a bad source topic', { window: tumbling, sourceTopic: 'a/b' }, 'sourceTopic'],
    ['a bad output topic', { window: tumbling, outputTopic: '' }, 'outputTopic'],
    ['output into its own source', { window: tumbling, outputTopic: 'telemetry' }, 'outputTopic'],
    ['metrics that are not a list', { window: tumbling, metrics: 'temperature' }, 'metrics'],
    ['a metric name with a slash', { window: tumbling, metrics: ['a/b'] }, 'metrics[0]'],
    ['an unknown aggregate', { window: tumbling, aggregates: ['median'] }, 'aggregates[0]'],
    ['no aggregates', { window: tumbling, aggregates: [] }, 'aggregates'],
    ['a filter with a missing value', { window: tumbling, filtersConfiguration: { filters: [{ operatorType: 'NumberIn', key: 'data.x' }] } }, 'filtersConfiguration.filters[0]']
  ])('refuses %s with WINDOW_INVALID naming %s', (_name, body, field) => {
    const err = caught(() => parseWindow(body))
    expect(err).toMatchObject({ code: 'WINDOW_INVALID', status: 400 })
    expect(err.message.startsWith(field)).toBe(true)
  })

  it('compiles the filter once into a matcher on the event', () => {
    const { matcher } = parseWindow({ window: tumbling, filtersConfiguration: { filters: [{ operatorType: 'StringBeginsWith', key: 'subject', values: ['devices/hall-'] }] } })
    expect(matcher?.({ subject: 'devices/hall-3/telemetry' })).toBe(true)
    expect(matcher?.({ subject: 'devices/lab-1/telemetry' })).toBe(false)
  })

  it('renders a definition back in seconds, and tells changed ones apart', () => {
    const body = { window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 2.5, offsetSeconds: 0.5 }, metrics: ['t', 't'], aggregates: ['p95', 'count'] }
    const { spec } = parseWindow(body)
    const rendered = renderWindow('w', spec)
    expect(rendered).toEqual({ name: 'w', sourceTopic: 'telemetry', outputTopic: 'telemetry-windows', metrics: ['t'], aggregates: ['p95', 'count'], window: { kind: 'hopping', sizeSeconds: 10, hopSeconds: 2.5, offsetSeconds: 0.5 } })
    const { name: _name, ...again } = rendered
    expect(sameWindow(parseWindow(again).spec, spec)).toBe(true)
    expect(sameWindow(parseWindow({ ...again, aggregates: ['count'] }).spec, spec)).toBe(false)
  })
})
