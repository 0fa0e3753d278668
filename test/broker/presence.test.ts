import type { Client } from 'aedes'
import { describe, expect, it } from 'vitest'
import { createPresence, transportOf } from '../../src/broker/presence.js'

const tcp = (): Client => ({ conn: {} }) as unknown as Client

describe('transportOf', () => {
  it.each([
    { name: 'a plain socket', client: { conn: {} }, transport: 'tcp' },
    { name: 'a TLS socket', client: { conn: { encrypted: true } }, transport: 'tls' },
    { name: 'a WebSocket', client: { conn: {}, req: { socket: {} } }, transport: 'ws' },
    { name: 'a secure WebSocket', client: { conn: {}, req: { socket: { encrypted: true } } }, transport: 'wss' }
  ])('$name: $transport', ({ client, transport }) => {
    expect(transportOf(client as unknown as Client)).toBe(transport)
  })
})

describe('createPresence', () => {
  it('reports a device connected while any of its connections is open', () => {
    const registry: Array<[string, boolean]> = []
    const port: Array<[string, boolean, string | undefined]> = []
    const p = createPresence({ setConnected: (id, on) => { registry.push([id, on]) } }, (id, on, d) => { port.push([id, on, d.transport]) })
    const a = tcp()
    const b = tcp()
    p.opened(a, 'd1')
    p.opened(b, 'd1')
    p.opened(tcp(), 'd2')
    p.closed(a, 'd1')
    p.closed(b, 'd1')
    expect(registry).toEqual([['d1', true], ['d1', true], ['d2', true], ['d1', true], ['d1', false]])
    expect(port).toEqual([['d1', true, 'tcp'], ['d1', true, 'tcp'], ['d2', true, 'tcp'], ['d1', false, 'tcp'], ['d1', false, 'tcp']])
  })
})
