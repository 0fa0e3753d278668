// A DDSketch-style quantile sketch (Masson, Rim & Lee, "DDSketch: a fast and fully-mergeable
// quantile sketch with relative-error guarantees", VLDB 2019). A value v > 0 is counted in the
// logarithmic bucket k = ceil(log_γ v) with γ = (1 + α) / (1 − α); a bucket answers with
// 2γ^k / (γ + 1), which is within a relative error α of every value in (γ^(k−1), γ^k].
// So a quantile comes back within α of the exact value at that rank, merging adds bucket
// counts (exact: a merged sketch equals one fed every value) and removing a value is a
// decrement, which sliding windows need.
//
// Why not @datadog/sketches-js 2.1.1 (the newest): its merge() leaves out the store of
// negative values (DataDog/sketches-js#22, open), and its only serialisation is protobuf,
// needing protobufjs and losing min/max. Telemetry has negative values and we store JSON.

/** α: every quantile is within 1 % of the exact value at that rank (unless its bucket collapsed). */
export const RELATIVE_ACCURACY = 0.01
const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
const LN_GAMMA = Math.log(GAMMA)
const INV_LN_GAMMA = 1 / LN_GAMMA
/** Magnitudes below the smallest normal double count as zero. */
const MIN_INDEXABLE = 2.2250738585072014e-308
/**
 * Buckets per sign at most. With α = 1 % they span magnitudes differing by γ^2048 ≈ 6e17;
 * past that the buckets of the smallest magnitudes collapse into one (DDSketch's
 * collapsing-lowest store): memory stays bounded, and only quantiles that fall among those
 * smallest magnitudes lose the guarantee.
 */
export const MAX_BINS = 2048

export interface SketchJSON {
  /** Count of values treated as zero. */
  z: number
  /** Positive values: [lowest key, count at that key, count at key + 1, ...]; [] when none. */
  p: number[]
  /** Negative values by magnitude, same layout. */
  n: number[]
}

function keyOf (magnitude: number): number {
  return Math.ceil(Math.log(magnitude) * INV_LN_GAMMA)
}

function valueOf (key: number): number {
  // exp rather than Math.pow(GAMMA, key): several times faster, same value to ~1e-13.
  return 2 * Math.exp(key * LN_GAMMA) / (1 + GAMMA)
}

/** Bins per block: rank queries skip whole blocks by their sums, so a wide range stays cheap to query. */
const BLOCK_SHIFT = 5

/**
 * n zero counts. A plain array, not a Float64Array: typed arrays past 64 bytes get a backing
 * store outside V8's heap, 1.3 µs each to allocate against 0.07 µs for this, and every
 * per-second rollup of every (device, metric) starts a sketch (7,000 a second at 1,000
 * devices × 7 metrics).
 */
const zeros = (n: number): number[] => new Array<number>(n).fill(0)

/**
 * Counts per key for one sign, dense between lo and hi (bins outside are zero), with a sum
 * per block of 32 bins: a rank query costs range / 32 + 32 steps instead of range.
 */
class Store {
  bins: number[] = []
  blocks: number[] = []
  /** Key of bins[0]. */
  offset = 0
  lo = 0
  hi = -1
  count = 0

  add (key: number, n: number): void {
    if (n < 0) {
      // A removed value sits in its own bin, or in the lowest one if that bin was collapsed.
      this.bump(Math.max(key, this.lo) - this.offset, n)
      this.count = Math.max(0, this.count + n)
      return
    }
    if (this.count === 0) {
      // One block to start: a second's readings of one metric usually span a few bins, and
      // every open per-second rollup holds one of these.
      if (this.bins.length === 0) this.allocate(1 << BLOCK_SHIFT)
      this.bins.fill(0)
      this.blocks.fill(0)
      this.offset = key - (this.bins.length >> 1)
      this.lo = key
      this.hi = key
    } else if (key < this.lo) {
      // Collapsing-lowest: a key that would stretch the range past MAX_BINS joins the lowest bin.
      key = Math.max(key, this.hi - MAX_BINS + 1)
      if (key < this.lo) this.extend(key, this.hi)
    } else if (key > this.hi) {
      if (key - this.lo + 1 > MAX_BINS) this.collapseBelow(key - MAX_BINS + 1)
      this.extend(this.lo, key)
    }
    this.bump(key - this.offset, n)
    this.count += n
  }

  /** The key holding the value of 0-based rank `index` in this store; searches from the nearer end. */
  keyAt (index: number): number {
    const { bins, blocks } = this
    const loIdx = this.lo - this.offset
    const hiIdx = this.hi - this.offset
    let cum = 0
    if (index < this.count / 2) {
      for (let b = loIdx >> BLOCK_SHIFT; b <= hiIdx >> BLOCK_SHIFT; b++) {
        const c = blocks[b] as number
        if (cum + c > index) {
          for (let i = b << BLOCK_SHIFT; i <= hiIdx; i++) {
            cum += bins[i] as number
            if (cum > index) return i + this.offset
          }
        }
        cum += c
      }
      return this.hi
    }
    const fromTop = this.count - 1 - index
    for (let b = hiIdx >> BLOCK_SHIFT; b >= loIdx >> BLOCK_SHIFT; b--) {
      const c = blocks[b] as number
      if (cum + c > fromTop) {
        for (let i = ((b + 1) << BLOCK_SHIFT) - 1; i >= loIdx; i--) {
          cum += bins[i] as number
          if (cum > fromTop) return i + this.offset
        }
      }
      cum += c
    }
    return this.lo
  }

  /** Empties the store, keeping its arrays for the next values (add resets them). */
  clear (): void {
    this.count = 0
    this.lo = 0
    this.hi = -1
  }

  merge (other: Store): void {
    if (other.count === 0) return
    for (let k = other.lo; k <= other.hi; k++) {
      const c = other.bins[k - other.offset] as number
      if (c > 0) this.add(k, c)
    }
  }

  toJSON (): number[] {
    if (this.count === 0) return []
    let lo = this.lo
    let hi = this.hi
    while (lo < hi && this.bins[lo - this.offset] === 0) lo++
    while (hi > lo && this.bins[hi - this.offset] === 0) hi--
    const out = [lo]
    for (let k = lo; k <= hi; k++) out.push(this.bins[k - this.offset] as number)
    return out
  }

  load (json: readonly number[]): void {
    const lo = json[0]
    if (lo === undefined) return
    for (let i = 1; i < json.length; i++) {
      const c = json[i] as number
      if (c > 0) this.add(lo + i - 1, c)
    }
  }

  private bump (i: number, n: number): void {
    this.bins[i] = (this.bins[i] as number) + n
    const b = i >> BLOCK_SHIFT
    this.blocks[b] = (this.blocks[b] as number) + n
  }

  private allocate (length: number): void {
    this.bins = zeros(length)
    this.blocks = zeros(length >> BLOCK_SHIFT)
  }

  private collapseBelow (newLo: number): void {
    if (newLo > this.hi) {
      // Every bin folds into one at newLo: start over there rather than spanning the gap.
      this.bins.fill(0)
      this.blocks.fill(0)
      this.offset = newLo - (this.bins.length >> 1)
      this.bump(newLo - this.offset, this.count)
      this.lo = newLo
      this.hi = newLo
      return
    }
    let moved = 0
    for (let k = this.lo; k < newLo; k++) {
      const c = this.bins[k - this.offset] as number
      moved += c
      this.bump(k - this.offset, -c)
    }
    this.bump(newLo - this.offset, moved)
    this.lo = newLo
  }

  /** Makes room for keys lo..hi, keeping counts, re-centring or growing the arrays. */
  private extend (lo: number, hi: number): void {
    if (lo >= this.offset && hi < this.offset + this.bins.length) {
      this.lo = lo
      this.hi = hi
      return
    }
    const span = hi - lo + 1
    let length = this.bins.length
    while (length < span + 16) length *= 2
    const old = this.bins
    const oldOffset = this.offset
    const offset = lo - ((length - span) >> 1)
    this.allocate(length)
    this.offset = offset
    for (let k = this.lo; k <= this.hi; k++) this.bump(k - offset, old[k - oldOffset] as number)
    this.lo = lo
    this.hi = hi
  }
}

export class QuantileSketch {
  private readonly pos = new Store()
  private readonly neg = new Store()
  private zeros = 0

  get count (): number {
    return this.pos.count + this.neg.count + this.zeros
  }

  add (value: number): void {
    this.update(value, 1)
  }

  /** Takes back one earlier add(value). Removing a value never added corrupts the counts. */
  remove (value: number): void {
    this.update(value, -1)
  }

  /** Empties the sketch, keeping its bins for the next values: a per-second rollup starts one every second. */
  clear (): void {
    this.pos.clear()
    this.neg.clear()
    this.zeros = 0
  }

  merge (other: QuantileSketch): void {
    this.pos.merge(other.pos)
    this.neg.merge(other.neg)
    this.zeros += other.zeros
  }

  /**
   * The nearest-rank quantile, within RELATIVE_ACCURACY: the smallest value with a share of at
   * least q of the values at or below it, as Stream Analytics' PERCENTILE_DISC (so p99 of a
   * handful of readings is their largest); null when empty. The 0-based rank is
   * ceil(q · count) − 1, taking 1e-9 off against rounding (0.07 · 100 is 7.000000000000001).
   */
  quantile (q: number): number | null {
    const n = this.count
    if (n === 0) return null
    const index = Math.max(0, Math.ceil(Math.min(1, Math.max(0, q)) * n - 1e-9) - 1)
    if (index < this.neg.count) return -valueOf(this.neg.keyAt(this.neg.count - 1 - index))
    if (index < this.neg.count + this.zeros) return 0
    return valueOf(this.pos.keyAt(index - this.neg.count - this.zeros))
  }

  toJSON (): SketchJSON {
    return { z: this.zeros, p: this.pos.toJSON(), n: this.neg.toJSON() }
  }

  static fromJSON (json: SketchJSON): QuantileSketch {
    const s = new QuantileSketch()
    s.zeros = json.z
    s.pos.load(json.p)
    s.neg.load(json.n)
    return s
  }

  private update (value: number, n: number): void {
    if (value > MIN_INDEXABLE) this.pos.add(keyOf(value), n)
    else if (value < -MIN_INDEXABLE) this.neg.add(keyOf(-value), n)
    else this.zeros = Math.max(0, this.zeros + n)
  }
}

export function isSketchJSON (x: unknown): x is SketchJSON {
  if (typeof x !== 'object' || x === null) return false
  const o = x as Record<string, unknown>
  return typeof o.z === 'number' && isNumberArray(o.p) && isNumberArray(o.n)
}

function isNumberArray (x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v))
}
