import { describe, expect, it } from 'vitest'
import { telemetryEvent } from '../../devices-sim/mqtt-receiver.js'

describe('telemetryEvent (--broker-only --subscribe)', () => {
  const payload = (data: unknown): string => JSON.stringify(data)
  it.each<[string, string, string, unknown]>([
    ['a message of this run', 'devices/sim-3/telemetry', payload({ run: 'r1', seq: 7, sentAt: 1000, temperature: 21 }), { event: { deviceid: 'sim-3', data: { run: 'r1', seq: 7, sentAt: 1000, temperature: 21 } } }],
    ['another run', 'devices/sim-3/telemetry', payload({ run: 'r2', seq: 7 }), undefined],
    ['no run', 'devices/sim-3/telemetry', payload({ seq: 7 }), undefined],
    ['not JSON', 'devices/sim-3/telemetry', 'hello', undefined],
    ['a JSON number', 'devices/sim-3/telemetry', '42', undefined],
    ['a sub-topic', 'devices/sim-3/telemetry/x', payload({ run: 'r1', seq: 1 }), undefined],
    ['another topic', 'devices/sim-3/events', payload({ run: 'r1', seq: 1 }), undefined]
  ])('%s', (_name, topic, text, expected) => {
    expect(telemetryEvent(topic, Buffer.from(text), 'r1')).toEqual(expected)
  })
})
