import { describe, expect, it } from 'vitest'
import { SUBSCRIPTION_BODY_SCHEMA } from '../../src/delivery/subscription-spec.js'
import { compileSchema, type JsonSchema, type SchemaPart } from '../../src/core/validation.js'
import { DEVICE_BODY_SCHEMA } from '../../src/http/routes/devices.js'
import { TOPIC_BODY_SCHEMA } from '../../src/http/routes/topics.js'
import { NEW_DEVICE_ID, NEW_TOPIC_NAME, params } from '../../src/http/schemas.js'

// The schema error formatter: each resource's code, and messages in the words the README's
// error table promises (the field, parameter or name at fault), from the route schemas as
// fastify checks them.

function refusal (schema: JsonSchema, data: unknown, part: SchemaPart = 'body') {
  const err = compileSchema(schema, part)(structuredClone(data))
  return err === undefined ? undefined : { code: err.code, status: err.status, message: err.message, details: err.details }
}

describe('event subscription bodies (SUBSCRIPTION_INVALID, fields under properties.)', () => {
  it.each([
    ['wrapped', { properties: { deliveryConfiguration: { deliveryMode: 'Carrier' } } }, "properties.deliveryConfiguration.deliveryMode: must be one of 'Queue', 'Push'"],
    ['unwrapped', { deliveryConfiguration: { deliveryMode: 'Carrier' } }, "properties.deliveryConfiguration.deliveryMode: must be one of 'Queue', 'Push'"],
    ['a name in the wrong case', { deliveryConfiguration: { deliveryMode: 'queue' } }, "properties.deliveryConfiguration.deliveryMode: must be 'Queue' (names are case-sensitive)"],
    ['an unknown field, unwrapped', { deliveryConfiguration: {}, bogus: 1 }, 'properties.bogus: unknown field (allowed: deliveryConfiguration, filtersConfiguration, eventDeliverySchema, startOffset, startTime, startAt, provisioningState)'],
    ['an unknown field beside the wrapper', { properties: { deliveryConfiguration: {} }, bogus: 1 }, 'bogus: unknown field (allowed: properties, name, id, type)'],
    ['no delivery configuration', {}, 'properties.deliveryConfiguration: is required'],
    ['a lock out of range', { deliveryConfiguration: { queue: { receiveLockDurationInSeconds: 5 } } }, 'properties.deliveryConfiguration.queue.receiveLockDurationInSeconds: must be an integer from 60 to 300'],
    ['a push endpoint missing', { deliveryConfiguration: { push: { destination: { properties: {} } } } }, 'properties.deliveryConfiguration.push.destination.properties.endpointUrl: is required'],
    ['another endpoint type', { deliveryConfiguration: { push: { destination: { endpointType: 'EventHub', properties: { endpointUrl: 'https://x' } } } } }, "properties.deliveryConfiguration.push.destination.endpointType: only 'WebHook' is supported"],
    ['a short secret', { deliveryConfiguration: { push: { destination: { properties: { endpointUrl: 'https://x', secret: 'short' } } } } }, 'properties.deliveryConfiguration.push.destination.properties.secret: must be a string of 16 to 512 characters'],
    ['a bad start time', { deliveryConfiguration: {}, startTime: 'yesterday' }, 'properties.startTime: must be an RFC 3339 time such as 2026-01-01T00:00:00Z'],
    ['a filter on an unknown operator', { deliveryConfiguration: {}, filtersConfiguration: { filters: [{ operatorType: 'numberin', key: 'data.x', values: [1] }] } }, "properties.filtersConfiguration.filters[0].operatorType: must be 'NumberIn' (names are case-sensitive)"],
    ['a body that is not an object', [1], 'body: must be an object']
  ])('%s', (_name, body, message) => {
    const field = message.slice(0, message.indexOf(':'))
    expect(refusal(SUBSCRIPTION_BODY_SCHEMA, body)).toEqual({ code: 'SUBSCRIPTION_INVALID', status: 400, message, details: { field } })
  })

  it('takes a valid definition either way', () => {
    expect(refusal(SUBSCRIPTION_BODY_SCHEMA, { deliveryConfiguration: { deliveryMode: 'Queue', queue: { maxDeliveryCount: 3 } } })).toBeUndefined()
    expect(refusal(SUBSCRIPTION_BODY_SCHEMA, { name: 's', properties: { deliveryConfiguration: { push: { destination: { endpointType: 'WebHook', properties: { endpointUrl: 'https://example.com/hook' } } } } } })).toBeUndefined()
  })
})

describe('topic and device bodies (BODY_INVALID, quoted fields)', () => {
  it.each([
    [TOPIC_BODY_SCHEMA, [], 'the body must be a JSON object'],
    [TOPIC_BODY_SCHEMA, { retention: { maxAgeSeconds: -1 } }, "'retention.maxAgeSeconds' must be a non-negative integer (0 = no limit)"],
    [TOPIC_BODY_SCHEMA, { properties: { retention: { maxBytes: 1.5 } } }, "'properties.retention.maxBytes' must be a non-negative integer (0 = no limit)"],
    [TOPIC_BODY_SCHEMA, { retention: 7 }, "'retention' must be an object"],
    [TOPIC_BODY_SCHEMA, { retain: {} }, "unknown field 'retain'"],
    [DEVICE_BODY_SCHEMA, { attributes: { role: 7 } }, "'attributes.role' must be a string of at most 256 characters"],
    [DEVICE_BODY_SCHEMA, { attributes: { 'a b': 'x' } }, "'attributes' has an invalid attribute name: use 1-64 letters, digits, '_', '.', '-'"],
    [DEVICE_BODY_SCHEMA, { attributes: 'x' }, "'attributes' must be an object"]
  ] as Array<[JsonSchema, unknown, string]>)('%#: %j', (schema, body, message) => {
    expect(refusal(schema, body)).toMatchObject({ code: 'BODY_INVALID', status: 400, message })
  })

  it('takes no body at all (null), with or without the properties wrapper', () => {
    for (const schema of [TOPIC_BODY_SCHEMA, DEVICE_BODY_SCHEMA]) expect(refusal(schema, null)).toBeUndefined()
    expect(refusal(TOPIC_BODY_SCHEMA, { properties: { retention: { maxAgeSeconds: 60 } } })).toBeUndefined()
    expect(refusal(DEVICE_BODY_SCHEMA, { attributes: { role: 'monitor' } })).toBeUndefined()
  })
})

describe('names in PUT paths (the code of the resource they name)', () => {
  it('refuses a topic name that breaks the rule with TOPIC_NAME_INVALID', () => {
    expect(refusal(params({ topicName: NEW_TOPIC_NAME }), { topicName: 'bad!name' }, 'params')).toMatchObject({
      code: 'TOPIC_NAME_INVALID',
      message: "topic name 'bad!name' is invalid: use 1-50 letters, digits, '-', '_' or '.', starting with a letter or digit"
    })
  })

  it('refuses a device id that breaks the rule with DEVICE_ID_INVALID', () => {
    expect(refusal(params({ id: NEW_DEVICE_ID }), { id: 'a/b' }, 'params')).toMatchObject({ code: 'DEVICE_ID_INVALID', status: 400 })
    expect(refusal(params({ id: NEW_DEVICE_ID }), { id: 'aa:bb:cc' }, 'params')).toBeUndefined()
  })
})
