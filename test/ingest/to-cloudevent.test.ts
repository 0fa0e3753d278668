import { describe, it, expect } from 'vitest'
import { createCloudEventEncoder, idFromPayload, MAX_PAYLOAD_ID_LENGTH, parseJsonPayload, toCloudEvent, type DeviceMessage, type EventContext } from '../../src/ingest/to-cloudevent.js'
import { validateCloudEvent } from '../../src/core/cloudevent.js'

const TIME = Date.UTC(2024, 0, 2, 3, 4, 5, 678)

function message (overrides: Partial<DeviceMessage> = {}): DeviceMessage {
  return { deviceId: 'd1', mqttTopic: 'devices/d1/telemetry', payload: Buffer.alloc(0), qos: 1, retain: false, ...overrides }
}

function context (overrides: Partial<EventContext> = {}): EventContext {
  return { id: 'ev-1', time: TIME, namespace: 'plant-3', type: 'device.telemetry', json: false, ...overrides }
}

/** Builds the event, checks that it is JSON and a valid CloudEvent, and returns bytes and parsed object. */
function build (msg: DeviceMessage, ctx: EventContext): { bytes: Buffer, event: Record<string, unknown> } {
  const bytes = toCloudEvent(msg, ctx)
  expect(Buffer.isBuffer(bytes)).toBe(true)
  const event = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>
  expect(() => validateCloudEvent(event)).not.toThrow()
  return { bytes, event }
}

/** toCloudEvent as ingest uses it: the payload parsed once, its verdict passed on. */
function buildFromPayload (payload: Buffer, ctx: Partial<EventContext> = {}): { bytes: Buffer, event: Record<string, unknown>, parsed: ReturnType<typeof parseJsonPayload> } {
  const parsed = parseJsonPayload(payload)
  return { ...build(message({ payload }), context({ ...ctx, json: parsed.json })), parsed }
}

describe('toCloudEvent context attributes', () => {
  it('produces exactly the expected bytes for a JSON payload', () => {
    const { bytes } = build(message({ payload: Buffer.from('{"t":21.5}') }), context({ json: true }))
    expect(bytes.toString('utf8')).toBe(
      '{"specversion":"1.0","id":"ev-1","source":"/plant-3/devices/d1","type":"device.telemetry",' +
      '"subject":"devices/d1/telemetry","time":"2024-01-02T03:04:05.678Z","deviceid":"d1","mqttqos":1,"mqttretain":false,' +
      '"datacontenttype":"application/json","data":{"t":21.5}}')
  })

  it('sets the required and optional attributes from the message and context', () => {
    const { event } = build(message({ deviceId: 'meter-7', mqttTopic: 'devices/meter-7/events/door' }),
      context({ id: '01HX', namespace: 'ns', type: 'device.event' }))
    expect(event).toEqual({
      specversion: '1.0',
      id: '01HX',
      source: '/ns/devices/meter-7',
      type: 'device.event',
      subject: 'devices/meter-7/events/door',
      time: '2024-01-02T03:04:05.678Z',
      deviceid: 'meter-7',
      mqttqos: 1,
      mqttretain: false
    })
  })

  it.each([
    { qos: 0, retain: false },
    { qos: 1, retain: true },
    { qos: 2, retain: false },
    { qos: 2, retain: true }
  ])('carries qos $qos as a number and retain $retain as a boolean', ({ qos, retain }) => {
    const { event } = build(message({ qos, retain }), context())
    expect(event.mqttqos).toBe(qos)
    expect(event.mqttretain).toBe(retain)
  })

  it.each([
    { time: 0, iso: '1970-01-01T00:00:00.000Z' },
    { time: TIME, iso: '2024-01-02T03:04:05.678Z' },
    { time: Date.UTC(2024, 1, 29, 23, 59, 59, 999), iso: '2024-02-29T23:59:59.999Z' },
    { time: Date.UTC(9999, 11, 31, 23, 59, 59, 0), iso: '9999-12-31T23:59:59.000Z' }
  ])('formats time $time as $iso', ({ time, iso }) => {
    expect(build(message(), context({ time })).event.time).toBe(iso)
  })

  it('adds validationerror when the context has one', () => {
    const { event } = build(message({ payload: Buffer.from('{"t":"hot"}') }), context({ json: true, validationError: "/t must be number, got \"hot\"\n\\ 'x'" }))
    expect(event.validationerror).toBe("/t must be number, got \"hot\"\n\\ 'x'")
    expect(event.data).toEqual({ t: 'hot' })
  })

  it('adds validationerror to an event without data', () => {
    expect(build(message(), context({ validationError: 'empty' })).event.validationerror).toBe('empty')
  })

  it('has no validationerror when the context has none', () => {
    expect(build(message(), context()).event).not.toHaveProperty('validationerror')
  })

  it('puts dataschema after the extensions, before the data', () => {
    const { bytes } = build(message({ payload: Buffer.from('{"t":21.5}') }), context({ json: true, validationError: 'x', dataschema: 'urn:gridgate:schema:telemetry:3' }))
    expect(bytes.toString('utf8')).toBe(
      '{"specversion":"1.0","id":"ev-1","source":"/plant-3/devices/d1","type":"device.telemetry",' +
      '"subject":"devices/d1/telemetry","time":"2024-01-02T03:04:05.678Z","deviceid":"d1","mqttqos":1,"mqttretain":false,' +
      '"validationerror":"x","dataschema":"urn:gridgate:schema:telemetry:3","datacontenttype":"application/json","data":{"t":21.5}}')
    expect(build(message(), context()).event).not.toHaveProperty('dataschema')
  })
})

describe('toCloudEvent escaping', () => {
  it.each([
    { name: 'double quotes', value: 'a"b"' },
    { name: 'backslashes', value: 'a\\b\\' },
    { name: 'a quote after a backslash', value: 'a\\"}' },
    { name: 'newline, tab and carriage return', value: 'a\nb\tc\rd' },
    { name: 'control characters', value: 'a\u0000b\u0001c\u001f' },
    { name: 'line and paragraph separators', value: 'a\u2028b\u2029' },
    { name: 'non-ASCII letters', value: 'zähler-øst-€' },
    { name: 'an emoji', value: 'meter-🌡️' },
    { name: 'a lone surrogate', value: 'a\ud800b' },
    { name: 'JSON-looking text', value: '","type":"evil' }
  ])('escapes $name in every string attribute', ({ value }) => {
    const { event } = build(
      message({ deviceId: value, mqttTopic: `devices/${value}/telemetry` }),
      context({ id: value, namespace: value, type: value, validationError: value })
    )
    expect(event.id).toBe(value)
    expect(event.type).toBe(value)
    expect(event.source).toBe(`/${value}/devices/${value}`)
    expect(event.subject).toBe(`devices/${value}/telemetry`)
    expect(event.deviceid).toBe(value)
    expect(event.validationerror).toBe(value)
    expect(event.specversion).toBe('1.0')
  })
})

describe('toCloudEvent data', () => {
  it.each([
    { name: 'an object', text: '{"t":21.5,"unit":"C"}' },
    { name: 'a nested object', text: '{"a":{"b":[1,{"c":null}]}}' },
    { name: 'an array', text: '[1,2,3]' },
    { name: 'an empty object', text: '{}' },
    { name: 'an empty array', text: '[]' },
    { name: 'a string', text: '"hello"' },
    { name: 'a string with escapes', text: '"a\\"b\\\\c\\n\\u00e9"' },
    { name: 'a number', text: '42' },
    { name: 'a negative float with exponent', text: '-1.5e3' },
    { name: 'zero', text: '0' },
    { name: 'true', text: 'true' },
    { name: 'false', text: 'false' },
    { name: 'null', text: 'null' },
    { name: 'spaces and newlines', text: '{ "a" : 1 }' },
    { name: 'leading and trailing whitespace', text: ' \n\t\r{\n  "a": [ 1 , 2 ]\n}\n' },
    { name: 'non-ASCII text', text: '{"zähler":"€ 5","emoji":"🌡️"}' },
    { name: 'line separators', text: '"a\u2028b"' },
    { name: 'a duplicate key', text: '{"a":1,"a":2}' },
    { name: 'a number with more precision than a double', text: '{"n":0.1000000000000000055511151231257827}' }
  ])('embeds $name verbatim as application/json data', ({ text }) => {
    const payload = Buffer.from(text, 'utf8')
    const { bytes, event, parsed } = buildFromPayload(payload)
    expect(parsed).toEqual({ json: true, value: JSON.parse(text) })
    expect(event.datacontenttype).toBe('application/json')
    expect(event.data).toEqual(JSON.parse(text))
    expect(event).not.toHaveProperty('data_base64')
    expect(bytes.indexOf(payload)).toBeGreaterThan(0)
    expect(bytes.subarray(bytes.length - payload.length - 1)).toEqual(Buffer.concat([payload, Buffer.from('}')]))
  })

  it.each([
    { name: 'binary bytes', payload: Buffer.from([0x00, 0x01, 0xfe, 0xff, 0x7b]) },
    { name: 'a single byte', payload: Buffer.from([0x7f]) },
    { name: 'plain text', payload: Buffer.from('hello') },
    { name: 'invalid JSON', payload: Buffer.from('{a:1}') },
    { name: 'JSON with trailing garbage', payload: Buffer.from('{"a":1}x') },
    { name: 'invalid UTF-8 inside a JSON string', payload: Buffer.from([0x22, 0xff, 0x22]) },
    { name: 'a JSON prefix with a quote in binary', payload: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d]) },
    { name: 'only whitespace', payload: Buffer.from(' \n ') },
    { name: 'lengths that need base64 padding (1)', payload: Buffer.from('x') },
    { name: 'lengths that need base64 padding (2)', payload: Buffer.from('xy') },
    { name: 'lengths that need no base64 padding', payload: Buffer.from('xyz') }
  ])('carries $name as application/octet-stream data_base64', ({ payload }) => {
    const { event, parsed } = buildFromPayload(payload)
    expect(parsed).toEqual({ json: false })
    expect(event.datacontenttype).toBe('application/octet-stream')
    expect(event).not.toHaveProperty('data')
    expect(typeof event.data_base64).toBe('string')
    expect(Buffer.from(event.data_base64 as string, 'base64')).toEqual(payload)
    expect(event.data_base64).toBe(payload.toString('base64'))
  })

  it('uses data_base64 for a JSON-looking payload when the caller says it is not JSON', () => {
    const payload = Buffer.from('{"a":1}')
    const { event } = build(message({ payload }), context({ json: false }))
    expect(event.datacontenttype).toBe('application/octet-stream')
    expect(event.data_base64).toBe(payload.toString('base64'))
    expect(event).not.toHaveProperty('data')
  })

  it.each([
    { name: 'not JSON', json: false },
    { name: 'JSON', json: true }
  ])('has neither data nor datacontenttype for an empty payload said to be $name', ({ json }) => {
    const { event } = build(message({ payload: Buffer.alloc(0) }), context({ json }))
    expect(event).not.toHaveProperty('data')
    expect(event).not.toHaveProperty('data_base64')
    expect(event).not.toHaveProperty('datacontenttype')
  })
})

describe('parseJsonPayload', () => {
  it.each([
    { name: 'an object', text: '{"a":1}', value: { a: 1 } },
    { name: 'an array', text: '[1,"2",null]', value: [1, '2', null] },
    { name: 'a string', text: '"s"', value: 's' },
    { name: 'a number', text: '42', value: 42 },
    { name: 'a negative number', text: '-7.25', value: -7.25 },
    { name: 'a number with exponent', text: '1e3', value: 1000 },
    { name: 'true', text: 'true', value: true },
    { name: 'false', text: 'false', value: false },
    { name: 'null', text: 'null', value: null },
    { name: 'leading spaces', text: '   {"a":1}', value: { a: 1 } },
    { name: 'leading newlines, tabs and carriage returns', text: '\n\t\r\n[true]', value: [true] },
    { name: 'trailing whitespace', text: '{"a":1}\r\n', value: { a: 1 } },
    { name: 'non-ASCII text', text: '{"ø":"€🌡️"}', value: { ø: '€🌡️' } },
    { name: 'escaped unicode', text: '"\\u00e9\\ud83c\\udf21"', value: 'é🌡' }
  ])('recognises $name as JSON', ({ text, value }) => {
    expect(parseJsonPayload(Buffer.from(text, 'utf8'))).toEqual({ json: true, value })
  })

  it.each([
    { name: 'an empty payload', payload: Buffer.alloc(0) },
    { name: 'only whitespace', payload: Buffer.from(' \t\r\n') },
    { name: 'binary bytes', payload: Buffer.from([0x00, 0x01, 0x02, 0xff]) },
    { name: 'a NUL before JSON', payload: Buffer.from('\u0000{}') },
    { name: 'plain text', payload: Buffer.from('hello') },
    { name: 'unquoted keys', payload: Buffer.from('{a:1}') },
    { name: 'single quotes', payload: Buffer.from("'a'") },
    { name: 'a truncated object', payload: Buffer.from('{"a":') },
    { name: 'a truncated literal', payload: Buffer.from('tru') },
    { name: 'a lone minus', payload: Buffer.from('-') },
    { name: 'NaN', payload: Buffer.from('NaN') },
    { name: 'a leading plus', payload: Buffer.from('+1') },
    { name: 'trailing garbage', payload: Buffer.from('{"a":1} x') },
    { name: 'two JSON texts', payload: Buffer.from('{}{}') },
    { name: 'a byte order mark', payload: Buffer.from('\ufeff{"a":1}') },
    { name: 'a raw control character in a string', payload: Buffer.from('"a\u0001b"') },
    { name: 'invalid UTF-8 inside a JSON string', payload: Buffer.from([0x22, 0xff, 0x22]) },
    { name: 'a truncated UTF-8 sequence inside a JSON string', payload: Buffer.from([0x22, 0xc3, 0x22]) },
    { name: 'an overlong UTF-8 encoding inside a JSON string', payload: Buffer.from([0x22, 0xc0, 0xaf, 0x22]) },
    { name: 'a UTF-8 encoded surrogate inside a JSON string', payload: Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]) },
    { name: 'invalid UTF-8 in an object value', payload: Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xfe]), Buffer.from('"}')]) }
  ])('refuses $name', ({ payload }) => {
    expect(parseJsonPayload(payload)).toEqual({ json: false })
  })
})

describe('createCloudEventEncoder', () => {
  // One encoder through the whole sequence: later cases hit (or must miss) what earlier ones cached.
  const encode = createCloudEventEncoder('plant-3')
  it.each([
    { name: 'a JSON payload', msg: message({ payload: Buffer.from('{"t":21.5}') }), ctx: context({ json: true }) },
    { name: 'the same topic again, another id and time', msg: message({ payload: Buffer.from('[1,2]') }), ctx: context({ id: 'ev-2', time: TIME + 1, json: true }) },
    { name: 'the same topic with another route type', msg: message({ payload: Buffer.from('1') }), ctx: context({ type: 'other.type', json: true }) },
    { name: 'the same topic from another device', msg: message({ deviceId: 'd2', payload: Buffer.from('1') }), ctx: context({ json: true }) },
    { name: 'a binary payload', msg: message({ payload: Buffer.from([0, 1, 255]) }), ctx: context() },
    { name: 'an empty payload', msg: message({ qos: 0, retain: true }), ctx: context() },
    { name: 'a validation error', msg: message({ payload: Buffer.from('{"t":"x"}') }), ctx: context({ json: true, validationError: 'data.t must be number' }) },
    { name: 'a dataschema', msg: message({ payload: Buffer.from('{"t":1}') }), ctx: context({ json: true, dataschema: 'urn:gridgate:schema:s:1' }) },
    { name: 'a dataschema on binary data', msg: message({ payload: Buffer.from([0, 1]) }), ctx: context({ dataschema: 'urn:gridgate:schema:s:2', validationError: 'data is not JSON' }) },
    { name: 'non-ASCII topic, device and payload', msg: message({ deviceId: 'zähler-1', mqttTopic: 'devices/zähler-1/telemetry', payload: Buffer.from('{"ø":"€"}') }), ctx: context({ json: true }) },
    { name: 'quotes and backslashes to escape', msg: message({ deviceId: 'a"b\\c', mqttTopic: 'devices/a"b\\c/x' }), ctx: context({ id: 'i"d' }) },
    { name: 'JSON data at QoS 0, retained (another cached tail of the same topic)', msg: message({ qos: 0, retain: true, payload: Buffer.from('{"t":2}') }), ctx: context({ json: true }) },
    { name: 'JSON data at QoS 1, retained (the same QoS as earlier events of the topic)', msg: message({ retain: true, payload: Buffer.from('{"t":5}') }), ctx: context({ json: true }) },
    { name: 'JSON data at QoS 2', msg: message({ qos: 2, payload: Buffer.from('{"t":3}') }), ctx: context({ json: true }) },
    { name: 'JSON data with an id to escape and a non-ASCII id', msg: message({ payload: Buffer.from('{"t":4}') }), ctx: context({ id: 'i"d\\ü-€', json: true }) },
    { name: 'JSON data with an id holding a control character', msg: message({ payload: Buffer.from('{"t":6}') }), ctx: context({ id: 'a\u0001b', json: true }) },
    { name: 'JSON data with a plain id of every printable kind', msg: message({ payload: Buffer.from('{"t":7}') }), ctx: context({ id: ' !#$%&()*+,-./09:;<=>?@AZ[]^_`az{|}~', json: true }) },
    { name: 'JSON data on a non-ASCII topic cached before', msg: message({ deviceId: 'zähler-1', mqttTopic: 'devices/zähler-1/telemetry', qos: 0, payload: Buffer.from('{"t":9}') }), ctx: context({ json: true }) }
  ])('writes the same bytes as toCloudEvent for $name', ({ msg, ctx }) => {
    const { namespace: _ns, ...rest } = ctx
    const bytes = encode(msg, rest)
    expect(bytes.toString('utf8')).toBe(toCloudEvent(msg, ctx).toString('utf8'))
    expect(bytes.equals(toCloudEvent(msg, ctx))).toBe(true)
    expect(() => validateCloudEvent(JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)).not.toThrow()
  })
})

describe('idFromPayload (routes[].idField)', () => {
  it.each([
    { name: 'a string', value: { msgId: 'm-1' }, id: 'm-1' },
    { name: 'an integer', value: { msgId: 42 }, id: '42' },
    { name: 'a number written with a fraction', value: JSON.parse('{"msgId":7.0}') as unknown, id: '7' },
    { name: 'the longest string taken', value: { msgId: 'x'.repeat(MAX_PAYLOAD_ID_LENGTH) }, id: 'x'.repeat(MAX_PAYLOAD_ID_LENGTH) },
    { name: 'a string too long', value: { msgId: 'x'.repeat(MAX_PAYLOAD_ID_LENGTH + 1) }, id: undefined },
    { name: 'an empty string', value: { msgId: '' }, id: undefined },
    { name: 'no such field', value: { other: 'm-1' }, id: undefined },
    { name: 'null', value: { msgId: null }, id: undefined },
    { name: 'a boolean', value: { msgId: true }, id: undefined },
    { name: 'an object', value: { msgId: { a: 1 } }, id: undefined },
    { name: 'a nested field (top level only)', value: { meta: { msgId: 'm-1' } }, id: undefined },
    { name: 'an array payload', value: ['m-1'], id: undefined },
    { name: 'a scalar payload', value: 'm-1', id: undefined },
    { name: 'an inherited property', value: Object.create({ msgId: 'm-1' }) as unknown, id: undefined }
  ])('takes the id from $name: $id', ({ value, id }) => {
    expect(idFromPayload(value, 'msgId')).toBe(id)
  })
})
