import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { once, pause, reached, until, WaitTimeout, within } from './wait.js'

describe('test waits', () => {
  it('until resolves once the predicate holds, and otherwise names what it waited for', async () => {
    let n = 0
    await until(() => ++n >= 3, { timeoutMs: 1000, what: 'three checks', everyMs: 1 })
    expect(n).toBe(3)
    const err = await until(() => false, { timeoutMs: 30, what: 'the impossible' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(WaitTimeout)
    expect((err as Error).message).toBe('timed out after 30 ms waiting for the impossible')
  })

  it('reached says whether the predicate came true in time, async predicates included', async () => {
    let ready = false
    setTimeout(() => { ready = true }, 10)
    expect(await reached(async () => ready, { timeoutMs: 1000, everyMs: 2 })).toBe(true)
    expect(await reached(() => false, { timeoutMs: 20 })).toBe(false)
  })

  it('within bounds a promise: its value, a named timeout, or orElse', async () => {
    expect(await within(Promise.resolve(7), { timeoutMs: 100, what: 'seven' })).toBe(7)
    await expect(within(new Promise(() => {}), { timeoutMs: 20, what: 'a never-settling promise' })).rejects.toThrow('timed out after 20 ms waiting for a never-settling promise')
    expect(await within(new Promise(() => {}), { timeoutMs: 20, orElse: -1 })).toBe(-1)
    await expect(within(Promise.reject(new Error('boom')), { timeoutMs: 100, what: 'x' })).rejects.toThrow('boom')
  })

  it('once resolves with the event arguments, times out naming the event, and removes its listener', async () => {
    const e = new EventEmitter()
    setTimeout(() => e.emit('ping', 1, 'two'), 5)
    expect(await once(e, 'ping', { timeoutMs: 1000 })).toEqual([1, 'two'])
    await expect(once(e, 'pong', { timeoutMs: 20 })).rejects.toThrow("timed out after 20 ms waiting for the 'pong' event")
    await expect(once(e, 'pong', { timeoutMs: 20, what: 'a pong' })).rejects.toThrow('waiting for a pong')
    expect(await once(e, 'pong', { timeoutMs: 20, orElse: 'none' })).toBe('none')
    expect(e.listenerCount('pong')).toBe(0)
  })

  it('pause sleeps about as long as asked', async () => {
    const t0 = Date.now()
    await pause(20)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(15)
  })
})
