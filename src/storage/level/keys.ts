// Fixed-width key encoding, so LevelDB's byte order is numeric order. Pure.

const OFFSET_WIDTH = 16 // Number.MAX_SAFE_INTEGER has 16 digits
const TIME_WIDTH = 15 // epoch ms until the year 33658

function pad (n: number, width: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot encode ${n} as a key`)
  return n.toString().padStart(width, '0')
}

export const encodeOffset = (offset: number): string => pad(offset, OFFSET_WIDTH)
export const encodeTime = (ms: number): string => pad(Math.max(0, Math.floor(ms)), TIME_WIDTH)

export function decodeNumber (text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a key number: '${text}'`)
  return n
}

/** '~' sorts after every character used in names and numbers, so it closes a prefix range. */
export const RANGE_END = '~'
