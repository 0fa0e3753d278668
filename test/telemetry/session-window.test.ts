import { describe, expect, it } from 'vitest'
import { createSessionWindow, type SessionResult } from '../../src/telemetry/windows.js'

const S = 1000
/** 10:15:00 is a multiple of 10 s since the epoch, so the max-duration checks fall on :00, :10, :20 ... */
const T0 = Date.UTC(2021, 9, 26, 10, 15, 0)
const at = (s: number): number => T0 + s * S

type Row = [start: number, end: number, count: number, closedBy: SessionResult['closedBy']]

function rows (outputs: readonly SessionResult[]): Row[] {
  return outputs.map((o) => [(o.start - T0) / S, (o.end - T0) / S, o.aggregate.count, o.closedBy])
}

function sessions (timeout: number, maxDuration: number, seconds: readonly number[]): Row[] {
  const op = createSessionWindow(timeout * S, maxDuration * S)
  const out: SessionResult[] = []
  for (const s of seconds) {
    expect(op.add(at(s), s)).toBe(true)
    out.push(...op.advance(at(s)))
  }
  return rows([...out, ...op.advance(Infinity)])
}

const odd = (from: number, to: number): number[] => Array.from({ length: (to - from) / 2 + 1 }, (_, i) => from + 2 * i)

describe('session windows', () => {
  it('reproduces the docs\' SessionWindow(second, 5, 10) ends 10:15:09, :24, :31, :39 with counts 2, 4, 2, 1', () => {
    // Reconstructed: the docs give the first events (:01, :04, :13) and each window's end and count.
    const got = sessions(5, 10, [1, 4, 13, 15, 17, 19, 25, 26, 34])
    expect(got.map(([, end, count]) => [end, count])).toEqual([[9, 2], [24, 4], [31, 2], [39, 1]])
    // The second lasts 11 s > maxDuration: the check at :20 saw only 7 s (checks run at multiples of 10 s).
    expect(got[1]).toEqual([13, 24, 4, 'timeout'])
  })

  it.each<{ name: string, timeout: number, max: number, events: number[], expected: Row[] }>([
    { name: 'a lone event closes at its time + timeout', timeout: 5, max: 10, events: [3], expected: [[3, 8, 1, 'timeout']] },
    { name: 'an event exactly timeout after the last one still joins', timeout: 5, max: 100, events: [1, 6, 11.001], expected: [[1, 11, 2, 'timeout'], [11.001, 16.001, 1, 'timeout']] },
    // Started at :03, the check at :10 sees 7 s; :20 sees 17 s (up to twice maxDuration). The
    // sessions continued at :20 and :30 are maxDuration long; the one opened at :40 stays empty.
    { name: 'continuous events: closed at the first check point at least maxDuration after the start, then every maxDuration', timeout: 5, max: 10, events: odd(3, 39), expected: [[3, 20, 9, 'maxDuration'], [20, 30, 5, 'maxDuration'], [30, 40, 5, 'maxDuration']] },
    { name: 'an event exactly on the check point belongs to the session closing there', timeout: 5, max: 10, events: [0, 4, 8, 10, 12], expected: [[0, 10, 4, 'maxDuration'], [10, 17, 1, 'timeout']] },
    { name: 'a session starting on a check point lasts exactly maxDuration', timeout: 5, max: 10, events: [10, 14, 18, 22], expected: [[10, 20, 3, 'maxDuration'], [20, 27, 1, 'timeout']] },
    { name: 'the timeout ends a session before a check point it never reaches', timeout: 5, max: 10, events: [12, 16, 19], expected: [[12, 24, 3, 'timeout']] },
    { name: 'a gap after a max-duration close starts a fresh session at its first event', timeout: 5, max: 10, events: [0, 4, 8, 14], expected: [[0, 10, 3, 'maxDuration'], [14, 19, 1, 'timeout']] },
    { name: 'a timeout longer than maxDuration: empty continued sessions are not emitted', timeout: 25, max: 10, events: [1, 5, 45], expected: [[1, 20, 2, 'maxDuration'], [45, 60, 1, 'maxDuration']] },
    { name: 'no maximum duration (Infinity): only the timeout closes', timeout: 5, max: Infinity, events: odd(1, 99), expected: [[1, 104, 50, 'timeout']] }
  ])('$name', ({ timeout, max, events, expected }) => {
    expect(sessions(timeout, max, events)).toEqual(expected)
  })

  it('closes a session only once the watermark is past its end', () => {
    const op = createSessionWindow(5 * S, 60 * S)
    op.add(at(1), 1)
    expect(op.advance(at(6))).toEqual([])
    expect(rows(op.advance(at(6) + 1))).toEqual([[1, 6, 1, 'timeout']])
    expect(op.advance(at(100))).toEqual([])
  })

  it('outputs a session that a later reading closed at the next advance, even without watermark progress', () => {
    const op = createSessionWindow(5 * S, 60 * S)
    op.add(at(1), 1)
    op.add(at(20), 2)
    expect(rows(op.advance(-Infinity))).toEqual([[1, 6, 1, 'timeout']])
  })

  it('rejects a reading older than the previous one or below the watermark', () => {
    const op = createSessionWindow(5 * S, 60 * S)
    expect(op.add(at(5), 1)).toBe(true)
    expect(op.add(at(4), 1)).toBe(false)
    op.advance(at(8))
    expect(op.add(at(7), 1)).toBe(false)
    expect(op.rejected).toBe(2)
  })

  it('aggregates the readings of each session', () => {
    const op = createSessionWindow(5 * S, 60 * S)
    for (const [s, v] of [[1, 10], [2, 30], [3, 20]] as const) op.add(at(s), v)
    const [w] = op.advance(Infinity)
    expect(w?.aggregate.result(['count', 'avg', 'first', 'last', 'max'])).toEqual({ count: 3, avg: 20, first: 10, last: 20, max: 30 })
  })

  it.each([[0, 10], [5, 0], [5, -1], [1.5, 10], [NaN, 10]])('refuses timeout %s / maxDuration %s with CONFIG_INVALID', (timeout, max) => {
    expect(() => createSessionWindow(timeout, max)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
  })
})
