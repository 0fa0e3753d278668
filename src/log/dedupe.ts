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
  // An empty key means none, as on Redis (where '' marks an event not indexed).
  return keys === undefined ? eventDedupeKey(events[i] as Buffer) : (keys[i] === '' ? undefined : keys[i])
}

interface Batch<T> {
  time: number
  /**
   * The batch's keys as one string to search (`holds`), not one object per key; undefined
   * while the batch is pending, when `keys` holds them.
   */
  text: string | undefined
  keys: string[] | undefined
  /** Keys that contain the separator, kept apart (rare). */
  odd: Set<string> | undefined
  /**
   * The keys as a set, built at the batch's first hash hit: a search of `text` is linear, and
   * a batch that is hit once (a publisher resending a whole batch) is likely hit again.
   */
  lookup: Set<string> | undefined
  /** The keys' hashes, to find their index entries again on expiry (a typed array once written). */
  hashes: number[] | Int32Array
  tag: T | undefined
}

/** A batch being planned: its keys are in the index already, and leave it again on abort(). */
export type PendingBatch = object

/** FNV-1a over the UTF-16 code units, cut to 30 bits so it stays a small integer (a Smi) in V8. */
function hashKey (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return h & 0x3fffffff
}

// Separates the keys in a batch's text; a key that contains it goes to the batch's `odd` set.
const SEP = '\u0001'

function holds (b: Batch<unknown>, key: string): boolean {
  if (b.lookup === undefined) {
    b.lookup = new Set(b.keys ?? (b.text as string).split(SEP))
    for (const k of b.odd ?? []) b.lookup.add(k)
  }
  return b.lookup.has(key)
}

/**
 * One topic's index: the keys appended within the window, by batch, bounded by what the topic
 * takes within one window and kept lean because that can be millions of keys. The map goes
 * from a key's 30-bit hash to the batch (or batches) that hold it; a written batch keeps its
 * keys as one string and their hashes as one array. So the index holds a few objects per batch,
 * not one per key (the garbage collector would walk those on every major collection), and a
 * hash hit is confirmed against the batch's keys: a collision never makes an event a
 * duplicate, it only costs a look at the batch.
 *
 * A batch is planned with begin() and take() (which puts each new key in the index at once,
 * so a later event of the same batch is a duplicate), then commit() once it is written or
 * abort() if the write failed.
 */
export class DedupeWindow<T = undefined> {
  private readonly seen = new Map<number, Batch<T> | Array<Batch<T>>>()
  private batches: Array<Batch<T>> = []
  private head = 0
  private keys = 0

  constructor (public windowMs: number) {}

  /** Keys indexed now, once per batch that holds them (for tests and metrics). */
  get size (): number { return this.keys }

  /** Whether `key` was appended less than the window before `now` (or taken by a pending batch). */
  has (key: string, now: number): boolean {
    const e = this.seen.get(hashKey(key))
    if (e === undefined) return false
    if (!Array.isArray(e)) return now - e.time < this.windowMs && holds(e, key)
    for (const b of e) if (now - b.time < this.windowMs && holds(b, key)) return true
    return false
  }

  /** Starts planning a batch appended at `time`. */
  begin (time: number): PendingBatch {
    return { time, text: undefined, keys: [], odd: undefined, lookup: undefined, hashes: [], tag: undefined } satisfies Batch<T>
  }

  /** False when `key` is a duplicate; otherwise the pending batch takes it. */
  take (pending: PendingBatch, key: string): boolean {
    const b = pending as Batch<T>
    const h = hashKey(key)
    const e = this.seen.get(h)
    if (e !== undefined) {
      if (!Array.isArray(e)) {
        if (b.time - e.time < this.windowMs && holds(e, key)) return false
        if (e !== b) this.seen.set(h, [e, b])
      } else {
        for (const x of e) if (b.time - x.time < this.windowMs && holds(x, key)) return false
        if (e[e.length - 1] !== b) e.push(b)
      }
    } else {
      this.seen.set(h, b)
    }
    ;(b.keys as string[]).push(key)
    b.lookup?.add(key)
    ;(b.hashes as number[]).push(h)
    return true
  }

  /** The keys a pending batch took, in order (what an engine persists with the batch). */
  taken (pending: PendingBatch): readonly string[] {
    return (pending as Batch<T>).keys ?? []
  }

  /** The batch is written: its keys stay until its window passes. */
  commit (pending: PendingBatch, tag: T): void {
    const b = pending as Batch<T>
    const keys = b.keys as string[]
    b.tag = tag
    if (keys.length === 0) return
    // join() writes one flat string; `+=` would keep every key alive in a tree of parts.
    const plain = keys.filter((key) => !key.includes(SEP))
    if (plain.length < keys.length) b.odd = new Set(keys.filter((key) => key.includes(SEP)))
    b.text = SEP + plain.join(SEP) + SEP
    b.hashes = Int32Array.from(b.hashes)
    b.keys = undefined
    b.lookup = undefined // built again if a hit needs it: most batches are never hit
    this.keys += keys.length
    this.batches.push(b)
  }

  /** The batch was not written: its keys leave the index. */
  abort (pending: PendingBatch): void {
    this.unlink(pending as Batch<T>)
  }

  private unlink (b: Batch<T>): void {
    for (const h of b.hashes) {
      const e = this.seen.get(h)
      if (e === b) this.seen.delete(h)
      else if (Array.isArray(e)) {
        const rest = e.filter((x) => x !== b)
        if (rest.length === 0) this.seen.delete(h)
        else this.seen.set(h, rest.length === 1 ? rest[0] as Batch<T> : rest)
      }
    }
  }

  /** Records a batch written earlier (an index rebuilt at open). */
  add (time: number, keys: readonly string[], tag: T): void {
    const b = this.begin(time)
    for (const k of keys) this.take(b, k)
    this.commit(b, tag)
  }

  /** Forgets the batches whose window has passed at `now`; returns their tags, oldest first. */
  expire (now: number): T[] {
    const out: T[] = []
    while (this.head < this.batches.length) {
      const b = this.batches[this.head] as Batch<T>
      if (now - b.time < this.windowMs) break
      this.unlink(b)
      this.keys -= b.hashes.length
      out.push(b.tag as T)
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
    return this.batches.slice(this.head).map((b) => b.tag as T)
  }
}
