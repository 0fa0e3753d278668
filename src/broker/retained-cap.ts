// mqtt.maxRetainedPerDevice: the distinct topics each device has a retained message on
// (counted since start). aedes keeps every retained message, so without a cap one device
// could fill the store with topic after topic. Pure state: no aedes, no clock.

export interface RetainedCap {
  /**
   * Whether `deviceId` may retain a message on `topic`, counting the topic when it is new.
   * A clearing publish (empty retained payload) is always allowed and frees its topic.
   */
  allow: (deviceId: string, topic: string, clearing: boolean) => boolean
}

/** `max` 0: no limit (nothing is tracked). */
export function createRetainedCap (max: number): RetainedCap {
  const retained = new Map<string, Set<string>>() // device id -> topics with a retained message
  return {
    allow (deviceId, topic, clearing) {
      if (max === 0) return true
      let set = retained.get(deviceId)
      if (clearing) { set?.delete(topic); return true }
      if (set === undefined) retained.set(deviceId, set = new Set())
      if (set.has(topic)) return true
      if (set.size >= max) return false
      set.add(topic)
      return true
    }
  }
}
