import { describe, expect, it } from 'vitest'
import { Deliveries, reconcile, SeqSet } from '../../devices-sim/ledger.js'

const set = (...n: number[]): SeqSet => {
  const s = new SeqSet()
  for (const x of n) s.add(x)
  return s
}

describe('SeqSet', () => {
  it('adds, tells duplicates, grows and counts', () => {
    const s = new SeqSet()
    expect(s.add(1)).toBe(true)
    expect(s.add(1)).toBe(false)
    expect(s.add(100_000)).toBe(true)
    expect(s.has(1)).toBe(true)
    expect(s.has(2)).toBe(false)
    expect(s.has(100_000)).toBe(true)
    expect(s.has(10_000_000)).toBe(false)
    expect(s.has(0)).toBe(false)
    expect(s.size).toBe(2)
    expect(s.max).toBe(100_000)
  })

  it('round-trips through its bytes (as it crosses postMessage)', () => {
    const s = set(1, 2, 3, 8, 9, 64, 1000)
    const copy = new SeqSet(s.toBytes())
    expect(copy.size).toBe(7)
    expect(copy.max).toBe(1000)
    for (let n = 0; n <= 1001; n++) expect(copy.has(n)).toBe(s.has(n))
    expect(s.toBytes().length).toBe(126) // trimmed to the largest member
    expect(new SeqSet(new SeqSet().toBytes()).size).toBe(0)
  })
})

describe('Deliveries', () => {
  it('tells new, duplicate and foreign deliveries apart', () => {
    const d = new Deliveries(2)
    const rows: Array<[number | undefined, unknown, string]> = [[0, 1, 'new'], [0, 1, 'duplicate'], [1, 1, 'new'], [undefined, 1, 'invalid'], [5, 1, 'invalid'], [0, '2', 'invalid'], [0, 0, 'invalid'], [0, 1.5, 'invalid'], [0, null, 'invalid']]
    for (const [device, seq, outcome] of rows) expect(d.record(device, seq)).toBe(outcome)
    expect({ unique: d.unique, duplicates: d.duplicates, invalid: d.invalid }).toEqual({ unique: 2, duplicates: 1, invalid: 6 })
  })
})

describe('reconcile', () => {
  const ids = ['d-1', 'd-2', 'd-3']
  function delivered (per: number[][]): Deliveries {
    const d = new Deliveries(ids.length)
    per.forEach((seqs, i) => { for (const s of seqs) d.record(i, s) })
    return d
  }

  it.each<[string, { qos: 0 | 1, sent: number[], acked: number[][], got: number[][] }, { lost: number, deliveredUnacked: number, beyondSent: number, lostByDevice: Array<{ device: string, lost: number, firstLostSeq: number }> }]>([
    ['all delivered', { qos: 1, sent: [3, 2, 0], acked: [[1, 2, 3], [1, 2], []], got: [[1, 2, 3], [2, 1], []] }, { lost: 0, deliveredUnacked: 0, beyondSent: 0, lostByDevice: [] }],
    ['acked but missing is lost', { qos: 1, sent: [3, 2, 0], acked: [[1, 2, 3], [1, 2], []], got: [[1, 3], [], []] }, { lost: 3, deliveredUnacked: 0, beyondSent: 0, lostByDevice: [{ device: 'd-2', lost: 2, firstLostSeq: 1 }, { device: 'd-1', lost: 1, firstLostSeq: 2 }] }],
    ['not acked and missing is not lost (QoS 1)', { qos: 1, sent: [3, 0, 0], acked: [[1], [], []], got: [[1], [], []] }, { lost: 0, deliveredUnacked: 0, beyondSent: 0, lostByDevice: [] }],
    ['delivered without its PUBACK', { qos: 1, sent: [2, 0, 0], acked: [[1], [], []], got: [[1, 2], [], []] }, { lost: 0, deliveredUnacked: 1, beyondSent: 0, lostByDevice: [] }],
    ['QoS 0: sent but missing is lost', { qos: 0, sent: [4, 1, 0], acked: [[], [], []], got: [[1, 4], [1], []] }, { lost: 2, deliveredUnacked: 0, beyondSent: 0, lostByDevice: [{ device: 'd-1', lost: 2, firstLostSeq: 2 }] }],
    ['a sequence number never sent', { qos: 0, sent: [1, 0, 0], acked: [[], [], []], got: [[1, 5], [], [2]] }, { lost: 0, deliveredUnacked: 0, beyondSent: 2, lostByDevice: [] }]
  ])('%s', (_name, input, expected) => {
    const r = reconcile({ qos: input.qos, ids, sent: input.sent, acked: input.acked.map((a) => set(...a)), delivered: delivered(input.got) })
    expect(r).toEqual(expected)
  })

  it('lists at most `top` devices, most losses first', () => {
    const many = Array.from({ length: 30 }, (_, i) => `x-${i + 1}`)
    const r = reconcile({ qos: 0, ids: many, sent: many.map((_, i) => i + 1), acked: [], delivered: new Deliveries(many.length), top: 3 })
    expect(r.lost).toBe(30 * 31 / 2)
    expect(r.lostByDevice.map((d) => d.device)).toEqual(['x-30', 'x-29', 'x-28'])
  })
})
