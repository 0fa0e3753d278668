import { MessageChannel } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { GridgateError } from '../../src/core/errors.js'
import { createRpc, transferring } from '../../src/core/port-rpc.js'
import { errorFromWire, errorToWire } from '../../src/core/wire-error.js'
import { useTeardown } from '../helpers/teardown.js'

const teardown = useTeardown()

function pair (handlers: Record<string, (...args: never[]) => unknown>, onNotice?: (kind: string, value: unknown) => void) {
  const { port1, port2 } = new MessageChannel()
  const server = createRpc(port1, { handlers, onNotice })
  const client = createRpc(port2)
  teardown(() => { client.close(); server.close(); port1.close() })
  return { server, client }
}

describe('errors across a thread boundary', () => {
  it('gives a GridgateError back with its code, message, details and status', () => {
    const back = errorFromWire(structuredClone(errorToWire(new GridgateError('WINDOW_INVALID', 'window.sizeSeconds: must be a number', { details: { field: 'window.sizeSeconds' } }))))
    expect(back).toBeInstanceOf(GridgateError)
    expect(back).toMatchObject({ code: 'WINDOW_INVALID', status: 400, message: 'window.sizeSeconds: must be a number', details: { field: 'window.sizeSeconds' } })
  })

  it('gives any other error back as an Error with its name and message', () => {
    const back = errorFromWire(structuredClone(errorToWire(new RangeError('too far'))))
    expect(back).not.toBeInstanceOf(GridgateError)
    expect(back).toMatchObject({ name: 'RangeError', message: 'too far' })
  })
})

describe('calls over a message port', () => {
  it('answers a call with the handler\'s value, and rejects with the error it threw', async () => {
    const { client } = pair({
      add: (a: number, b: number) => a + b,
      find: async (name: string) => { throw new GridgateError('WINDOW_NOT_FOUND', `No telemetry window '${name}'`) }
    })
    expect(await client.call('add', 2, 3)).toBe(5)
    await expect(client.call('find', 'w')).rejects.toMatchObject({ code: 'WINDOW_NOT_FOUND', status: 404, message: "No telemetry window 'w'" })
    await expect(client.call('missing')).rejects.toThrow(/no handler 'missing'/)
  })

  it('moves transferred buffers instead of copying them, both ways', async () => {
    const { client } = pair({
      echo: (data: ArrayBuffer) => {
        const copy = new Uint8Array(data).slice().buffer
        return transferring(copy, [copy])
      }
    })
    const sent = new Uint8Array([1, 2, 3]).buffer
    const back = await client.call<ArrayBuffer>('echo', transferring(sent, [sent]))
    expect(sent.byteLength).toBe(0) // detached: it moved
    expect([...new Uint8Array(back)]).toEqual([1, 2, 3])
  })

  it('fails the calls still waiting when the caller gives up on the other side', async () => {
    const { client } = pair({ never: async () => await new Promise(() => {}) })
    const waiting = client.call('never')
    expect(client.pending).toBe(1)
    client.failPending(new GridgateError('NOT_READY', 'gone'))
    await expect(waiting).rejects.toMatchObject({ code: 'NOT_READY' })
  })

  it('delivers notices in order with the calls\' answers', async () => {
    const seen: unknown[] = []
    const { port1, port2 } = new MessageChannel()
    const server = createRpc(port1, { handlers: { ping: () => { server.notify('note', 1); return 'pong' } } })
    const client = createRpc(port2, { onNotice: (_kind, v) => seen.push(v) })
    teardown(() => { client.close(); server.close(); port1.close() })
    expect(await client.call('ping')).toBe('pong')
    expect(seen).toEqual([1])
  })
})
