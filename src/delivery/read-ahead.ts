import type { LogRecord, TopicLog } from '../log/types.js'

// A subscription queue's read-ahead. A take's log reads ran inside its turn, each a round
// trip to Redis on that engine, and every other call on the subscription waited for them. So
// once a take has read from the log and more is there, the records past the cursor are read
// in the background (one read at a time, up to READ_AHEAD_READS of the take's reads), and the
// next take starts from them when they begin at its cursor. `ahead` from `aheadAt` on is what
// log.read(aheadFrom) answered: records are never changed once appended, so it stays true
// until the log removes events of the topic (retention, delete), and then the log's onRemove
// notice drops it and any read under way (`epoch`). Takes alone move the cursor and consume
// it, one at a time as ever, so no record is handed out twice or passed by.

/** Records read ahead of the cursor: this many of a take's reads. */
const READ_AHEAD_READS = 4

export interface ReadAhead {
  /** Up to `size` records from `from`, as log.read answers: from what was read ahead if it starts there, else read now. */
  readFrom: (from: number, size: number) => Promise<LogRecord[]>
  /** Forgets the records before `offset` (taken); `offset` is at most one past the last. */
  consume: (offset: number) => void
  /** Records read ahead and not yet taken. */
  readonly count: number
  /** Starts a background read past what is read ahead (from the cursor), unless one is under way or enough is there. */
  fill: (size: number) => void
  /** Drops what was read ahead and reads no more. */
  close: () => void
}

/** `cursor`: the queue's cursor, which only its takes move. */
export function createReadAhead (log: TopicLog, topic: string, cursor: () => number): ReadAhead {
  let ahead: LogRecord[] = []
  let aheadAt = 0
  let aheadFrom = -1
  let epoch = 0
  let closed = false
  let filling: { from: number, done: Promise<void> } | undefined
  const drop = (): void => { ahead = []; aheadAt = 0; aheadFrom = -1 }
  // A log without removal notices could not tell when what was read ahead stops being true.
  const stopRemoved = log.onRemove?.((t) => {
    if (t !== undefined && t !== topic) return
    epoch++
    drop()
  })
  const count = (): number => ahead.length - aheadAt

  function consume (offset: number): void {
    if (aheadFrom < 0 || offset < aheadFrom) return
    while (aheadAt < ahead.length && (ahead[aheadAt] as LogRecord).offset < offset) aheadAt++
    aheadFrom = offset
    if (aheadAt === ahead.length) { ahead = []; aheadAt = 0 }
  }

  function fill (size: number): void {
    if (stopRemoved === undefined || filling !== undefined || closed) return
    const at0 = cursor()
    const want = size * READ_AHEAD_READS - (aheadFrom === at0 ? count() : 0)
    if (want < size) return
    if (aheadFrom !== at0) { drop(); aheadFrom = at0 }
    const from = count() > 0 ? (ahead[ahead.length - 1] as LogRecord).offset + 1 : at0
    const at = epoch
    const done = log.read(topic, { offset: from }, want).then(({ records }) => {
      filling = undefined
      // Dropped meanwhile (events removed, the cursor moved past by a read of its own), or nothing new.
      const end = count() > 0 ? (ahead[ahead.length - 1] as LogRecord).offset + 1 : aheadFrom
      if (at !== epoch || closed || end !== from || records.length === 0) return
      if (count() > 0 && records[0]?.offset !== from) { drop(); return }
      if (aheadAt > 0) { ahead = ahead.slice(aheadAt); aheadAt = 0 }
      for (const r of records) ahead.push(r)
      // More is there: keep reading while the takes keep up.
      if (records.length === want) fill(size)
    }, () => { filling = undefined }) // the take reads for itself
    filling = { from, done }
  }

  return {
    async readFrom (from, size) {
      consume(from)
      // The read under way starts here: wait for it rather than read the same records twice.
      if (count() === 0 && filling?.from === from) await filling.done
      if (aheadFrom === from && count() > 0) return ahead.slice(aheadAt, aheadAt + size)
      drop()
      const { records } = await log.read(topic, { offset: from }, size)
      return records
    },
    consume,
    get count () { return count() },
    fill,
    close () {
      closed = true
      stopRemoved?.()
      drop()
    }
  }
}
