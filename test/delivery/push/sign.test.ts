import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { signWebhook, verifyWebhook } from '../../../src/delivery/push/sign.js'

// The example of the Standard Webhooks spec ("Verifying webhook authenticity").
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE='
}

function independentHmac (key: Buffer, content: string | Buffer): string {
  return createHmac('sha256', key).update(content).digest('base64')
}

describe('signWebhook', () => {
  it('reproduces the Standard Webhooks spec example', () => {
    expect(signWebhook(SPEC.secret, SPEC.id, SPEC.timestamp, SPEC.body)).toEqual({
      'webhook-id': SPEC.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': SPEC.signature
    })
  })

  it('signs id.timestamp.body with the base64-decoded bytes of a whsec_ secret', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef')
    const body = Buffer.from('{"specversion":"1.0","id":"e1"}')
    const headers = signWebhook(`whsec_${key.toString('base64')}`, 'e1', 1_767_225_600, body)
    expect(headers['webhook-signature']).toBe(`v1,${independentHmac(key, Buffer.concat([Buffer.from('e1.1767225600.'), body]))}`)
  })

  it('uses the UTF-8 bytes of a secret without the whsec_ prefix', () => {
    const secret = 'plain sécret'
    const headers = signWebhook(secret, 'id-1', 42, 'é body')
    expect(headers['webhook-signature']).toBe(`v1,${independentHmac(Buffer.from(secret, 'utf8'), 'id-1.42.é body')}`)
  })

  it('signs a string body and the same bytes as a Buffer alike', () => {
    expect(signWebhook('s3cret', 'a', 1, '{"x":"ü"}')).toEqual(signWebhook('s3cret', 'a', 1, Buffer.from('{"x":"ü"}')))
  })

  it.each([1.5, -1, Number.NaN])('refuses the timestamp %d', (ts) => {
    expect(() => signWebhook('s3cret', 'a', ts, 'x')).toThrow(RangeError)
  })

  it.each(['', 'whsec_'])('refuses the empty secret %j', (secret) => {
    expect(() => signWebhook(secret, 'a', 1, 'x')).toThrow(RangeError)
  })
})

describe('verifyWebhook', () => {
  const headers = {
    'webhook-id': SPEC.id,
    'webhook-timestamp': String(SPEC.timestamp),
    'webhook-signature': SPEC.signature
  }

  it('accepts the spec example within the tolerance', () => {
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, SPEC.timestamp)).toBe(true)
    expect(verifyWebhook(SPEC.secret, headers, Buffer.from(SPEC.body), SPEC.timestamp + 300)).toBe(true)
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, SPEC.timestamp - 300)).toBe(true)
  })

  it('refuses a timestamp outside the tolerance (5 minutes by default)', () => {
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, SPEC.timestamp + 301)).toBe(false)
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, SPEC.timestamp - 301)).toBe(false)
    expect(verifyWebhook(SPEC.secret, headers, SPEC.body, SPEC.timestamp + 1000, 1000)).toBe(true)
  })

  it('reads header names in any case', () => {
    const upper = { 'Webhook-Id': SPEC.id, 'WEBHOOK-TIMESTAMP': String(SPEC.timestamp), 'Webhook-Signature': SPEC.signature }
    expect(verifyWebhook(SPEC.secret, upper, SPEC.body, SPEC.timestamp)).toBe(true)
  })

  it('accepts when any of several space-separated signatures matches, ignoring other versions', () => {
    const many = { ...headers, 'webhook-signature': `v1,bm90IGl0 v1a,c29tZXRoaW5n ${SPEC.signature}` }
    expect(verifyWebhook(SPEC.secret, many, SPEC.body, SPEC.timestamp)).toBe(true)
  })

  it.each([
    ['a changed body', { ...headers }, '{"test": 2432232315}'],
    ['a changed id', { ...headers, 'webhook-id': 'msg_other' }, SPEC.body],
    ['a changed timestamp', { ...headers, 'webhook-timestamp': String(SPEC.timestamp + 1) }, SPEC.body],
    ['a wrong signature', { ...headers, 'webhook-signature': 'v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, SPEC.body],
    ['another version only', { ...headers, 'webhook-signature': SPEC.signature.replace('v1,', 'v2,') }, SPEC.body],
    ['no version', { ...headers, 'webhook-signature': SPEC.signature.slice(3) }, SPEC.body],
    ['a missing signature', { ...headers, 'webhook-signature': undefined }, SPEC.body],
    ['a missing id', { ...headers, 'webhook-id': undefined }, SPEC.body],
    ['a missing timestamp', { ...headers, 'webhook-timestamp': undefined }, SPEC.body],
    ['a non-integer timestamp', { ...headers, 'webhook-timestamp': '1614265330.0' }, SPEC.body]
  ])('refuses %s', (_name, h, body) => {
    expect(verifyWebhook(SPEC.secret, h, body, SPEC.timestamp)).toBe(false)
  })

  it('refuses under another secret', () => {
    expect(verifyWebhook('whsec_' + Buffer.from('another key').toString('base64'), headers, SPEC.body, SPEC.timestamp)).toBe(false)
  })

  it('verifies what signWebhook produced', () => {
    const body = Buffer.from('[{"id":"1"},{"id":"2"}]')
    const signed = signWebhook('whsec_c2VjcmV0LWJ5dGVz', 'delivery-7', 1_800_000_000, body)
    expect(verifyWebhook('whsec_c2VjcmV0LWJ5dGVz', signed, body, 1_800_000_010)).toBe(true)
  })
})
