import { Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { BucketHistogram } from '../../src/observability/bucket-histogram.js'

// The per-message histogram must be indistinguishable on /metrics from prom-client's own:
// the same observations give the same exposition text, default labels included.

const BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1]

async function both (values: number[], defaultLabels?: Record<string, string>): Promise<[string, string]> {
  const theirs = new Registry()
  const ours = new Registry()
  if (defaultLabels !== undefined) { theirs.setDefaultLabels(defaultLabels); ours.setDefaultLabels(defaultLabels) }
  const h = new Histogram({ name: 'x_seconds', help: 'the help', buckets: BUCKETS, registers: [theirs] })
  const b = new BucketHistogram({ name: 'x_seconds', help: 'the help', buckets: BUCKETS, registers: [ours] })
  for (const v of values) { h.observe(v); b.observe(v) }
  return [await theirs.metrics(), await ours.metrics()]
}

describe('BucketHistogram', () => {
  it.each([
    ['nothing observed', []],
    ['one value on a bound', [0.001]],
    ['values in several buckets', [0.0001, 0.0005, 0.0007, 0.003, 0.003, 0.2, 0.9]],
    ['values above every bound', [2, 30, 0.5]],
    ['zero and negative values', [0, -1]]
  ])('exposes %s as prom-client\'s Histogram does', async (_name, values) => {
    const [theirs, ours] = await both(values)
    expect(ours).toBe(theirs)
  })

  it('exposes the registry\'s default labels as prom-client\'s Histogram does', async () => {
    const [theirs, ours] = await both([0.003, 7], { node: 'n1' })
    expect(ours).toBe(theirs)
    expect(ours).toContain('x_seconds_bucket{le="0.005",node="n1"} 1')
  })

  it('starts from zero again after reset, and refuses a value that is not a number', async () => {
    const r = new Registry()
    const b = new BucketHistogram({ name: 'y', help: 'h', buckets: [1], registers: [r] })
    b.observe(0.5)
    b.reset()
    b.observe(3)
    expect(await r.metrics()).toContain('y_bucket{le="1"} 0\ny_bucket{le="+Inf"} 1\ny_sum 3\ny_count 1')
    expect(() => { b.observe(Number.NaN) }).toThrow(TypeError)
  })
})
