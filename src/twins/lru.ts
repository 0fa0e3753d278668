// A map that keeps the `capacity` most recently used entries (Map keeps insertion order:
// a hit moves the entry to the end, the first entry is the least recently used).

export class Lru<K, V> {
  private readonly map = new Map<K, V>()
  constructor (private readonly capacity: number) {}

  get size (): number { return this.map.size }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) {
      this.map.delete(key)
      this.map.set(key, v)
    }
    return v
  }

  set (key: K, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next()
      if (oldest.done === true) break
      this.map.delete(oldest.value)
    }
  }

  clear (): void { this.map.clear() }
}
