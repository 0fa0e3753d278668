import type { Client } from 'aedes'
import { describe, expect, it } from 'vitest'
import { createPresenceMachine, reasonOfError, transportOf, type DisconnectionReason, type PresenceEffect, type PresenceInput } from '../../src/broker/presence.js'
import { GridgateError } from '../../src/core/errors.js'
import { seeded } from '../helpers/seeded.js'

// The presence state machine over interleavings of what aedes and the sockets report. A
// connection is a name here (A, B, ...); every case is a sequence of inputs written as
//   auth A d1 | ready A | end A [Reason] | revoke d1 | shutdown
// and the effects as
//   +A d1 (live n) | -A d1 Reason (live n) | close A

function parse (step: string): PresenceInput<string> {
  const [verb, a, b] = step.split(' ') as [string, string, string | undefined]
  switch (verb) {
    case 'auth': return { kind: 'authenticated', conn: a, deviceId: b as string }
    case 'ready': return { kind: 'ready', conn: a, transport: 'tcp' }
    case 'end': return { kind: 'ended', conn: a, cause: b as DisconnectionReason | undefined }
    case 'revoke': return { kind: 'revoked', deviceId: a }
    case 'shutdown': return { kind: 'shutdown' }
  }
  throw new Error(`bad step ${step}`)
}

function show (e: PresenceEffect<string>): string {
  if (e.kind === 'connected') return `+${e.conn} ${e.deviceId} (live ${e.live})`
  if (e.kind === 'disconnected') return `-${e.conn} ${e.deviceId} ${e.reason} (live ${e.live})`
  return `close ${e.conn}`
}

function run (steps: string[]): string[] {
  const m = createPresenceMachine<string>()
  return steps.flatMap((s) => m.apply(parse(s)).map(show))
}

describe('presence machine: one state per connection', () => {
  it.each([
    {
      name: 'connect, then DISCONNECT',
      steps: ['auth A d1', 'ready A', 'end A ClientInitiatedDisconnect'],
      effects: ['+A d1 (live 1)', '-A d1 ClientInitiatedDisconnect (live 0)']
    },
    {
      name: 'a dropped socket is ConnectionLost',
      steps: ['auth A d1', 'ready A', 'end A'],
      effects: ['+A d1 (live 1)', '-A d1 ConnectionLost (live 0)']
    },
    {
      name: 'keep-alive expiry (aedes says why before the socket closes) keeps its reason',
      steps: ['auth A d1', 'ready A', 'end A ConnectionLost', 'end A'],
      effects: ['+A d1 (live 1)', '-A d1 ConnectionLost (live 0)']
    },
    {
      name: 'aedes takeover: the old one closes while the new one is being made, then the new one is ready',
      steps: ['auth A d1', 'ready A', 'auth B d1', 'end A', 'ready B', 'end B ClientInitiatedDisconnect'],
      effects: ['+A d1 (live 1)', '-A d1 SessionTakenOver (live 0)', '+B d1 (live 1)', '-B d1 ClientInitiatedDisconnect (live 0)']
    },
    {
      name: 'the new one is ready before the old one\'s end arrives: the old one is taken over and closed',
      steps: ['auth A d1', 'ready A', 'auth B d1', 'ready B', 'end A', 'end B'],
      effects: ['+A d1 (live 1)', '-A d1 SessionTakenOver (live 0)', 'close A', '+B d1 (live 1)', '-B d1 ConnectionLost (live 0)']
    },
    {
      name: 'a connection taken over before it was ready never counts (aedes: clientDisconnect without clientReady)',
      steps: ['auth A d1', 'ready A', 'auth B d1', 'auth C d1', 'end B', 'end A', 'ready C'],
      effects: ['+A d1 (live 1)', '-A d1 SessionTakenOver (live 0)', '+C d1 (live 1)']
    },
    {
      name: 'ready after its end (the socket closed between CONNACK and clientReady) is ignored',
      steps: ['auth A d1', 'end A', 'ready A'],
      effects: []
    },
    {
      name: 'ends, repeated and of unknown connections, are ignored',
      steps: ['end X', 'auth A d1', 'ready A', 'end A', 'end A ClientError', 'end A'],
      effects: ['+A d1 (live 1)', '-A d1 ConnectionLost (live 0)']
    },
    {
      name: 'ready twice counts once',
      steps: ['auth A d1', 'ready A', 'ready A', 'end A'],
      effects: ['+A d1 (live 1)', '-A d1 ConnectionLost (live 0)']
    },
    {
      name: 'the old socket drops while the new connection is authenticating: still counted as taken over',
      steps: ['auth A d1', 'ready A', 'auth B d1', 'end A', 'ready B'],
      effects: ['+A d1 (live 1)', '-A d1 SessionTakenOver (live 0)', '+B d1 (live 1)']
    },
    {
      name: 'a reason of its own wins over the takeover guess',
      steps: ['auth A d1', 'ready A', 'auth B d1', 'end A ClientInitiatedDisconnect', 'ready B'],
      effects: ['+A d1 (live 1)', '-A d1 ClientInitiatedDisconnect (live 0)', '+B d1 (live 1)']
    },
    {
      name: 'revocation closes the live and the half-made connections of the device, and no other',
      steps: ['auth A d1', 'ready A', 'auth B d1', 'auth C d2', 'ready C', 'revoke d1', 'end A', 'ready B', 'end B'],
      effects: ['+A d1 (live 1)', '+C d2 (live 2)', '-A d1 ClientAuthenticationError (live 1)', 'close A', 'close B']
    },
    {
      name: 'a revoked device may connect again (re-registered)',
      steps: ['auth A d1', 'ready A', 'revoke d1', 'auth B d1', 'ready B'],
      effects: ['+A d1 (live 1)', '-A d1 ClientAuthenticationError (live 0)', 'close A', '+B d1 (live 1)']
    },
    {
      name: 'shutdown ends every live connection once; nothing connects after it',
      steps: ['auth A d1', 'ready A', 'auth B d2', 'ready B', 'auth C d3', 'shutdown', 'ready C', 'end A', 'auth D d4', 'ready D'],
      effects: ['+A d1 (live 1)', '+B d2 (live 2)', '-A d1 ServerInitiatedDisconnect (live 1)', '-B d2 ServerInitiatedDisconnect (live 0)']
    },
    {
      name: 'devices are independent',
      steps: ['auth A d1', 'auth B d2', 'ready B', 'ready A', 'end B', 'end A ClientInitiatedDisconnect'],
      effects: ['+B d2 (live 1)', '+A d1 (live 2)', '-B d2 ConnectionLost (live 1)', '-A d1 ClientInitiatedDisconnect (live 0)']
    }
  ])('$name', ({ steps, effects }) => {
    expect(run(steps)).toEqual(effects)
  })
})

describe('presence machine under random interleavings', () => {
  // What aedes and the sockets can report, in any order: connections of three devices are
  // authenticated, become ready, end (with or without a reason, more than once), devices are
  // revoked; the shell closes what the machine says to close (later, as an end).
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: the gauge never goes negative, per device events alternate, and the gauge is the live count', (seed) => {
    const rand = seeded(seed)
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    const m = createPresenceMachine<string>()
    const devices = ['d1', 'd2', 'd3']
    const made: string[] = []
    const toClose: string[] = []
    const last = new Map<string, 'connected' | 'disconnected'>() // per device
    const open = new Map<string, string>() // live connection -> device, as the effects say
    const check = (effects: Array<PresenceEffect<string>>): void => {
      for (const e of effects) {
        if (e.kind === 'close') { toClose.push(e.conn); continue }
        const before = last.get(e.deviceId) ?? 'disconnected'
        expect(before, `${e.kind} of ${e.deviceId} after ${before}`).not.toBe(e.kind)
        last.set(e.deviceId, e.kind)
        if (e.kind === 'connected') open.set(e.conn, e.deviceId)
        else expect(open.delete(e.conn)).toBe(true)
        expect(e.live).toBe(open.size)
        expect(e.live).toBeGreaterThanOrEqual(0)
      }
      expect(m.live()).toBe(open.size)
      for (const d of devices) expect([...open.values()].filter((x) => x === d).length).toBeLessThanOrEqual(1)
    }
    for (let i = 0; i < 400; i++) {
      const r = rand()
      let input: PresenceInput<string>
      if (r < 0.25 || made.length === 0) {
        const conn = `c${made.length}`
        made.push(conn)
        input = { kind: 'authenticated', conn, deviceId: pick(devices) }
      } else if (r < 0.5) {
        input = { kind: 'ready', conn: pick(made), transport: 'tcp' }
      } else if (r < 0.8) {
        input = { kind: 'ended', conn: pick(made), cause: rand() < 0.5 ? undefined : pick<DisconnectionReason>(['ClientInitiatedDisconnect', 'ConnectionLost', 'ClientError']) }
      } else if (r < 0.85) {
        input = { kind: 'revoked', deviceId: pick(devices) }
      } else {
        const conn = toClose.shift()
        if (conn === undefined) continue
        input = { kind: 'ended', conn }
      }
      check(m.apply(input))
    }
    check(m.apply({ kind: 'shutdown' }))
    expect(open.size).toBe(0)
    expect(m.live()).toBe(0)
    for (const d of devices) expect(last.get(d) ?? 'disconnected').toBe('disconnected')
  })
})

describe('reasonOfError', () => {
  it.each([
    { err: new GridgateError('MQTT_NOT_AUTHORIZED'), reason: 'ClientAuthorizationError' },
    { err: new GridgateError('PAYLOAD_TOO_LARGE'), reason: 'QuotaExceeded' },
    { err: new GridgateError('MQTT_RETAINED_LIMIT'), reason: 'QuotaExceeded' },
    { err: new GridgateError('STORAGE_WRITE_FAILED'), reason: 'ServerError' },
    { err: Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), reason: 'ConnectionLost' },
    { err: Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), reason: 'ConnectionLost' },
    { err: new Error('keep alive timeout'), reason: 'ConnectionLost' },
    { err: new Error('drain timeout'), reason: 'SessionOverflow' },
    { err: new Error('maxInflightInbound exceeded: 32 inbound QoS 2 messages already awaiting PUBREL'), reason: 'QuotaExceeded' },
    { err: new Error('Invalid protocol'), reason: 'ClientError' },
    { err: new Error('# is not allowed in PUBLISH'), reason: 'ClientError' }
  ])('$err.message → $reason', ({ err, reason }) => {
    expect(reasonOfError(err as Error & { code?: unknown })).toBe(reason)
  })
})

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
