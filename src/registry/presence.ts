import type { Clock } from '../core/clock.js'
import type { NodeStore } from './nodes.js'

// Which connection of a device is live, for the whole cluster: one presence record per
// connected device, naming the node that holds the connection, the connection itself (a
// random id per connection) and since when. The broker writes it when a connection becomes
// live and clears it when that connection ends; GET /devices reads it on any node.
//
// The record also decides who writes the `system` topic's events (broker.ts): a
// device.disconnected is written by whoever removes a connection's record (its own node when
// it ends, the node of a newer connection that replaced it, the node that revoked the device,
// or the node that swept a dead node's records), and removal is atomic and conditional on the
// connection named, so each connection gets exactly one, whatever the races between nodes.
//
// PresenceStore is the port (its Redis adapter: storage/redis/redis-presence-store.ts; the
// in-process one below, for the embedded engines; its contract suite:
// test/registry/presence-store.contract.ts).

export interface PresenceRecord {
  deviceId: string
  /** The node holding the connection. */
  node: string
  /** Unique per connection (a random id the broker gives it). */
  connection: string
  /** tcp, tls, ws, wss. */
  transport: string
  /** When it became live, ms since the epoch on that node's clock. */
  since: number
}

/**
 * The presence records, shared by every node on a shared engine. Each method is one atomic
 * step in the store (a Lua script on Redis): no two callers, on any nodes, can both remove
 * the same record.
 */
export interface PresenceStore {
  /** Makes `record` the device's record; returns the record it replaced (another connection's), if any. */
  claim: (record: PresenceRecord) => Promise<PresenceRecord | undefined>
  /**
   * Removes the device's record if it names `connection` (held by `node`); returns it when it
   * did, undefined when the record is gone or names another connection.
   */
  release: (deviceId: string, node: string, connection: string) => Promise<PresenceRecord | undefined>
  /** Removes the device's record whatever connection it names (the device was deleted); returns it. */
  remove: (deviceId: string) => Promise<PresenceRecord | undefined>
  /** The records of these devices, in the same order (undefined: not connected). */
  get: (deviceIds: readonly string[]) => Promise<Array<PresenceRecord | undefined>>
  /** The connections a node holds: device id → connection id. */
  ofNode: (node: string) => Promise<Map<string, string>>
  /** How many records each of these nodes holds, in the same order. */
  count: (nodes: readonly string[]) => Promise<number[]>
  /**
   * Nodes holding records whose heartbeat (NodeStore) is gone: dead nodes whose records are to
   * be swept. A node that has never been seen live is included only `graceMs` after its first
   * record (devices connect to a starting node before it announces itself).
   */
  orphans: (graceMs: number) => Promise<string[]>
  /**
   * The node is stopping (its heartbeat goes first, its connections after): its records are
   * counted as orphans only `graceMs` from now, as a node never seen live, since it releases
   * them itself.
   */
  leaving: (node: string) => Promise<void>
}

interface Holder {
  devices: Map<string, string>
  /** 0 once seen live; otherwise when its first record was written. */
  since: number
  /** When it said it was stopping. */
  leaving?: number
}

/** PresenceStore in this process: the embedded engines' (and a reference for the contract suite). */
export function createLocalPresenceStore (clock: Clock, nodes?: NodeStore): PresenceStore {
  const records = new Map<string, PresenceRecord>()
  const holders = new Map<string, Holder>()
  const liveIds = async (): Promise<Set<string> | undefined> => nodes === undefined ? undefined : new Set((await nodes.list()).map((n) => n.id))

  const unindex = (node: string, deviceId: string, connection: string): void => {
    const h = holders.get(node)
    if (h === undefined) return
    if (h.devices.get(deviceId) === connection) h.devices.delete(deviceId)
    if (h.devices.size === 0) holders.delete(node)
  }

  return {
    async claim (record) {
      // A holder already seen live stays so: the node list is read only for a new or unproven
      // holder, not on every connect (a reconnect storm claims thousands at once).
      const proven = holders.get(record.node)?.since === 0
      const live = proven ? undefined : await liveIds()
      const prev = records.get(record.deviceId)
      if (prev !== undefined) unindex(prev.node, prev.deviceId, prev.connection)
      records.set(record.deviceId, { ...record })
      let h = holders.get(record.node)
      if (h === undefined) holders.set(record.node, h = { devices: new Map(), since: clock.now() })
      if ((live === undefined || live.has(record.node)) && h.leaving === undefined) h.since = 0
      h.devices.set(record.deviceId, record.connection)
      return prev === undefined ? undefined : { ...prev }
    },
    async release (deviceId, node, connection) {
      const r = records.get(deviceId)
      const mine = r !== undefined && r.connection === connection
      if (mine) records.delete(deviceId)
      unindex(node, deviceId, connection)
      return mine ? { ...r } : undefined
    },
    async remove (deviceId) {
      const r = records.get(deviceId)
      if (r === undefined) return undefined
      records.delete(deviceId)
      unindex(r.node, deviceId, r.connection)
      return { ...r }
    },
    get: async (deviceIds) => deviceIds.map((id) => {
      const r = records.get(id)
      return r === undefined ? undefined : { ...r }
    }),
    ofNode: async (node) => new Map(holders.get(node)?.devices ?? []),
    count: async (ids) => ids.map((id) => holders.get(id)?.devices.size ?? 0),
    async orphans (graceMs) {
      const live = await liveIds()
      if (live === undefined) return []
      const out: string[] = []
      for (const [node, h] of holders) {
        if (h.leaving !== undefined) {
          if (clock.now() - h.leaving > graceMs) out.push(node)
        } else if (live.has(node)) h.since = 0
        else if (h.since === 0 || clock.now() - h.since > graceMs) out.push(node)
      }
      return out.sort()
    },
    async leaving (node) {
      const h = holders.get(node)
      if (h !== undefined) h.leaving = clock.now()
    }
  }
}
