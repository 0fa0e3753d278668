import { isUtf8 } from 'node:buffer'

// Whether a payload is one JSON text (RFC 8259), decided on the bytes without building a
// value: ingest embeds a JSON payload as `data` as it is, so without a schema it only needs
// the verdict, and JSON.parse would allocate the whole value for nothing (issue 13's
// profile: a full parse of every payload). Agrees with JSON.parse on valid UTF-8 (the table
// and differential tests in test/ingest/json-text.test.ts); the bytes must also be valid
// UTF-8, since they are embedded raw. Pure; iterative, so deep nesting cannot overflow.

const OBJECT = 1
const ARRAY = 2

// Reused between calls (single-threaded, not re-entrant), with its own depth: emptying it with
// `length = 0` gave its backing store up, and the next push allocated another every payload
// (0.26 µs against 0.37 for 138 bytes). It keeps the deepest nesting seen: one entry per
// opening bracket, so at most the largest payload's length.
const stack: number[] = []
let depth = 0

// Byte classes, so the hot loops do one table load per byte. Reads never go past the end of
// the buffer (an out-of-bounds typed-array read is a slow path in V8): `at` gives -1 there.
const WS = 1
const DIGIT = 2
const HEX = 4
const PLAIN = 8 // may appear unescaped inside a string (not '"', '\\', or a control character)
const CLASS = new Uint8Array(256)
for (let c = 0; c < 256; c++) {
  let k = 0
  if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) k |= WS
  if (c >= 0x30 && c <= 0x39) k |= DIGIT | HEX
  if ((c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)) k |= HEX
  if (c >= 0x20 && c !== 0x22 && c !== 0x5c) k |= PLAIN
  CLASS[c] = k
}

const at = (b: Uint8Array, i: number): number => i < b.length ? b[i] as number : -1
const is = (b: Uint8Array, i: number, k: number): boolean => i < b.length && ((CLASS[b[i] as number] as number) & k) !== 0

function skipWs (b: Uint8Array, i: number): number {
  while (is(b, i, WS)) i++
  return i
}

/** The index after the string that starts at b[i] (a quote), or -1. */
function skipString (b: Uint8Array, i: number): number {
  const n = b.length
  i++
  for (;;) {
    while (i < n && ((CLASS[b[i] as number] as number) & PLAIN) !== 0) i++
    if (i >= n) return -1
    const c = b[i] as number
    if (c === 0x22) return i + 1
    if (c !== 0x5c) return -1 // a control character
    const e = at(b, i + 1)
    if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) i += 2
    else if (e === 0x75 && is(b, i + 2, HEX) && is(b, i + 3, HEX) && is(b, i + 4, HEX) && is(b, i + 5, HEX)) i += 6
    else return -1
  }
}

function skipDigits (b: Uint8Array, i: number): number {
  while (is(b, i, DIGIT)) i++
  return i
}

/** The index after the number that starts at b[i], or -1. */
function skipNumber (b: Uint8Array, i: number): number {
  if (at(b, i) === 0x2d) i++
  if (at(b, i) === 0x30) i++
  else if (is(b, i, DIGIT)) i = skipDigits(b, i)
  else return -1
  if (at(b, i) === 0x2e) {
    if (!is(b, ++i, DIGIT)) return -1
    i = skipDigits(b, i)
  }
  const e = at(b, i)
  if (e === 0x65 || e === 0x45) {
    const sign = at(b, ++i)
    if (sign === 0x2b || sign === 0x2d) i++
    if (!is(b, i, DIGIT)) return -1
    i = skipDigits(b, i)
  }
  return i
}

function skipLiteral (b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (at(b, i + k) !== word.charCodeAt(k)) return -1
  return i + word.length
}

/** After a '{' or ',' inside an object: a key, then ':'; the index of the value, or -1. */
function skipKey (b: Uint8Array, i: number): number {
  if (at(b, i) !== 0x22) return -1
  i = skipString(b, i)
  if (i < 0) return -1
  i = skipWs(b, i)
  if (at(b, i) !== 0x3a) return -1
  return i + 1
}

/** Whether `b` is exactly one JSON text (whitespace around it allowed) in valid UTF-8. */
export function isJsonText (b: Uint8Array): boolean {
  depth = 0
  const n = b.length
  let i = 0
  for (;;) {
    // A value starts here.
    i = skipWs(b, i)
    const c = at(b, i)
    if (c === 0x7b) {
      i = skipWs(b, i + 1)
      if (at(b, i) === 0x7d) {
        i++
      } else {
        i = skipKey(b, i)
        if (i < 0) return false
        stack[depth++] = OBJECT
        continue
      }
    } else if (c === 0x5b) {
      i = skipWs(b, i + 1)
      if (at(b, i) === 0x5d) {
        i++
      } else {
        stack[depth++] = ARRAY
        continue
      }
    } else if (c === 0x22) {
      i = skipString(b, i)
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      i = skipNumber(b, i)
    } else if (c === 0x74) {
      i = skipLiteral(b, i, 'true')
    } else if (c === 0x66) {
      i = skipLiteral(b, i, 'false')
    } else if (c === 0x6e) {
      i = skipLiteral(b, i, 'null')
    } else {
      return false
    }
    if (i < 0) return false
    // A value ended: close containers until one takes another member.
    for (;;) {
      i = skipWs(b, i)
      const top = depth === 0 ? undefined : stack[depth - 1]
      if (top === undefined) return i === n && isUtf8(b)
      const d = at(b, i)
      if (d === 0x2c) {
        i = skipWs(b, i + 1)
        if (top === OBJECT) {
          i = skipKey(b, i)
          if (i < 0) return false
        }
        break
      }
      if ((top === OBJECT && d === 0x7d) || (top === ARRAY && d === 0x5d)) {
        depth--
        i++
        continue
      }
      return false
    }
  }
}
