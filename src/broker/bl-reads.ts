import { createRequire } from 'node:module'

// mqtt-packet parses from a `bl` BufferList, whose readUInt8/readUInt16BE/readUInt32BE and
// toString(encoding, start, end) first slice the range into a new Buffer view and then read
// that: a Buffer object for each byte of a packet's fixed header, its length and its message
// id, and another for its topic. These replacements read the byte(s) in place when the range
// lies within one of the list's buffers (nearly always: a socket read holds many packets) and
// otherwise call the original, so every result, error included, is the original's. About 8 %
// of the bytes the ingest thread allocated under fan-in (heap sampling profile).

interface BufferListLike {
  _bufs: Buffer[]
  length: number
}

type Proto = Record<string | symbol, unknown>
const PATCHED = Symbol.for('gridgate.blReads')

/** Replaces the read methods of a BufferList prototype with in-place reads (once). */
export function patchBufferListReads (proto: Proto): boolean {
  if (proto[PATCHED] === true) return true
  const orig = {
    readUInt8: proto.readUInt8, readUInt16BE: proto.readUInt16BE, readUInt32BE: proto.readUInt32BE, toString: proto.toString
  }
  if (Object.values(orig).some((f) => typeof f !== 'function')) return false
  const o = orig as Record<keyof typeof orig, (this: BufferListLike, ...args: unknown[]) => unknown>

  proto.readUInt8 = function readUInt8 (this: BufferListLike, offset: unknown = 0) {
    if (typeof offset === 'number' && offset >= 0 && Number.isInteger(offset)) {
      const bufs = this._bufs
      let at = offset
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i] as Buffer
        if (at < b.length) return b[at]
        at -= b.length
      }
    }
    return o.readUInt8.call(this, offset)
  }
  const wide = (name: 'readUInt16BE' | 'readUInt32BE', size: number) => function (this: BufferListLike, offset: unknown = 0) {
    if (typeof offset === 'number' && offset >= 0 && Number.isInteger(offset)) {
      const bufs = this._bufs
      let at = offset
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i] as Buffer
        if (at < b.length) {
          if (at + size <= b.length) return size === 2 ? b.readUInt16BE(at) : b.readUInt32BE(at)
          break
        }
        at -= b.length
      }
    }
    return o[name].call(this, offset)
  }
  proto.readUInt16BE = wide('readUInt16BE', 2)
  proto.readUInt32BE = wide('readUInt32BE', 4)
  const toString = 'toString' as string // Record's own toString type would not take a reader's
  proto[toString] = function toString (this: BufferListLike, encoding?: unknown, start?: unknown, end?: unknown): unknown {
    if (typeof start === 'number' && typeof end === 'number' && Number.isInteger(start) && Number.isInteger(end) &&
        start >= 0 && end > start && end <= this.length && (encoding === undefined || Buffer.isEncoding(encoding as string))) {
      const bufs = this._bufs
      let at = start
      for (let i = 0; i < bufs.length; i++) {
        const b = bufs[i] as Buffer
        if (at < b.length) {
          if (at + (end - start) <= b.length) return b.toString(encoding as BufferEncoding | undefined, at, at + (end - start))
          break
        }
        at -= b.length
      }
    }
    return o.toString.call(this, encoding, start, end)
  }
  Object.defineProperty(proto, PATCHED, { value: true })
  return true
}

/** Patches the `bl` that aedes' mqtt-packet parses with (its BufferList and stream prototypes). */
export function installBufferListReads (): void {
  try {
    const fromAedes = createRequire(createRequire(import.meta.url).resolve('aedes'))
    const fromPacket = createRequire(fromAedes.resolve('mqtt-packet'))
    const bl = fromPacket('bl') as { prototype: Proto, BufferList?: { prototype: Proto } }
    patchBufferListReads(bl.prototype)
    if (bl.BufferList !== undefined) patchBufferListReads(bl.BufferList.prototype)
  } catch {
    // Not laid out as expected: the parser keeps bl's own reads.
  }
}

installBufferListReads()
