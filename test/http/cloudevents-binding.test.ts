import { describe, it, expect } from 'vitest'
import { decodePublish, isJsonMediaType, mediaType, type PublishLimits } from '../../src/http/cloudevents-binding.js'
import { caught } from '../helpers/errors.js'

type Headers = Record<string, string | string[] | undefined>

const LIMITS: PublishLimits = { maxEventBytes: 65_536, maxBatchEvents: 10 }

const STRUCTURED = 'application/cloudevents+json'
const BATCH = 'application/cloudevents-batch+json'

function event (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { specversion: '1.0', id, source: '/gridgate/devices/d1', type: 'com.example.reading', ...extra }
}

function json (value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8')
}

function binaryHeaders (extra: Headers = {}): Headers {
  return { 'ce-specversion': '1.0', 'ce-id': 'b-1', 'ce-source': '/gridgate/devices/d1', 'ce-type': 'com.example.reading', ...extra }
}

describe('mediaType', () => {
  it.each([
    { header: undefined, expected: '' },
    { header: '', expected: '' },
    { header: 'application/json', expected: 'application/json' },
    { header: 'Application/CloudEvents+JSON', expected: 'application/cloudevents+json' },
    { header: 'application/json; charset=utf-8', expected: 'application/json' },
    { header: '  text/plain ;charset=us-ascii', expected: 'text/plain' }
  ])('reads $header as $expected', ({ header, expected }) => {
    expect(mediaType(header)).toBe(expected)
  })
})

describe('isJsonMediaType', () => {
  it.each([
    { type: 'application/json', expected: true },
    { type: 'text/json', expected: true },
    { type: 'application/cloudevents+json', expected: true },
    { type: 'application/vnd.example.reading+json', expected: true },
    { type: 'text/plain', expected: false },
    { type: 'application/octet-stream', expected: false },
    { type: 'application/jsonl', expected: false },
    { type: 'application/json-seq', expected: false },
    { type: '', expected: false }
  ])('says $type is JSON: $expected', ({ type, expected }) => {
    expect(isJsonMediaType(type)).toBe(expected)
  })
})

describe('decodePublish: structured mode', () => {
  it.each([
    STRUCTURED,
    `${STRUCTURED}; charset=utf-8`,
    'Application/CloudEvents+JSON',
    'application/json'
  ])('decodes one event sent as %s', (contentType) => {
    const ev = event('s-1', { data: { temp: 21.5 } })
    const out = decodePublish({ 'content-type': contentType }, json(ev), LIMITS)
    expect(out).toHaveLength(1)
    expect(out[0]?.event).toEqual(ev)
  })

  it('returns bytes equal to JSON.stringify of the event', () => {
    const body = Buffer.from('{ "specversion": "1.0", "id": "s-1",\n  "source": "/s", "type": "t", "data": { "é": [1, 2] } }', 'utf8')
    const [decoded] = decodePublish({ 'content-type': STRUCTURED }, body, LIMITS)
    expect(decoded).toBeDefined()
    expect(decoded?.bytes.toString('utf8')).toBe(JSON.stringify(decoded?.event))
    expect(decoded?.bytes.toString('utf8')).toBe('{"specversion":"1.0","id":"s-1","source":"/s","type":"t","data":{"é":[1,2]}}')
  })

  it.each([
    { name: STRUCTURED, contentType: STRUCTURED, value: 'an event' },
    { name: `${STRUCTURED} with a number`, contentType: STRUCTURED, value: 42 },
    { name: 'application/json with null', contentType: 'application/json', value: null }
  ])('refuses a body that is not an object ($name)', ({ contentType, value }) => {
    const err = caught(() => decodePublish({ 'content-type': contentType }, json(value), LIMITS))
    expect(err.code).toBe('CLOUDEVENT_INVALID')
  })

  it('names no index for an invalid single event', () => {
    const err = caught(() => decodePublish({ 'content-type': STRUCTURED }, json(event('')), LIMITS))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.message).toMatch(/^event: attribute 'id'/)
    expect(err.details).toEqual({ attribute: 'id', index: undefined })
  })
})

describe('decodePublish: batches', () => {
  it.each([BATCH, `${BATCH}; charset=utf-8`, 'application/json'])('decodes an array sent as %s in order', (contentType) => {
    const events = [event('b-0'), event('b-1', { data: 'x' }), event('b-2', { data_base64: 'AQID' })]
    const out = decodePublish({ 'content-type': contentType }, json(events), LIMITS)
    expect(out.map((d) => d.event)).toEqual(events)
    for (const d of out) expect(d.bytes.toString('utf8')).toBe(JSON.stringify(d.event))
  })

  it.each([BATCH, 'application/json'])('returns no events for an empty array sent as %s', (contentType) => {
    expect(decodePublish({ 'content-type': contentType }, Buffer.from('[]'), LIMITS)).toEqual([])
  })

  it('refuses a batch body that is not an array', () => {
    const err = caught(() => decodePublish({ 'content-type': BATCH }, json(event('b-0')), LIMITS))
    expect(err.code).toBe('BODY_INVALID')
    expect(err.message).toContain('must be a JSON array')
  })

  it.each([
    { at: 0, attribute: 'id', code: 'CLOUDEVENT_MISSING_ATTRIBUTE', bad: { specversion: '1.0', source: '/s', type: 't' } },
    { at: 1, attribute: 'time', code: 'CLOUDEVENT_INVALID_ATTRIBUTE', bad: event('b-1', { time: 'soon' }) },
    { at: 2, attribute: 'id', code: 'CLOUDEVENT_MISSING_ATTRIBUTE', bad: { specversion: '1.0', source: '/s', type: 't' } },
    { at: 2, attribute: 'Bad', code: 'CLOUDEVENT_INVALID_ATTRIBUTE', bad: event('b-2', { Bad: 1 }) }
  ])('refuses the whole batch when event $at of 3 is invalid, naming index $at', ({ at, attribute, code, bad }) => {
    const events = [event('b-0'), event('b-1'), event('b-2')]
    events[at] = bad
    const err = caught(() => decodePublish({ 'content-type': BATCH }, json(events), LIMITS))
    expect(err.code).toBe(code)
    expect(err.details).toEqual({ attribute, index: at })
    expect(err.message).toMatch(new RegExp(`^event ${at}: `))
  })

  it('refuses a batch element that is not an object, naming its index', () => {
    const err = caught(() => decodePublish({ 'content-type': BATCH }, json([event('b-0'), 'x']), LIMITS))
    expect(err.code).toBe('CLOUDEVENT_INVALID')
    expect(err.details).toEqual({ index: 1 })
  })

  it.each([
    { events: 10, limit: 10, refused: false },
    { events: 11, limit: 10, refused: true },
    { events: 2, limit: 1, refused: true },
    { events: 1, limit: 1, refused: false }
  ])('with a limit of $limit events, refuses $events events: $refused', ({ events, limit, refused }) => {
    const body = json(Array.from({ length: events }, (_, i) => event(`b-${i}`)))
    const decode = (): unknown => decodePublish({ 'content-type': BATCH }, body, { ...LIMITS, maxBatchEvents: limit })
    if (!refused) {
      expect(decode()).toHaveLength(events)
      return
    }
    const err = caught(decode)
    expect(err.code).toBe('BATCH_TOO_MANY_EVENTS')
    expect(err.status).toBe(413)
    expect(err.details).toEqual({ events, limit })
  })

  it('counts the events of an application/json array against the batch limit too', () => {
    const body = json([event('a'), event('b'), event('c')])
    const err = caught(() => decodePublish({ 'content-type': 'application/json' }, body, { ...LIMITS, maxBatchEvents: 2 }))
    expect(err.code).toBe('BATCH_TOO_MANY_EVENTS')
  })
})

describe('decodePublish: event size limit', () => {
  const ev = event('big', { data: 'x'.repeat(100) })
  const size = Buffer.byteLength(JSON.stringify(ev), 'utf8')

  it.each([
    { limit: size, refused: false },
    { limit: size + 1, refused: false },
    { limit: size - 1, refused: true },
    { limit: 1, refused: true }
  ])('with a limit of $limit bytes refuses the event: $refused', ({ limit, refused }) => {
    const decode = (): unknown => decodePublish({ 'content-type': STRUCTURED }, json(ev), { ...LIMITS, maxEventBytes: limit })
    if (!refused) {
      expect(decode()).toHaveLength(1)
      return
    }
    const err = caught(decode)
    expect(err.code).toBe('EVENT_TOO_LARGE')
    expect(err.status).toBe(413)
    expect(err.details).toEqual({ index: undefined, bytes: size, limit })
    expect(err.message).toBe(`event is ${size} bytes; the limit is ${limit}`)
  })

  it('measures the serialised event, not the request body', () => {
    const padded = Buffer.from(JSON.stringify(ev, null, 8), 'utf8')
    expect(padded.length).toBeGreaterThan(size)
    const out = decodePublish({ 'content-type': STRUCTURED }, padded, { ...LIMITS, maxEventBytes: size })
    expect(out[0]?.bytes.length).toBe(size)
  })

  it('measures UTF-8 bytes, not characters', () => {
    const wide = event('w', { data: '€'.repeat(50) })
    const chars = JSON.stringify(wide).length
    const err = caught(() => decodePublish({ 'content-type': STRUCTURED }, json(wide), { ...LIMITS, maxEventBytes: chars }))
    expect(err.code).toBe('EVENT_TOO_LARGE')
  })

  it('names the index of the too-large event in a batch', () => {
    const events = [event('b-0'), event('b-1'), ev]
    const err = caught(() => decodePublish({ 'content-type': BATCH }, json(events), { ...LIMITS, maxEventBytes: size - 1 }))
    expect(err.code).toBe('EVENT_TOO_LARGE')
    expect(err.details).toMatchObject({ index: 2 })
    expect(err.message).toMatch(/^event 2 is \d+ bytes/)
  })
})

describe('decodePublish: refused requests', () => {
  it.each([
    { name: 'no content type', headers: {}, shown: '(none)' },
    { name: 'text/plain', headers: { 'content-type': 'text/plain' }, shown: 'text/plain' },
    { name: 'application/xml', headers: { 'content-type': 'application/xml' }, shown: 'application/xml' },
    { name: 'application/cloudevents+xml', headers: { 'content-type': 'application/cloudevents+xml' }, shown: 'application/cloudevents+xml' },
    { name: 'application/octet-stream without ce-specversion', headers: { 'content-type': 'application/octet-stream', 'ce-id': 'x' }, shown: 'application/octet-stream' }
  ])('refuses $name as an unsupported media type', ({ headers, shown }) => {
    const err = caught(() => decodePublish(headers, json(event('u')), LIMITS))
    expect(err.code).toBe('UNSUPPORTED_MEDIA_TYPE')
    expect(err.status).toBe(415)
    expect(err.message).toContain(`content type '${shown}' is not supported`)
  })

  it.each([
    { contentType: STRUCTURED, body: Buffer.alloc(0) },
    { contentType: BATCH, body: Buffer.alloc(0) },
    { contentType: 'application/json', body: Buffer.alloc(0) },
    { contentType: STRUCTURED, body: undefined }
  ])('refuses an empty $contentType body', ({ contentType, body }) => {
    const err = caught(() => decodePublish({ 'content-type': contentType }, body, LIMITS))
    expect(err.code).toBe('BODY_INVALID')
    expect(err.message).toContain('empty')
  })

  it.each([
    { contentType: STRUCTURED, body: '{"id":' },
    { contentType: BATCH, body: '[{"id":"a"},' },
    { contentType: 'application/json', body: 'not json' },
    { contentType: STRUCTURED, body: '{"id":"a"} trailing' },
    { contentType: STRUCTURED, body: ' ' }
  ])('refuses malformed JSON $body sent as $contentType', ({ contentType, body }) => {
    const err = caught(() => decodePublish({ 'content-type': contentType }, Buffer.from(body, 'utf8'), LIMITS))
    expect(err.code).toBe('MALFORMED_JSON')
    expect(err.message).toContain('not valid JSON')
    expect(err.cause).toBeInstanceOf(SyntaxError)
  })
})

describe('decodePublish: binary mode', () => {
  it.each([
    { contentType: 'application/json', body: '{"temp":21.5}', data: { temp: 21.5 } },
    { contentType: 'application/json; charset=utf-8', body: '[1,2]', data: [1, 2] },
    { contentType: 'text/json', body: '"s"', data: 's' },
    { contentType: 'application/vnd.example+json', body: 'null', data: null },
    { contentType: 'text/plain', body: 'hello, wörld', data: 'hello, wörld' },
    { contentType: 'text/csv; charset=utf-8', body: 'a,b\n1,2', data: 'a,b\n1,2' }
  ])('puts a $contentType body into data', ({ contentType, body, data }) => {
    const out = decodePublish(binaryHeaders({ 'content-type': contentType }), Buffer.from(body, 'utf8'), LIMITS)
    expect(out).toHaveLength(1)
    expect(out[0]?.event).toEqual({
      specversion: '1.0',
      id: 'b-1',
      source: '/gridgate/devices/d1',
      type: 'com.example.reading',
      datacontenttype: contentType,
      data
    })
  })

  it.each([
    { name: 'application/octet-stream', headers: { 'content-type': 'application/octet-stream' }, datacontenttype: 'application/octet-stream' },
    { name: 'image/png', headers: { 'content-type': 'image/png' }, datacontenttype: 'image/png' },
    { name: 'no content type', headers: {}, datacontenttype: undefined }
  ])('puts a $name body into data_base64', ({ headers, datacontenttype }) => {
    const body = Buffer.from([0, 1, 2, 253, 254, 255])
    const [decoded] = decodePublish(binaryHeaders(headers), body, LIMITS)
    expect(decoded?.event.data_base64).toBe(body.toString('base64'))
    expect(decoded?.event.data).toBeUndefined()
    expect(decoded?.event.datacontenttype).toBe(datacontenttype)
  })

  it.each([undefined, Buffer.alloc(0)])('sets no data for an empty body (%j)', (body) => {
    const [decoded] = decodePublish(binaryHeaders({ 'content-type': 'application/json' }), body, LIMITS)
    expect(decoded?.event).not.toHaveProperty('data')
    expect(decoded?.event).not.toHaveProperty('data_base64')
    expect(decoded?.event.datacontenttype).toBe('application/json')
  })

  it('takes every ce- header as an attribute, extensions included', () => {
    const [decoded] = decodePublish(binaryHeaders({
      'ce-subject': 'd1/temp',
      'ce-time': '2026-01-01T00:00:00Z',
      'ce-devicekind': 'meter',
      'x-request-id': 'not-an-attribute',
      'ce-skipped': undefined
    }), undefined, LIMITS)
    expect(decoded?.event).toEqual({
      specversion: '1.0',
      id: 'b-1',
      source: '/gridgate/devices/d1',
      type: 'com.example.reading',
      subject: 'd1/temp',
      time: '2026-01-01T00:00:00Z',
      devicekind: 'meter'
    })
  })

  it.each([
    { header: 'ce-source', raw: '%2Fgridgate%2Fdevices%2Fd%201', attribute: 'source', expected: '/gridgate/devices/d 1' },
    { header: 'ce-subject', raw: 'caf%C3%A9', attribute: 'subject', expected: 'café' },
    { header: 'ce-subject', raw: '100%25', attribute: 'subject', expected: '100%' },
    { header: 'ce-subject', raw: 'a+b', attribute: 'subject', expected: 'a+b' },
    { header: 'ce-subject', raw: 'plain', attribute: 'subject', expected: 'plain' },
    { header: 'ce-subject', raw: '50%off', attribute: 'subject', expected: '50%off' },
    { header: 'ce-subject', raw: '%E2%82', attribute: 'subject', expected: '%E2%82' }
  ])('decodes $header value $raw as $expected', ({ header, raw, attribute, expected }) => {
    const [decoded] = decodePublish(binaryHeaders({ [header]: raw }), undefined, LIMITS)
    expect(decoded?.event[attribute]).toBe(expected)
  })

  it('joins a repeated ce- header with commas', () => {
    const [decoded] = decodePublish(binaryHeaders({ 'ce-tags': ['a', 'b'] }), undefined, LIMITS)
    expect(decoded?.event.tags).toBe('a,b')
  })

  it('returns bytes equal to JSON.stringify of the event', () => {
    const [decoded] = decodePublish(binaryHeaders({ 'content-type': 'application/json' }), Buffer.from('{ "v" : [ 1 , 2 ] }'), LIMITS)
    expect(decoded?.bytes.toString('utf8')).toBe(JSON.stringify(decoded?.event))
    expect(JSON.parse(decoded?.bytes.toString('utf8') ?? '')).toMatchObject({ data: { v: [1, 2] } })
  })

  it('uses binary mode when ce-specversion is present even with an unsupported content type', () => {
    const out = decodePublish(binaryHeaders({ 'content-type': 'application/xml' }), Buffer.from('<a/>'), LIMITS)
    expect(out[0]?.event.data_base64).toBe(Buffer.from('<a/>').toString('base64'))
  })

  // HTTP binding 1.0.2 §1.3: a Content-Type prefixed with application/cloudevents means
  // structured mode; binary mode is the fallback.
  it.each([STRUCTURED, BATCH])('decodes a %s body in structured mode even when a ce-specversion header is present', (contentType) => {
    const ev = event('s-1', { data: { temp: 21.5 } })
    const body = json(contentType === BATCH ? [ev] : ev)
    const out = decodePublish(binaryHeaders({ 'content-type': contentType }), body, LIMITS)
    expect(out.map((d) => d.event)).toEqual([ev])
  })

  it.each(['ce-id', 'ce-source', 'ce-type'])('refuses a binary event without %s', (name) => {
    const headers = binaryHeaders()
    delete headers[name]
    const err = caught(() => decodePublish(headers, undefined, LIMITS))
    expect(err.code).toBe('CLOUDEVENT_MISSING_ATTRIBUTE')
    expect(err.details).toEqual({ attribute: name.slice(3), index: undefined })
  })

  it('refuses a binary event with specversion 0.3', () => {
    const err = caught(() => decodePublish(binaryHeaders({ 'ce-specversion': '0.3' }), undefined, LIMITS))
    expect(err.code).toBe('CLOUDEVENT_INVALID_ATTRIBUTE')
    expect(err.details).toMatchObject({ attribute: 'specversion' })
  })

  it('refuses a malformed JSON body in binary mode', () => {
    const err = caught(() => decodePublish(binaryHeaders({ 'content-type': 'application/json' }), Buffer.from('{oops'), LIMITS))
    expect(err.code).toBe('MALFORMED_JSON')
  })

  it('refuses a binary event over the size limit', () => {
    const err = caught(() => decodePublish(binaryHeaders({ 'content-type': 'text/plain' }), Buffer.from('x'.repeat(500)), { ...LIMITS, maxEventBytes: 400 }))
    expect(err.code).toBe('EVENT_TOO_LARGE')
    expect(err.details).toMatchObject({ index: undefined, limit: 400 })
  })
})
