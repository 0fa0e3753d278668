import { createHash } from 'node:crypto'
import type { Clock } from './clock.js'

// Ownership across the nodes of a cluster: each event subscription is delivered, and each
// telemetry source stream processed, by one node at a time, the holder of its lease in the
// shared store. A lease lives for `ms` after it was taken or last renewed, timed by the store
// (Redis' PX on the `redis` engine), and carries a fencing token that grows with every
// acquisition, so a stale holder (paused, cut off) is told apart from the current one: the
// store refuses its writes
// (SubscriptionStore.queue with a lease, TelemetryStore.commit with a fence). `key` is
// `{topic}!{subscription}` for a subscription, `$telemetry!{source}` for a telemetry stream
// (no topic name starts with `$`).
//
// The port; its Redis adapter is in storage/redis/redis-subscription-store.ts, the contract
// suite in test/delivery/subscription-leases.contract.ts.

export interface Lease {
  node: string
  /** The fencing token: unique per acquisition of this key, increasing. */
  fence: number
}

export interface SubscriptionLeases {
  /** Takes the lease for `node` when nobody holds it; undefined when it is held. */
  acquire: (key: string, node: string, ms: number) => Promise<Lease | undefined>
  /** Extends the lease while it is still this one; false when it expired or another holds it. */
  renew: (key: string, lease: Lease, ms: number) => Promise<boolean>
  /** Gives the lease up while it is still this one. */
  release: (key: string, lease: Lease) => Promise<void>
  /** Removes whatever lease the key has (the subscription was deleted). */
  clear: (key: string) => Promise<void>
  /** The current holders, in the order of `keys`. */
  owners: (keys: readonly string[]) => Promise<Array<Lease | undefined>>
}

/** The lease's value as stored: `{node}|{fence}`. */
export const leaseValue = (lease: Lease): string => `${lease.node}|${lease.fence}`

export function parseLease (value: string | null | undefined): Lease | undefined {
  if (value === null || value === undefined) return undefined
  const at = value.lastIndexOf('|')
  const fence = Number(value.slice(at + 1))
  return at <= 0 || !Number.isSafeInteger(fence) ? undefined : { node: value.slice(0, at), fence }
}

/**
 * The node that should own `key` among `nodes` (rendezvous hashing: the highest hash of node
 * and key wins), so ownership spreads evenly and a node joining or leaving moves only the
 * subscriptions it wins or held. Pure.
 */
export function preferredOwner (key: string, nodes: readonly string[]): string | undefined {
  let best: string | undefined
  let bestScore = ''
  for (const node of nodes) {
    const score = createHash('sha1').update(`${node}\n${key}`).digest('hex')
    if (best === undefined || score > bestScore || (score === bestScore && node < best)) {
      best = node
      bestScore = score
    }
  }
  return best
}

/** Leases in this process, on its clock: a reference implementation for the contract suite and tests. */
export function createLocalLeases (clock: Clock): SubscriptionLeases {
  const held = new Map<string, { lease: Lease, until: number }>()
  const fences = new Map<string, number>()
  const current = (key: string): Lease | undefined => {
    const h = held.get(key)
    if (h === undefined) return undefined
    if (h.until > clock.now()) return h.lease
    held.delete(key)
    return undefined
  }
  const same = (a: Lease | undefined, b: Lease): boolean => a !== undefined && a.node === b.node && a.fence === b.fence
  return {
    async acquire (key, node, ms) {
      if (current(key) !== undefined) return undefined
      const fence = (fences.get(key) ?? 0) + 1
      fences.set(key, fence)
      const lease = { node, fence }
      held.set(key, { lease, until: clock.now() + ms })
      return { ...lease }
    },
    async renew (key, lease, ms) {
      if (!same(current(key), lease)) return false
      held.set(key, { lease: { ...lease }, until: clock.now() + ms })
      return true
    },
    async release (key, lease) {
      if (same(current(key), lease)) held.delete(key)
    },
    async clear (key) { held.delete(key) },
    owners: async (keys) => keys.map((k) => { const l = current(k); return l === undefined ? undefined : { ...l } })
  }
}
