import { describe, expect, it } from 'vitest'
import { decideClientId } from '../../src/broker/client-id.js'

// What a CONNECT's client id becomes, [MQTT-3.1.3-6..9] with gridgate's identity model.

describe('decideClientId', () => {
  it.each([
    { name: 'a non-empty id is kept, whatever else', connect: { clientId: 'dev-1', clean: false, protocolVersion: 4 }, who: { username: 'dev-2' }, decision: { ok: true } },
    { name: 'empty id, clean session 0: identifier rejected [MQTT-3.1.3-8]', connect: { clientId: '', clean: false, protocolVersion: 4 }, who: { username: 'dev-1' }, decision: { ok: false, returnCode: 2 } },
    { name: 'empty id, clean session 0, anonymous: identifier rejected', connect: { clientId: '', clean: false, protocolVersion: 4 }, who: {}, decision: { ok: false, returnCode: 2 } },
    { name: 'empty id, clean session 0, certificate: identifier rejected', connect: { clientId: '', clean: false, protocolVersion: 4 }, who: { certificateName: 'dev-1' }, decision: { ok: false, returnCode: 2 } },
    { name: 'empty id, clean session 1, password: the username', connect: { clientId: '', clean: true, protocolVersion: 4 }, who: { username: 'dev-1' }, decision: { ok: true, assign: 'dev-1' } },
    { name: 'empty id, clean session 1, certificate: its CN', connect: { clientId: '', clean: true, protocolVersion: 4 }, who: { certificateName: 'dev-1' }, decision: { ok: true, assign: 'dev-1' } },
    { name: 'empty id, clean session 1, username and certificate: the username (it is what is checked)', connect: { clientId: '', clean: true, protocolVersion: 4 }, who: { username: 'dev-1', certificateName: 'dev-2' }, decision: { ok: true, assign: 'dev-1' } },
    { name: 'empty id, clean session 1, anonymous: the unique id aedes made up', connect: { clientId: '', clean: true, protocolVersion: 4 }, who: {}, decision: { ok: true } },
    { name: 'empty id and empty username: nothing to assign (authentication refuses it)', connect: { clientId: '', clean: true, protocolVersion: 4 }, who: { username: '' }, decision: { ok: true } },
    { name: 'MQTT 3.1, empty id, clean session 1: identifier rejected (1 to 23 characters)', connect: { clientId: '', clean: true, protocolVersion: 3 }, who: { username: 'dev-1' }, decision: { ok: false, returnCode: 2 } },
    { name: 'MQTT 3.1, non-empty id: kept', connect: { clientId: 'dev-1', clean: true, protocolVersion: 3 }, who: { username: 'dev-1' }, decision: { ok: true } }
  ])('$name', ({ connect, who, decision }) => {
    expect(decideClientId(connect, who)).toMatchObject(decision)
  })
})
