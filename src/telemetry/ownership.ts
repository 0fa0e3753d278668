import type { Clock } from '../core/clock.js'
import { preferredOwner, type Lease, type SubscriptionLeases } from '../core/leases.js'
import type { ClusterSignals } from '../core/signals.js'
import { startStepLoop } from '../core/step-loop.js'
import type { Telemetry } from './telemetry.js'

// Which telemetry source streams this node processes, on a cluster: each source's stream runs
// on one node at a time, the holder of its lease (`$telemetry!{source}`, core/leases.ts).
// Each interval, and at once when another node hands one over: renew the leases held (a lost
// one: the stream stops here without writing more), hand a stream to the node rendezvous
// hashing prefers once that node was seen live for REBALANCE_AFTER intervals (a final
// checkpoint under the lease, then the lease given back), and take the free ones this node is
// preferred for, or any left free for REBALANCE_AFTER intervals. A stream writes only until
// its lease's end as measured here, less one interval (telemetry/stream.ts, `owner`).
//
// Window definitions changed on any node reach the owners through the signal `telemetry`
// (published by whoever changed one) and at every step.

export const REBALANCE_AFTER = 3

export const streamKey = (source: string): string => `$telemetry!${source}`

export interface TelemetryOwnershipOptions {
  node: string
  leases: SubscriptionLeases
  liveNodes: () => Promise<string[]>
  signals: ClusterSignals
  /** The configured source topics (the same on every node). */
  sources: readonly string[]
  telemetry: Pick<Telemetry, 'own' | 'extend' | 'disown' | 'reloadWindows'>
  clock: Clock
  intervalMs: number
  leaseMs: number
  onError?: (err: unknown) => void
}

export interface TelemetryOwnership {
  /** Runs the ownership step now (once more after the running one, when one runs). */
  tick: () => Promise<void>
  /** A window definition changed on this node: the owners are told. */
  windowsChanged: () => void
  /** The number of streams each node holds, in the order of `nodes`. */
  ownedBy: (nodes: readonly string[]) => Promise<number[]>
  /** Stops: a final checkpoint of each stream held, and the leases given back. */
  close: () => Promise<void>
}

export function startTelemetryOwnership (opts: TelemetryOwnershipOptions): TelemetryOwnership {
  const { node, leases, clock, telemetry } = opts
  const keys = opts.sources.map(streamKey)
  const sourceOf = new Map(opts.sources.map((s) => [streamKey(s), s]))
  const held = new Map<string, Lease>()
  const seenLive = new Map<string, number>()
  const freeFor = new Map<string, number>()
  // Writes end one interval before the lease would, counted from before the request went out.
  const untilFrom = (sent: number): number => sent + opts.leaseMs - opts.intervalMs
  let closed = false

  async function giveUp (key: string, handover: boolean): Promise<void> {
    const lease = held.get(key)
    if (lease === undefined) return
    held.delete(key)
    try {
      await telemetry.disown(sourceOf.get(key) as string, handover)
    } finally {
      if (handover) await leases.release(key, lease).catch(() => undefined)
    }
  }

  async function step (): Promise<void> {
    const live = new Set(await opts.liveNodes())
    live.add(node)
    for (const id of [...seenLive.keys()]) if (!live.has(id)) seenLive.delete(id)
    for (const id of live) seenLive.set(id, (seenLive.get(id) ?? 0) + 1)
    const nodes = [...live].sort()
    let handedOver = false
    for (const [key, lease] of [...held]) {
      if (closed) return
      const sent = clock.now()
      if (!await leases.renew(key, lease, opts.leaseMs)) { await giveUp(key, false); continue }
      const preferred = preferredOwner(key, nodes)
      if (preferred !== undefined && preferred !== node && (seenLive.get(preferred) ?? 0) >= REBALANCE_AFTER) {
        await giveUp(key, true)
        handedOver = true
        continue
      }
      await telemetry.extend(sourceOf.get(key) as string, untilFrom(sent))
    }
    const others = keys.filter((k) => !held.has(k))
    const owners = others.length === 0 ? [] : await leases.owners(others)
    for (const [i, key] of others.entries()) {
      if (closed) return
      if (owners[i] !== undefined) { freeFor.delete(key); continue }
      const free = (freeFor.get(key) ?? 0) + 1
      freeFor.set(key, free)
      if (preferredOwner(key, nodes) !== node && free < REBALANCE_AFTER) continue
      const sent = clock.now()
      const lease = await leases.acquire(key, node, opts.leaseMs)
      if (lease === undefined) continue
      freeFor.delete(key)
      held.set(key, lease)
      try {
        await telemetry.own(sourceOf.get(key) as string, { key, lease }, untilFrom(sent))
      } catch (err) {
        await giveUp(key, true)
        throw err
      }
    }
    // Definitions changed while a signal was lost are picked up here.
    if (held.size > 0) await telemetry.reloadWindows()
    if (handedOver) await opts.signals.publish({ kind: 'telemetry-owners', from: node }).catch((err: unknown) => opts.onError?.(err))
  }

  const loop = startStepLoop(step, { clock, intervalMs: opts.intervalMs, onError: opts.onError })
  const tick = loop.tick
  const stopSignals = opts.signals.subscribe((sig) => {
    if (sig.from === node) return
    if (sig.kind === 'telemetry-owners') void tick()
    else if (sig.kind === 'telemetry' && held.size > 0) telemetry.reloadWindows().catch((err: unknown) => opts.onError?.(err))
  })

  return {
    tick,
    windowsChanged: () => {
      opts.signals.publish({ kind: 'telemetry', from: node }).catch((err: unknown) => opts.onError?.(err))
    },
    async ownedBy (nodes) {
      const owners = keys.length === 0 ? [] : await leases.owners(keys)
      return nodes.map((n) => owners.filter((l) => l?.node === n).length)
    },
    async close () {
      closed = true
      stopSignals()
      await loop.stop()
      for (const key of [...held.keys()]) await giveUp(key, true).catch((err: unknown) => opts.onError?.(err))
      // The others take them over at once instead of at their next interval.
      await opts.signals.publish({ kind: 'telemetry-owners', from: node }).catch(() => undefined)
    }
  }
}
