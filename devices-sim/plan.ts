import type { Settings } from './options.js'
import type { WorkerInit } from './protocol.js'
import { inShare, splitByWeight } from './schedule.js'

// How a run divides its work: each worker's devices (a contiguous range), its share of the
// ramp, the rate and the messages, which devices answer commands or churn; and how many
// long polls the receiving end needs.

/** Enough long polls that a batch of 100 every few ms keeps up with the rate. */
export const receiveLoops = (rate: number): number => Math.min(16, Math.max(2, Math.ceil(rate / 1500) + 1))

/** Devices that answer commands (the command sender's targets). */
export const answeringIds = (s: Settings, ids: readonly string[]): string[] => ids.filter((_, i) => inShare(i, s.commandShare, s.devices))

/** Devices that disconnect and reconnect while publishing. */
export const churns = (s: Settings, i: number): boolean => inShare(i, s.churnShare, s.devices, Math.floor(s.devices / 2))

export interface RunShares {
  ids: readonly string[]
  ranges: ReadonlyArray<readonly [number, number]>
  /** Each device's username and password (none: anonymous). */
  credentials: ReadonlyMap<string, { username?: string, password?: string }>
  runId: string
  clockOffsetMs: number
  template: unknown
  ca: string | undefined
}

/** One init message per worker range. */
export function workerInits (s: Settings, x: RunShares): WorkerInit[] {
  const messages = splitByWeight(s.messages, x.ranges.map(([a, b]) => b - a))
  return x.ranges.map(([first, end], w) => ({
    worker: w,
    url: s.mqtt,
    ...(x.ca === undefined ? {} : { ca: x.ca }),
    qos: s.qos,
    devices: x.ids.slice(first, end).map((id, j) => ({
      index: first + j,
      id,
      ...x.credentials.get(id),
      answers: inShare(first + j, s.commandShare, s.devices),
      churns: churns(s, first + j)
    })),
    ramp: s.ramp * (end - first) / s.devices,
    rate: s.rate * (end - first) / s.devices,
    messages: messages[w] as number,
    runId: x.runId,
    clockOffsetMs: x.clockOffsetMs,
    template: x.template,
    churnIntervalMs: s.churnInterval * 1000,
    drainMs: s.drain * 1000,
    warmupMs: s.warmup * 1000
  }))
}
