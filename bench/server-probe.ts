import { writeFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks'

// Preloaded into the MQTT servers under test (`node --import tsx --expose-gc --import
// ./bench/server-probe.ts ...`, IPC channel open): answers the bench's requests for the
// process's memory and event-loop time. It changes nothing in the server; with
// `{ gc: true }` it first runs full garbage collections, so RSS is measured without garbage.

interface ProbeRequest {
  probe: number
  gc?: boolean
  /** Starts a CPU profile of the main thread, or stops it and writes it to `file`. */
  profile?: 'start' | 'stop'
  /** Opens a window of the loop's delay (after answering); the next probe reads and closes it. */
  resetLoopDelay?: boolean
  file?: string
}

export interface ProbeReply {
  probe: number
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
  /** Event loop busy time since start (ms). */
  loopActiveMs: number
  /** Garbage collection pauses since the probe was loaded (ms). */
  gcMs: number
  /** The longest single GC pause since the probe was loaded (ms), and pauses of 10 ms or more. */
  gcMaxMs: number
  gcLongPauses: number
  /** Of those, scavenges (young generation; the rest are mark-compact steps and weak callbacks). */
  gcLongMinorPauses: number
  /** The latest pauses of 10 ms or more (at most 200): [epoch ms at its end, ms, scavenge?]. */
  gcLong: Array<[at: number, ms: number, minor: boolean]>
  /** The main thread's longest event-loop delay in the window resetLoopDelay opened (ms, 1 ms resolution; 0 without one). */
  loopDelayMaxMs: number
}

// A plain full collection (Node 20 ignores gc({ flavor: 'last-resort' })); the second one,
// a moment later, also gives the freed heap pages back to the system.
const gc = (globalThis as { gc?: () => void }).gc

/** Pause time of every garbage collection, summed (the bench's own collections excluded). */
let gcMs = 0
let gcMaxMs = 0
let gcLongPauses = 0
let gcLongMinorPauses = 0
const gcLong: Array<[number, number, boolean]> = []
/** perf_hooks' NODE_PERFORMANCE_GC_MINOR: a scavenge. */
const GC_MINOR = constants.NODE_PERFORMANCE_GC_MINOR
let collecting = false
new PerformanceObserver((list) => {
  if (collecting) return
  for (const e of list.getEntries()) {
    gcMs += e.duration
    gcMaxMs = Math.max(gcMaxMs, e.duration)
    if (e.duration >= 10) {
      const minor = ((e as unknown as { detail?: { kind?: number } }).detail)?.kind === GC_MINOR
      gcLongPauses++
      if (minor) gcLongMinorPauses++
      gcLong.push([performance.timeOrigin + e.startTime + e.duration, e.duration, minor])
      if (gcLong.length > 200) gcLong.shift()
    }
  }
}).observe({ entryTypes: ['gc'] })

// The longest delay of the main thread's loop over a window the bench opens (a mass disconnect);
// off outside it, so the other cases' servers run no 1 ms timer.
const loopDelay = monitorEventLoopDelay({ resolution: 1 })
let loopWindow = false

// Profiles of the measured windows only (the bench's --mqtt-cpu-prof), not of start-up,
// connects and warm-up, which a whole-process --cpu-prof mixes in.
let session: Session | undefined
function profile (req: ProbeRequest, done: () => void): void {
  if (req.profile === 'start') {
    session ??= new Session()
    session.connect()
    session.post('Profiler.enable', () => { session?.post('Profiler.start', () => { done() }) })
    return
  }
  session?.post('Profiler.stop', (err, res) => {
    if (err === null && req.file !== undefined) writeFileSync(req.file, JSON.stringify(res.profile))
    session?.disconnect()
    done()
  })
}

if (typeof process.send === 'function') {
  process.on('message', (m: unknown) => {
    const req = m as Partial<ProbeRequest> | null
    if (req === null || typeof req !== 'object' || typeof req.probe !== 'number') return
    const id = req.probe
    if (req.profile !== undefined) { profile(req as ProbeRequest, () => process.send?.({ probe: id })); return }
    const answer = (): void => {
      const mem = process.memoryUsage()
      const reply: ProbeReply = {
        probe: id,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
        loopActiveMs: performance.eventLoopUtilization().active,
        gcMs,
        gcMaxMs,
        gcLongPauses,
        gcLongMinorPauses,
        gcLong,
        // The histogram's max is in ns and includes the 1 ms resolution itself.
        loopDelayMaxMs: loopWindow ? Math.max(0, loopDelay.max / 1e6 - 1) : 0
      }
      process.send?.(reply)
      if (loopWindow) { loopDelay.disable(); loopWindow = false }
      if (req.resetLoopDelay === true) {
        loopDelay.reset()
        loopDelay.enable()
        loopWindow = true
      }
    }
    if (req.gc === true && gc !== undefined) {
      collecting = true
      gc()
      // Once more after pending finalizers and weak callbacks ran.
      setTimeout(() => { gc(); setTimeout(() => { collecting = false; answer() }, 50) }, 50)
    } else {
      answer()
    }
  })
  // The channel alone must not keep the server alive (it exits on SIGTERM as usual).
  process.channel?.unref()
}
