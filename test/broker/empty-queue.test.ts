import { createRequire } from 'node:module'
import { PassThrough, pipeline as esmPipeline, Readable } from 'node:stream'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { installEmptyQueueShortcut, skipEmptyQueue } from '../../src/broker/empty-queue.js'
import { isNothingQueued, nothingQueued } from '../../src/core/nothing-queued.js'

// aedes' CONNECT pipes a session's queued messages; for a session with nothing queued the
// pipeline is skipped (src/broker/empty-queue.ts), every other pipeline is Node's own.

type Pipeline = (...args: unknown[]) => unknown

function recorder (): { real: Pipeline, calls: unknown[][], thisArgs: unknown[] } {
  const calls: unknown[][] = []
  const thisArgs: unknown[] = []
  const real = function (this: unknown, ...args: unknown[]): unknown { calls.push(args); thisArgs.push(this); return 'real result' }
  return { real, calls, thisArgs }
}

describe('skipEmptyQueue', () => {
  it('calls back on a later tick, without an error and without the real pipeline, for a nothing-queued source', async () => {
    const { real, calls } = recorder()
    const dest = new PassThrough({ objectMode: true })
    let called: unknown[] | undefined
    const returned = skipEmptyQueue(real)(nothingQueued(), dest, (...args: unknown[]) => { called = args })
    expect(called).toBeUndefined() // not synchronously, as pipeline never does
    await new Promise((resolve) => process.nextTick(resolve))
    expect(called).toEqual([])
    expect(returned).toBe(dest)
    expect(calls).toHaveLength(0)
  })

  it.each([
    ['an ordinary empty stream', () => [Readable.from([]), new PassThrough(), () => {}]],
    ['a stream with data', () => [Readable.from([1, 2]), new PassThrough({ objectMode: true }), () => {}]],
    ['nothing-queued without a callback', () => [nothingQueued(), new PassThrough()]],
    ['nothing-queued with more streams', () => [nothingQueued(), new PassThrough(), new PassThrough(), () => {}]],
    ['nothing-queued with options before the callback', () => [nothingQueued(), new PassThrough(), { signal: AbortSignal.timeout(1000) }]]
  ] as Array<[string, () => unknown[]]>)('hands %s to the real pipeline with the same arguments and receiver', (_name, make) => {
    const { real, calls, thisArgs } = recorder()
    const args = make()
    const receiver = { some: 'receiver' }
    expect(skipEmptyQueue(real).apply(receiver, args)).toBe('real result')
    expect(calls).toEqual([args])
    expect(thisArgs).toEqual([receiver])
  })

  it('wraps once, and keeps what util.promisify gives for the real pipeline', () => {
    const { real } = recorder()
    const custom = async (): Promise<void> => {}
    Object.defineProperty(real, promisify.custom, { value: custom })
    const wrapped = skipEmptyQueue(real)
    expect(skipEmptyQueue(wrapped)).toBe(wrapped)
    expect(promisify(wrapped)).toBe(custom)
  })

  it('marks only the streams nothingQueued makes, each a fresh empty one', async () => {
    const a = nothingQueued()
    const b = nothingQueued()
    expect(a).not.toBe(b)
    expect([isNothingQueued(a), isNothingQueued(Readable.from([])), isNothingQueued(null), isNothingQueued({})]).toEqual([true, false, false, false])
    expect(await a.toArray()).toEqual([])
  })
})

describe('installEmptyQueueShortcut', () => {
  it("replaces node:stream's pipeline for require and for ES module imports, once, and real pipelines still run", async () => {
    installEmptyQueueShortcut()
    const stream = createRequire(import.meta.url)('node:stream') as { pipeline: Pipeline }
    const first = stream.pipeline
    installEmptyQueueShortcut()
    expect(stream.pipeline).toBe(first)
    expect(esmPipeline).toBe(first) // the live binding aedes' `import { pipeline } from 'stream'` reads
    expect((await import('stream')).pipeline).toBe(first)

    const got: number[] = []
    const sink = new PassThrough({ objectMode: true })
    sink.on('data', (n: number) => got.push(n))
    await new Promise<void>((resolve, reject) => esmPipeline(Readable.from([1, 2, 3]), sink, (err) => { if (err) reject(err); else resolve() }))
    expect(got).toEqual([1, 2, 3])
    expect(await promisify(esmPipeline)(Readable.from(['x']), new PassThrough({ objectMode: true }))).toBeUndefined()
  })
})
