import { describe, expect, it } from 'vitest'
import { validateCloudEvent } from '../../src/core/cloudevent.js'
import { BASE64_DATA, cloudEventHead, deviceSource, JSON_DATA, jsonCloudEvent, type JsonEventFields } from '../../src/core/cloudevent-writer.js'

const TIME = Date.UTC(2024, 0, 2, 3, 4, 5, 678)

/** What the hand-built events were: JSON.stringify of the members in the documented order. */
function reference (e: JsonEventFields): string {
  return JSON.stringify({
    specversion: '1.0',
    id: e.id,
    source: e.source,
    type: e.type,
    subject: e.subject,
    time: new Date(e.time).toISOString(),
    deviceid: e.deviceId,
    datacontenttype: 'application/json',
    data: e.data
  })
}

const base: JsonEventFields = { id: 'ev-1', source: '/ns/devices/d1', type: 'device.connected', subject: 'devices/d1', time: TIME, deviceId: 'd1', data: { transport: 'tcp' } }

describe('jsonCloudEvent', () => {
  it('writes exactly the expected bytes', () => {
    expect(jsonCloudEvent(base)).toBe(
      '{"specversion":"1.0","id":"ev-1","source":"/ns/devices/d1","type":"device.connected","subject":"devices/d1",' +
      '"time":"2024-01-02T03:04:05.678Z","deviceid":"d1","datacontenttype":"application/json","data":{"transport":"tcp"}}')
  })

  it.each<{ name: string, fields: Partial<JsonEventFields> }>([
    { name: 'an object with an undefined member', fields: { data: { transport: 'tcp', reason: undefined } } },
    { name: 'an empty object', fields: { data: {} } },
    { name: 'nested data with nulls, numbers and arrays', fields: { data: { a: null, b: [1, 2.5, -0, 1e21], c: { d: 'e' } } } },
    { name: 'data with a toJSON (a Date)', fields: { data: { at: new Date(TIME) } } },
    { name: 'a string as data', fields: { data: 'hello' } },
    { name: 'null as data', fields: { data: null } },
    { name: 'undefined data (left out)', fields: { data: undefined } },
    { name: 'quotes, backslashes, control and non-ASCII characters in every string', fields: { id: 'a"b\\c', source: '/n/devices/ü', type: 't\n', subject: 'devices/\u0000/x', deviceId: 'måler "7"', data: { s: '\u2028😀' } } },
    { name: 'the epoch', fields: { time: 0 } },
    { name: 'a late time', fields: { time: Date.UTC(9999, 11, 31, 23, 59, 59, 999) } }
  ])('is JSON.stringify of the ordered members for $name', ({ fields }) => {
    const e = { ...base, ...fields }
    const text = jsonCloudEvent(e)
    expect(text).toBe(reference(e))
    expect(() => validateCloudEvent(JSON.parse(text))).not.toThrow()
  })

  it('throws on an invalid time, as toISOString does', () => {
    expect(() => jsonCloudEvent({ ...base, time: Number.NaN })).toThrow(RangeError)
  })
})

describe('cloudEventHead and the data members', () => {
  it('opens an event that extensions and data complete', () => {
    const head = cloudEventHead('ev-1', deviceSource('plant-3', 'd1'), 'device.telemetry', 'devices/d1/telemetry', TIME, 'd1')
    expect(JSON.parse(head + ',"mqttqos":1' + JSON_DATA + '{"t":1}}')).toEqual({
      specversion: '1.0', id: 'ev-1', source: '/plant-3/devices/d1', type: 'device.telemetry', subject: 'devices/d1/telemetry', time: '2024-01-02T03:04:05.678Z', deviceid: 'd1', mqttqos: 1, datacontenttype: 'application/json', data: { t: 1 }
    })
    expect(JSON.parse(head + BASE64_DATA + 'AAE="}')).toMatchObject({ datacontenttype: 'application/octet-stream', data_base64: 'AAE=' })
    expect(JSON.parse(head + '}')).not.toHaveProperty('datacontenttype')
  })
})
