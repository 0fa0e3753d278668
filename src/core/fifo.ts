// A first-in, first-out queue for the pacing modules (turn-budget.ts, turn-pacer.ts): take()
// lets an item go at once (its slot is cleared), and the storage is reset when the queue runs
// empty or compacted when most of it has been taken, so a long burst neither keeps what it let
// go nor shifts an array per item.

/** Taken slots past which, when they are most of the array, it is compacted. */
const COMPACT_AFTER = 1024

export class Fifo<T> {
  private items: Array<T | undefined> = []
  private head = 0

  get size (): number { return this.items.length - this.head }

  push (item: T): void { this.items.push(item) }

  /** The oldest item, removed; undefined when the queue is empty. */
  take (): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head > COMPACT_AFTER && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }
}
