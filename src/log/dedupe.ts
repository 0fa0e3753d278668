// Idempotent publish: an event whose (source, id) a topic took within its deduplication window
// is acknowledged but not appended again. Pure: the engines keep this state next to their
// writer, so the check is atomic with the append (storage/level/topic-log.ts plans it inside
// the group commit, the Redis engine inside its append script).
//
// Window semantics, the same on every engine: an event is a duplicate when an event with its
// key was appended less than `windowSeconds` before (append times, the log's clock). A
// duplicate does not extend the window: the first append starts it, and once it has passed
// the same key is appended again (and starts a new window).

export interface DeduplicationPolicy {
  /** 0 turns deduplication off. */
  windowSeconds: number
}

/**
 * The deduplication key of an event. The NUL separator cannot occur in a source (a URI
 * reference), so two different (source, id) pairs never share a key.
 */
export const dedupeKey = (source: string, id: string): string => `${source}\u0000${id}`

/**
 * The key of a serialised CloudEvent, for appends whose caller gave no keys (one parse per
 * event, only on topics with deduplication on). Undefined when the event has no string
 * `source` and `id`: such an event is appended and not indexed.
 */
export function eventDedupeKey (bytes: Buffer): string | undefined {
  let value: unknown
  try { value = JSON.parse(bytes.toString('utf8')) } catch { return undefined }
  if (typeof value !== 'object' || value === null) return undefined
  const { source, id } = value as { source?: unknown, id?: unknown }
  return typeof source === 'string' && typeof id === 'string' ? dedupeKey(source, id) : undefined
}

/**
 * The key of event `i` of an append: the caller's (`keys` given, an undefined entry meaning
 * "do not index this one", e.g. an id the gateway generated), or read from the event.
 */
export function keyAt (events: readonly Buffer[], keys: ReadonlyArray<string | undefined> | undefined, i: number): string | undefined {
  return keys === undefined ? eventDedupeKey(events[i] as Buffer) : keys[i]
}

interface Batch<T> {
  time: number
  keys: string[]
  /** What the engine needs to forget the batch (LevelDB: the key of its persisted record). */
  tag: T
}

/**
 * One topic's index: the keys appended within the window, with their append time, and the
 * batches that added them in append order, so expiry is a walk from the oldest end. Memory
 * is bounded by what the topic takes within one window.
 */
export class DedupeWindow<T = undefined> {
  private readonly seen = new Map<string, number>()
  private batches: Array<Batch<T>> = []
  private head = 0

  constructor (public windowMs: number) {}

  /** Keys indexed now (for tests and metrics). */
  get size (): number { return this.seen.size }

  /** Whether `key` was appended less than the window before `now`. */
  has (key: string, now: number): boolean {
    const t = this.seen.get(key)
    return t !== undefined && now - t < this.windowMs
  }

  /**
   * Splits the events of one append, in order, into those to append and duplicates (of the
   * index, or of an earlier event of the same batch: `taken` holds the keys the batch takes
   * so far, and grows by this append's).
   */
  check (events: readonly Buffer[], keys: ReadonlyArray<string | undefined> | undefined, now: number, taken: Set<string>): { duplicates: number[], added: string[] } {
    const duplicates: number[] = []
    const added: string[] = []
    for (let i = 0; i < events.length; i++) {
      const key = keyAt(events, keys, i)
      if (key === undefined) continue
      if (taken.has(key) || this.has(key, now)) { duplicates.push(i); continue }
      taken.add(key)
      added.push(key)
    }
    return { duplicates, added }
  }

  /** Records a written batch's keys at its append time. */
  add (time: number, keys: string[], tag: T): void {
    if (keys.length === 0) return
    for (const k of keys) this.seen.set(k, time)
    this.batches.push({ time, keys, tag })
  }

  /** Forgets the batches whose window has passed at `now`; returns their tags, oldest first. */
  expire (now: number): T[] {
    const out: T[] = []
    while (this.head < this.batches.length) {
      const b = this.batches[this.head] as Batch<T>
      if (now - b.time < this.windowMs) break
      // A key appended again after its window belongs to a later batch now: keep it.
      for (const k of b.keys) if (this.seen.get(k) === b.time) this.seen.delete(k)
      out.push(b.tag)
      this.head++
    }
    // Drop the walked part now and then, not on every call.
    if (this.head > 1024 && this.head * 2 > this.batches.length) {
      this.batches = this.batches.slice(this.head)
      this.head = 0
    }
    return out
  }

  /** Every batch's tag (to forget them all, e.g. when deduplication is turned off). */
  tags (): T[] {
    return this.batches.slice(this.head).map((b) => b.tag)
  }
}
