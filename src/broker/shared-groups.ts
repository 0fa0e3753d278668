import { isValidFilter, topicMatches } from '../core/topic-match.js'

// Shared subscriptions, `$share/{group}/{filter}` (MQTT 5 §4.8.2, as Event Grid, EMQX, HiveMQ,
// Mosquitto and AWS IoT offer them to 3.1.1 clients too): the subscriptions of one group and
// filter form one share, and each matching message goes to one of its members.
//
// SharedGroups is the state a cluster of gateways must agree on: which connections are members
// of which share and whose turn it is. It is a port: this file has the in-process
// implementation; a Redis one (a list per share, an atomic counter for the turn, the share
// filters mirrored to every node) comes with the cluster issue. Sending, in-flight windows
// and redelivery stay with the node that holds a member's connection (shared-dispatch.ts),
// and members are named by node and connection, never by a process-local object.

export interface Share {
  group: string
  /** The topic filter inside `$share/{group}/`. */
  filter: string
}

export interface ShareMember {
  /** Unique per connection over the cluster: a newer connection of the same client id is another member. */
  id: string
  clientId: string
  /** The gateway process holding the connection. */
  node: string
  /** The QoS the member subscribed with; shared subscriptions grant at most 1. */
  qos: 0 | 1
}

export interface SharedGroups {
  /** Adds the member to the share, or updates its QoS when it is one already. */
  join: (share: Share, member: ShareMember) => Promise<void>
  leave: (share: Share, memberId: string) => Promise<void>
  /**
   * The shares whose filter matches `topic`. Called for every message the broker publishes, so
   * it answers from this node's own copy of the share filters, synchronously.
   */
  matching: (topic: string) => readonly Share[]
  /** The share's members, in turn: each call starts one member further on (round robin). */
  turn: (share: Share) => Promise<ShareMember[]>
}

const PREFIX = '$share/'

/** `$share/{group}/{filter}` as written in SUBSCRIBE and UNSUBSCRIBE. */
export function shareTopic (share: Share): string {
  return `${PREFIX}${share.group}/${share.filter}`
}

/**
 * The share a subscription names: undefined when the filter is not a shared one, 'invalid'
 * when it starts with `$share/` but is malformed: a ShareName must be at least one character
 * without '/', '+' or '#', followed by '/' and a valid topic filter [MQTT-4.8.2-1, -2].
 */
export function parseSharedFilter (topic: string): Share | 'invalid' | undefined {
  if (!topic.startsWith(PREFIX)) return undefined
  const rest = topic.slice(PREFIX.length)
  const slash = rest.indexOf('/')
  if (slash <= 0) return 'invalid'
  const group = rest.slice(0, slash)
  const filter = rest.slice(slash + 1)
  if (/[+#]/.test(group) || !isValidFilter(filter)) return 'invalid'
  return { group, filter }
}

interface Entry {
  share: Share
  members: ShareMember[]
  next: number
}

const NONE: readonly Share[] = Object.freeze([])

/** SharedGroups in this process: a gateway without a cluster. */
export function createInProcessSharedGroups (): SharedGroups {
  const shares = new Map<string, Entry>()
  return {
    async join (share, member) {
      const key = shareTopic(share)
      let entry = shares.get(key)
      if (entry === undefined) shares.set(key, entry = { share: { ...share }, members: [], next: 0 })
      const i = entry.members.findIndex((m) => m.id === member.id)
      if (i >= 0) entry.members[i] = { ...member }
      else entry.members.push({ ...member })
    },
    async leave (share, memberId) {
      const key = shareTopic(share)
      const entry = shares.get(key)
      if (entry === undefined) return
      entry.members = entry.members.filter((m) => m.id !== memberId)
      if (entry.members.length === 0) shares.delete(key)
    },
    matching (topic) {
      if (shares.size === 0) return NONE // every publish asks: no allocation while nothing is shared
      const out: Share[] = []
      for (const entry of shares.values()) if (topicMatches(entry.share.filter, topic)) out.push(entry.share)
      return out
    },
    async turn (share) {
      const entry = shares.get(shareTopic(share))
      if (entry === undefined) return []
      const n = entry.members.length
      const start = entry.next % n
      entry.next = (start + 1) % n
      return [...entry.members.slice(start), ...entry.members.slice(0, start)]
    }
  }
}
