import type { Clock, TimerHandle } from '../core/clock.js'
import { GridgateError } from '../core/errors.js'

// The nodes of a cluster: gateway processes pointed at one shared store (the `redis` engine,
// one Redis server and key prefix) form one gateway. Each node has an id and a heartbeat record
// in the store, refreshed every cluster.heartbeatIntervalMs and gone cluster.heartbeatExpiryMs
// after the last refresh, so the live nodes are the records that exist. A gateway on an
// embedded engine (leveldb, memory) is a cluster of one: the same code runs over a NodeStore in
// this process.
//
// NodeStore is the port (its Redis adapter: storage/redis/redis-node-store.ts; its contract
// suite: test/registry/node-store.contract.ts). The node itself (createClusterNode) only
// times the heartbeats, on the gateway's clock; the expiry is the store's (Redis' real time), so
// a gateway on Redis with a manual clock that does not move drops out of the list.
//
// Node ids are not kept across restarts: an id names one run of a process, generated at start
// unless cluster.nodeId (GRIDGATE_NODE_ID) sets one. On a cluster nothing of a node is on its
// own disk (its dataDir may be a container's scratch space, and a kept id would travel with a
// copied data directory to a second process); and what a node held in the cluster (its
// heartbeat now; leases and device connections later) is to be recovered the same way whether
// it crashed or restarted: when its heartbeat expires, not by a new process claiming the old
// process's id while that one may still be alive (paused, or cut off from its clients but not
// from Redis). Operators who want stable names set cluster.nodeId (e.g. a pod name); two live
// processes never hold one id (see `instance` below).

export interface NodeRecord {
  id: string
  /** The node's listener URLs, as in its `listening` line (http, mqtt, ws, …). */
  listeners: Record<string, string>
  /** RFC 3339, on the node's clock. */
  startedAt: string
  lastHeartbeat: string
}

export interface NodeInfo extends NodeRecord {
  /**
   * What the node holds for the cluster, by kind: a count of each. `devices`: the device
   * connections it holds (their presence records, registry/presence.ts); `subscriptions`: the event
   * subscriptions it delivers (their leases, delivery/leases.ts).
   */
  owns: Record<string, number>
}

/**
 * Where nodes announce themselves. A record lives for `expiryMs` after its last announce, timed
 * by the store (Redis: the key's PX), so liveness depends on no node's clock. `instance` names
 * one process: a record is replaced or withdrawn only by the instance that wrote it, so a second
 * process configured with a live node's id cannot take it over.
 */
export interface NodeStore {
  /** Writes the record for `expiryMs`; 'taken' (and nothing written) while another instance's record of that id lives. */
  announce: (record: NodeRecord, instance: string, expiryMs: number) => Promise<'ok' | 'taken'>
  /** Removes the record when it is this instance's. */
  withdraw: (id: string, instance: string) => Promise<void>
  /** The live records, by id. */
  list: () => Promise<NodeRecord[]>
}

/** The live nodes of the cluster, for the API and for later cluster features (presence, leases). */
export interface NodeDirectory {
  /** This node's id. */
  readonly id: string
  /** The live nodes, this one included once it has started, by id. */
  list: () => Promise<NodeInfo[]>
}

export interface ClusterNode extends NodeDirectory {
  /**
   * Announces the node and keeps its heartbeat. When another instance holds the id, waits until
   * that record could have expired (heartbeatExpiryMs plus one interval: the previous run of a
   * restarted node) and fails with CONFIG_INVALID when it still lives.
   */
  start: (listeners: Record<string, string>) => Promise<void>
  /** Stops the heartbeat and removes the record (other nodes see this one gone at once). */
  stop: () => Promise<void>
}

export interface NodeOptions {
  id: string
  store: NodeStore
  clock: Clock
  /**
   * How often the record is refreshed; null: never, because the store is this process's own (the
   * embedded engines' cluster of one, where nobody else reads it): the record is written once,
   * lives until stop, and lists with the time of the answer as its last heartbeat.
   */
  intervalMs: number | null
  expiryMs: number
  /** Unique per process (a random token). */
  instance: string
  /** A heartbeat that failed or found its id taken; the next one is tried on time anyway. */
  onError?: (err: unknown) => void
  /** What each of these nodes holds, by kind (NodeInfo.owns); nothing when absent. */
  owns?: (ids: string[]) => Promise<Array<Record<string, number>>>
}

const iso = (ms: number): string => new Date(ms).toISOString()

export function createClusterNode (opts: NodeOptions): ClusterNode {
  const { id, store, clock, intervalMs, expiryMs, instance } = opts
  let record: NodeRecord | undefined
  let timer: TimerHandle | undefined
  let beating: Promise<void> = Promise.resolve()
  let stopped = false
  let wake: (() => void) | undefined

  const sleep = async (ms: number): Promise<void> => {
    await new Promise<void>((resolve) => {
      wake = resolve
      timer = clock.setTimer(ms, resolve)
    })
  }

  const beat = async (): Promise<void> => {
    if (record === undefined || stopped) return
    record = { ...record, lastHeartbeat: iso(clock.now()) }
    try {
      if (await store.announce(record, instance, expiryMs) === 'taken') {
        opts.onError?.(new Error(`the heartbeat of node '${id}' expired and another process took the id`))
      }
    } catch (err) {
      opts.onError?.(err)
    }
  }
  const schedule = (): void => {
    if (stopped || intervalMs === null) return
    timer = clock.setTimer(intervalMs, () => {
      beating = beat().then(schedule)
    })
  }

  return {
    id,
    async list () {
      const records = await store.list()
      const owns = opts.owns === undefined ? [] : await opts.owns(records.map((r) => r.id))
      return records.map((r, i) => ({
        ...r,
        ...(intervalMs === null && r.id === id ? { lastHeartbeat: iso(clock.now()) } : {}),
        owns: owns[i] ?? {}
      }))
    },
    async start (listeners) {
      const now = clock.now()
      record = { id, listeners: { ...listeners }, startedAt: iso(now), lastHeartbeat: iso(now) }
      if (intervalMs === null) {
        await store.announce(record, instance, Number.POSITIVE_INFINITY)
        return
      }
      // A record of this id from another instance: a previous run that has not expired yet, or a live twin.
      const deadline = now + expiryMs + intervalMs
      while (await store.announce(record, instance, expiryMs) === 'taken') {
        if (clock.now() >= deadline) {
          throw new GridgateError('CONFIG_INVALID', `cluster.nodeId '${id}' is in use: another live node keeps its heartbeat; give this node another id (or none)`, { details: { field: '/cluster/nodeId' } })
        }
        await sleep(intervalMs)
        if (stopped) return
        record = { ...record, lastHeartbeat: iso(clock.now()) }
      }
      schedule()
    },
    async stop () {
      if (stopped) return
      stopped = true
      timer?.cancel()
      wake?.()
      await beating
      if (record !== undefined) await store.withdraw(id, instance)
    }
  }
}

/** A node id from the host name and a few random hex digits: `{host}-{hex}`, within NAME_PATTERN. Pure. */
export function newNodeId (hostname: string, randomHex: string): string {
  const host = hostname.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 40)
  return `${host === '' ? 'node' : host}-${randomHex.slice(0, 8)}`
}

interface Held {
  record: NodeRecord
  instance: string
  expiresAt: number
}

/** NodeStore in this process: the cluster of one of the embedded engines (and a reference for the contract suite). */
export function createLocalNodeStore (clock: Clock): NodeStore {
  const held = new Map<string, Held>()
  const live = (h: Held | undefined): h is Held => h !== undefined && h.expiresAt > clock.now()
  return {
    async announce (record, inst, ms) {
      const h = held.get(record.id)
      if (live(h) && h.instance !== inst) return 'taken'
      held.set(record.id, { record: structuredClone(record), instance: inst, expiresAt: clock.now() + ms })
      return 'ok'
    },
    async withdraw (nodeId, inst) {
      const h = held.get(nodeId)
      if (h !== undefined && (h.instance === inst || !live(h))) held.delete(nodeId)
    },
    async list () {
      const out: NodeRecord[] = []
      for (const [key, h] of held) {
        if (live(h)) out.push(structuredClone(h.record))
        else held.delete(key)
      }
      return out.sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    }
  }
}
