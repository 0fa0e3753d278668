import type { ClusterSignals, Signal } from '../../core/signals.js'
import type { RedisConnection } from './connection.js'

// Signals between the nodes of a cluster (core/signals.ts) over Redis pub/sub, on the channel
//   P signals
// published on the engine's connection and heard on a connection of its own (a subscribed
// connection can run no other command), which ioredis subscribes again after a reconnect.
// Pub/sub is at most once: what passes while a node is disconnected is lost to it, which the
// port allows (signals are wake-ups; the state is in the store).

export async function openRedisSignals (redis: RedisConnection, onError: (err: unknown) => void): Promise<ClusterSignals> {
  const channel = `${redis.prefix}signals`
  const listeners = new Set<(signal: Signal) => void>()
  const sub = redis.duplicate()
  sub.on('error', onError)
  sub.on('message', (from: string, text: string) => {
    if (from !== channel) return
    let signal: Signal
    try {
      signal = JSON.parse(text) as Signal
    } catch (err) {
      onError(err)
      return
    }
    for (const l of listeners) {
      try { l(signal) } catch (err) { onError(err) }
    }
  })
  try {
    await sub.subscribe(channel)
  } catch (err) {
    sub.disconnect()
    throw err
  }
  let closed = false
  return {
    async publish (signal) {
      if (closed) return
      await redis.client.publish(channel, JSON.stringify(signal))
    },
    subscribe (listener) {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    async close () {
      if (closed) return
      closed = true
      listeners.clear()
      try { await sub.quit() } catch { sub.disconnect() }
    }
  }
}
