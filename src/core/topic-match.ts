// MQTT 3.1.1 topic names and filters (§4.7). Pure; shared by broker, ingest and delivery.

/** True when `filter` is a valid topic filter: '#' only last and alone in its level, '+' alone in its level. */
export function isValidFilter (filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535) return false
  const levels = filter.split('/')
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string
    if (level === '#') { if (i !== levels.length - 1) return false; continue } // [MQTT-4.7.1-2]
    if (level === '+') continue
    if (level.includes('#') || level.includes('+')) return false // [MQTT-4.7.1-3]
  }
  return true
}

/** True when the topic name `topic` matches `filter`. */
export function topicMatches (filter: string, topic: string): boolean {
  const f = filter.split('/')
  const t = topic.split('/')
  // [MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with '$'.
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false
  for (let i = 0; i < f.length; i++) {
    const level = f[i] as string
    if (level === '#') return true // also matches the parent level ('a/#' matches 'a')
    if (i >= t.length) return false
    if (level !== '+' && level !== t[i]) return false
  }
  return f.length === t.length
}

/**
 * True when every topic that `inner` can match is also matched by `outer`: a client allowed
 * to subscribe to `outer` may subscribe to `inner`.
 */
export function filterCovers (outer: string, inner: string): boolean {
  const o = outer.split('/')
  const n = inner.split('/')
  // A filter starting with a wildcard never reaches '$' topics [MQTT-4.7.2-1].
  if (inner.startsWith('$') && (o[0] === '+' || o[0] === '#')) return false
  for (let i = 0; i < o.length; i++) {
    const level = o[i] as string
    if (level === '#') return true
    if (i >= n.length) return false
    const other = n[i] as string
    if (other === '#') return false
    if (level === '+') continue
    if (other === '+' || other !== level) return false
  }
  return o.length === n.length
}
