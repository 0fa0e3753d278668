import { createRequire, syncBuiltinESMExports } from 'node:module'
import { promisify } from 'node:util'
import { isNothingQueued } from '../core/nothing-queued.js'

// aedes 1.2 sends a session's queued messages at every CONNECT with
// `pipeline(persistence.outgoingStream(client), through(...), done)` (lib/handlers/connect.js,
// emptyQueue; lib/client.js, emptyOutgoingQueue), from functions of its own modules that no
// option reaches. For a session with nothing queued (core/nothing-queued.ts: what gridgate's
// MQTT persistence returns then) that pipeline moves nothing, yet sets up and tears down an
// AbortController, end-of-stream listeners on both streams and, when it finishes, a
// DOMException with its stack trace: 19-21 µs of the ingest thread per CONNECT, where it
// costs ~1 µs to make the two streams (same-run micro-benchmark), and about a fifth of what a
// reconnect storm's CONNECTs cost the thread (CPU profile of the longest turns).
//
// Installed on import (before aedes loads, as quiet-debug.ts is), this wraps node:stream's
// `pipeline` so that a call of exactly that shape whose source is marked nothing-queued calls
// back on the next tick without touching either stream, as the real pipeline would after the
// empty source ended (aedes ignores the returned stream). Every other call, from aedes or any
// other module, goes to the real pipeline unchanged. aedes' import binding is updated through
// syncBuiltinESMExports.

type Pipeline = (...args: unknown[]) => unknown

const WRAPPED = Symbol.for('gridgate.emptyQueuePipeline')

/** `real` with the nothing-queued shortcut. */
export function skipEmptyQueue (real: Pipeline): Pipeline {
  if ((real as unknown as Record<symbol, unknown>)[WRAPPED] === true) return real
  const pipeline = function pipeline (this: unknown, ...args: unknown[]): unknown {
    const done = args[2]
    if (args.length === 3 && typeof done === 'function' && isNothingQueued(args[0])) {
      process.nextTick(done as () => void)
      return args[1]
    }
    return real.apply(this, args)
  }
  Object.defineProperty(pipeline, WRAPPED, { value: true })
  // util.promisify(stream.pipeline) gives stream/promises' pipeline, as it does unwrapped.
  const custom = (real as unknown as Record<symbol, unknown>)[promisify.custom]
  if (custom !== undefined) Object.defineProperty(pipeline, promisify.custom, { value: custom })
  return pipeline
}

export function installEmptyQueueShortcut (): void {
  const stream = createRequire(import.meta.url)('node:stream') as { pipeline: Pipeline }
  const wrapped = skipEmptyQueue(stream.pipeline)
  if (wrapped === stream.pipeline) return
  stream.pipeline = wrapped
  syncBuiltinESMExports()
}

installEmptyQueueShortcut()
