import { createRequire } from 'node:module'
import { afterEach, describe, expect, it } from 'vitest'
import { installQuietDebug, quietDebug, type CreateDebug } from '../../src/broker/quiet-debug.js'

// `debug` instances for namespaces DEBUG leaves off do nothing (src/broker/quiet-debug.ts);
// those it enables are the real ones and log.

const require = createRequire(import.meta.url)
installQuietDebug()
const shared = require('debug') as CreateDebug & { enable: (ns: string) => void, disable: () => string, log: (...args: unknown[]) => void }
const fromAedes = createRequire(require.resolve('aedes'))
const fromPacket = createRequire(fromAedes.resolve('mqtt-packet'))

describe('quietDebug', () => {
  let restore: (() => void) | undefined
  afterEach(() => { restore?.(); restore = undefined })

  /** Turns `namespaces` on and sends what debug writes to the returned array. */
  function capture (namespaces: string): unknown[][] {
    const lines: unknown[][] = []
    const before = shared.disable()
    const log = shared.log
    shared.enable(namespaces)
    shared.log = (...args: unknown[]) => { lines.push(args) }
    restore = () => { shared.log = log; shared.disable(); if (before !== '') shared.enable(before) }
    return lines
  }

  it('is what require("debug") gives once installed, and installing again changes nothing', () => {
    installQuietDebug()
    expect(require('debug')).toBe(shared)
    expect(quietDebug(shared)).toBe(shared)
    // mqtt-packet, which aedes parses with, gets the same module.
    expect(fromPacket('debug')).toBe(shared)
  })

  it('gives a namespace DEBUG leaves off a function that writes nothing, also when extended', () => {
    const lines = capture('gg-test-on:*')
    const d = shared('gg-test-off:parser')
    expect(d.enabled).toBe(false)
    expect(d.namespace).toBe('gg-test-off:parser')
    d('parsed %o', { a: 1 })
    const sub = d.extend('length')
    expect(sub.namespace).toBe('gg-test-off:parser:length')
    sub('x')
    expect(lines).toEqual([])
  })

  it('gives a namespace DEBUG turns on the real, logging function, also when extended from a quiet one', () => {
    const lines = capture('gg-test-on:*')
    const d = shared('gg-test-on:parser')
    expect(d.enabled).toBe(true)
    d('parsed %d bytes', 12)
    expect(shared('gg-test-on').enabled).toBe(false)
    shared('gg-test-on').extend('x')('from an extension')
    expect(lines).toHaveLength(2)
    expect(lines[0]?.join(' ')).toContain('gg-test-on:parser parsed %d bytes 12')
    expect(lines[1]?.join(' ')).toContain('gg-test-on:x from an extension')
  })

  it('makes a function that does no work: one made while its namespace was off stays quiet when it is turned on', () => {
    const lines = capture('gg-test-on:*')
    const d = shared('gg-test-late:parser')
    shared.enable('gg-test-late:*')
    expect(shared.enabled('gg-test-late:parser')).toBe(true)
    d('not written')
    shared('gg-test-late:parser')('written')
    expect(lines.map((l) => l.join(' '))).toEqual([expect.stringContaining('gg-test-late:parser written')])
  })

  it('keeps the module\'s own functions', () => {
    capture('gg-test-on:*')
    expect(shared.enabled('gg-test-on:a')).toBe(true)
    expect(shared.enabled('gg-test-off:a')).toBe(false)
    expect(typeof (shared as unknown as { formatters: unknown }).formatters).toBe('object')
  })
})
