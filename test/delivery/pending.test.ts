import { describe, expect, it } from 'vitest'
import { dueAt, verdict, type PendingEntry } from '../../src/delivery/pending.js'

// dueAt is what the queue's heap orders entries by: it must name exactly the first moment
// verdict() stops saying 'wait', for every kind of entry.

const limits = { maxDeliveryCount: 3, ttlMs: 1000 }
const entry = (over: Partial<PendingEntry>): PendingEntry => ({ offset: 1, appendTime: 0, deliveryCount: 1, availableAt: 0, ...over })

describe('dueAt', () => {
  it.each<[string, Partial<PendingEntry>, number]>([
    ['new and available', {}, 0],
    ['available later', { availableAt: 300 }, 300],
    ['locked', { lockedUntil: 500, lockToken: 't' }, 500],
    ['locked, then waiting for a retry', { lockedUntil: 200, lockToken: 't', availableAt: 400 }, 400],
    ['locked past its time to live', { lockedUntil: 1500, lockToken: 't' }, 1500],
    ['waiting past its time to live', { availableAt: 5000 }, 1000],
    ['out of attempts, locked', { deliveryCount: 3, lockedUntil: 700, lockToken: 't', availableAt: 900 }, 700],
    ['out of attempts, waiting', { deliveryCount: 3, availableAt: 900 }, -Infinity],
    ['appended late, lock ended', { appendTime: 600, lockedUntil: 100, availableAt: 800 }, 800]
  ])('%s: due at %d, and verdict agrees', (_name, over, expected) => {
    const e = entry(over)
    const at = dueAt(e, limits)
    expect(at).toBe(expected)
    for (const now of [-1, 0, 1, 99, 100, 199, 200, 299, 300, 399, 400, 499, 500, 699, 700, 799, 800, 899, 900, 999, 1000, 1499, 1500, 4999, 5000]) {
      expect(verdict(e, now, limits).kind !== 'wait', `now ${now}`).toBe(now >= at)
    }
  })
})
