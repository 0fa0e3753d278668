import { describe, it, expect } from 'vitest'
import { assertTopicName } from '../../src/core/topic-name.js'
import { caught } from '../helpers/errors.js'

describe('assertTopicName', () => {
  it.each([
    { name: 'a single letter', topic: 'a' },
    { name: 'a single digit', topic: '7' },
    { name: 'mixed case', topic: 'Telemetry' },
    { name: 'hyphens', topic: 'plant-3-meters' },
    { name: 'underscores', topic: 'plant_3' },
    { name: 'dots', topic: 'sys.retention' },
    { name: 'a trailing hyphen', topic: 'meters-' },
    { name: 'exactly 50 characters', topic: 'a'.repeat(50) },
    { name: 'a leading digit and every allowed symbol', topic: '0a.b_c-d' }
  ])('accepts $name', ({ topic }) => {
    expect(assertTopicName(topic)).toBe(topic)
  })

  it.each([
    { name: 'an empty name', topic: '' },
    { name: '51 characters', topic: 'a'.repeat(51) },
    { name: 'a leading hyphen', topic: '-meters' },
    { name: 'a leading underscore', topic: '_meters' },
    { name: 'a leading dot', topic: '.meters' },
    { name: "the storage key separator '!'", topic: 'a!b' },
    { name: 'a slash', topic: 'plant/meters' },
    { name: 'a space', topic: 'plant meters' },
    { name: 'a trailing newline', topic: 'meters\n' },
    { name: 'a non-ASCII letter', topic: 'zähler' },
    { name: "the range end '~'", topic: 'a~' },
    { name: 'an MQTT wildcard', topic: 'meters+' }
  ])('refuses $name', ({ topic }) => {
    const err = caught(() => assertTopicName(topic))
    expect(err.code).toBe('TOPIC_NAME_INVALID')
    expect(err.status).toBe(400)
    expect(err.details).toEqual({ topic })
  })

  it('names the refused topic in the message', () => {
    const err = caught(() => assertTopicName('bad name'))
    expect(err.message).toContain("topic name 'bad name' is invalid")
  })

  it('cuts a very long name to 60 characters in the message', () => {
    const topic = 'x'.repeat(61) + 'TAIL'
    const err = caught(() => assertTopicName(topic))
    expect(err.message).toContain(`'${'x'.repeat(60)}'`)
    expect(err.message).not.toContain('TAIL')
    expect(err.details).toEqual({ topic })
  })
})
