// Signals between the nodes of a cluster: small JSON messages every other node hears, such as
// "this connection was taken over" or "this device was deleted". A port like the clock: the
// storage engine supplies it (Redis pub/sub on the `redis` engine, this process on the
// embedded ones, where there is no other node to hear anything).
//
// Delivery is at most once: a node that is not connected when a signal passes misses it. So a
// signal is only ever a wake-up: whatever must not be lost is in the shared store, and the
// receivers also find it there on their own schedule (broker.ts reconciles presence with the
// store every heartbeat interval).

export type Signal = Record<string, unknown> & { kind: string, from: string }

export interface ClusterSignals {
  /** Sends to every node's listeners, this node's included (they skip their own `from`). */
  publish: (signal: Signal) => Promise<void>
  /** Calls `listener` for each signal heard; returns the function that stops it. */
  subscribe: (listener: (signal: Signal) => void) => () => void
  close: () => Promise<void>
}

/** Signals within this process: the cluster of one of the embedded engines. Delivered after the publish resolves, like a network's. */
export function createLocalSignals (): ClusterSignals {
  const listeners = new Set<(signal: Signal) => void>()
  let closed = false
  return {
    async publish (signal) {
      if (closed) return
      const copy = structuredClone(signal)
      setImmediate(() => { for (const l of listeners) l(copy) })
    },
    subscribe (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    async close () {
      closed = true
      listeners.clear()
    }
  }
}
