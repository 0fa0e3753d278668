import { describe, expect, it } from 'vitest'
import { ManualClock } from '../../../src/core/clock.js'
import { GridgateError } from '../../../src/core/errors.js'
import { failedTakeDelayMs, startPushDispatcher } from '../../../src/delivery/push/dispatcher.js'
import type { Subscription } from '../../../src/delivery/subscriptions.js'
import type { TopicLog } from '../../../src/log/types.js'

// A push dispatcher whose queue cannot be read or written (the store unreachable: Redis down)
// while an entry is due (a lock expired, a retry came due) waits longer after each failed take
// instead of trying again every millisecond, and takes again at once when the store is back.

const flush = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

describe('push dispatcher - failed takes', () => {
  it('waits 100 ms after a failed take, doubling to 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 50].map(failedTakeDelayMs)).toEqual([1, 100, 200, 400, 800, 1600, 3200, 5000, 5000])
  })

  it('backs off while the store fails, with an entry due all along', async () => {
    const clock = new ManualClock()
    const takes: number[] = []
    let storeUp = false
    const errors: unknown[] = []
    const sub = {
      topic: 't',
      name: 's',
      spec: { push: { maxDeliveryCount: 10, eventTimeToLive: 'P1D', endpointUrl: 'https://example.invalid/', maxEventsPerBatch: 1, preferredBatchSizeInKilobytes: 64 } },
      queue: {
        take: async () => {
          takes.push(clock.now() - start)
          if (!storeUp) throw new GridgateError('STORAGE_UNAVAILABLE')
          return []
        },
        nextWakeAt: () => clock.now() // an entry is due
      }
    } as unknown as Subscription
    const log = { waitForAppend: async () => await new Promise<boolean>(() => {}) } as unknown as TopicLog
    const start = clock.now()
    const stop = startPushDispatcher(sub, { log, clock, client: { timeoutMs: 1000 } as never, policy: {} as never, random: () => 0, concurrency: 1, onError: (_s, err) => errors.push(err) })
    for (let t = 0; t < 10_000; t += 10) {
      await flush()
      clock.advance(10)
    }
    await flush()
    expect(takes).toEqual([0, 100, 300, 700, 1500, 3100, 6300])
    expect(errors).toHaveLength(7)

    storeUp = true
    for (let t = 0; t < 5000 && takes.length === 7; t += 10) {
      await flush()
      clock.advance(10)
    }
    await flush()
    expect(takes[7]).toBe(11_300) // the next wake-up after the last failure; a take that works resets the wait
    await stop()
  })
})
