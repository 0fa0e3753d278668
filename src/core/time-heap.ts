// A binary min-heap on (time, insertion order), in parallel arrays to spare objects: ties
// leave in the order they came. Pure. Used where values wait for a moment (event-time
// reordering, delivery entries coming due).

export interface TimedValue<T> {
  time: number
  value: T
}

/** The heap's arrays as they are, in heap order, and its insertion counter (for snapshots). */
export interface TimeHeapArrays<T> {
  seq: number
  times: number[]
  seqs: number[]
  values: T[]
}

export class TimeHeap<T> {
  private times: number[] = []
  private seqs: number[] = []
  private values: T[] = []
  private seq = 0

  get size (): number {
    return this.times.length
  }

  /** Copies of the arrays, to rebuild the same heap with load(). */
  arrays (): TimeHeapArrays<T> {
    return { seq: this.seq, times: this.times.slice(), seqs: this.seqs.slice(), values: this.values.slice() }
  }

  /**
   * Takes arrays() output as it was. Returns false, and changes nothing, when they do not form
   * a heap (lengths differ, an order is broken, a seq is not below the counter).
   */
  load (a: TimeHeapArrays<T>): boolean {
    const n = a.times.length
    if (a.seqs.length !== n || a.values.length !== n || !(a.seq >= 0)) return false
    for (let i = 0; i < n; i++) {
      const seq = a.seqs[i] as number
      if (!(seq >= 0 && seq < a.seq)) return false
      if (i > 0) {
        const p = (i - 1) >> 1
        if (before(a.times[i] as number, seq, a.times[p] as number, a.seqs[p] as number)) return false
      }
    }
    this.times = a.times.slice()
    this.seqs = a.seqs.slice()
    this.values = a.values.slice()
    this.seq = a.seq
    return true
  }

  /** The smallest time; Infinity when empty. */
  minTime (): number {
    return this.times.length === 0 ? Infinity : this.times[0] as number
  }

  /** The value with the smallest time (undefined when empty). */
  peek (): T | undefined {
    return this.values[0]
  }

  push (time: number, value: T): void {
    let i = this.times.length
    const seq = this.seq++
    this.times.push(time)
    this.seqs.push(seq)
    this.values.push(value)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(time, seq, this.times[parent] as number, this.seqs[parent] as number)) break
      this.move(parent, i)
      i = parent
    }
    this.set(i, time, seq, value)
  }

  /** Removes and returns the entry with the smallest time; call only when size > 0. */
  pop (): TimedValue<T> {
    const top = { time: this.times[0] as number, value: this.values[0] as T }
    const last = this.times.length - 1
    if (last > 0) this.move(last, 0)
    this.times.length = last
    this.seqs.length = last
    this.values.length = last
    if (last > 1) this.siftDown(0)
    return top
  }

  /** Keeps only the entries `keep` accepts (in one pass, then one heapify). */
  retain (keep: (value: T, time: number) => boolean): void {
    let j = 0
    for (let i = 0; i < this.times.length; i++) {
      if (!keep(this.values[i] as T, this.times[i] as number)) continue
      this.move(i, j++)
    }
    this.times.length = j
    this.seqs.length = j
    this.values.length = j
    for (let i = (j >> 1) - 1; i >= 0; i--) this.siftDown(i)
  }

  clear (): void {
    this.times = []
    this.seqs = []
    this.values = []
  }

  private siftDown (start: number): void {
    const n = this.times.length
    const time = this.times[start] as number
    const seq = this.seqs[start] as number
    const value = this.values[start] as T
    let i = start
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && this.lessAt(child + 1, child)) child++
      if (!before(this.times[child] as number, this.seqs[child] as number, time, seq)) break
      this.move(child, i)
      i = child
    }
    this.set(i, time, seq, value)
  }

  private lessAt (i: number, j: number): boolean {
    return before(this.times[i] as number, this.seqs[i] as number, this.times[j] as number, this.seqs[j] as number)
  }

  private move (from: number, to: number): void {
    this.set(to, this.times[from] as number, this.seqs[from] as number, this.values[from] as T)
  }

  private set (i: number, time: number, seq: number, value: T): void {
    this.times[i] = time
    this.seqs[i] = seq
    this.values[i] = value
  }
}

function before (time: number, seq: number, otherTime: number, otherSeq: number): boolean {
  return time < otherTime || (time === otherTime && seq < otherSeq)
}
