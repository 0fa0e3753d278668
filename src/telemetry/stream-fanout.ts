import type { EventMatcher } from '../core/filters.js'
import { createEventTimePolicy, type EventTimeCounters, type EventTimePolicy, type EventTimePolicyOptions, type TimedValue } from './event-time.js'
import type { EventReadings } from './source.js'
import type { ClosedWindow } from './window-event.js'
import { attachWindow, operatorFor, type AttachedWindow, type StreamWindow } from './window-operators.js'
import type { WindowOperator } from './windows.js'

// The in-memory state of one source stream and the way a reading goes through it: per
// device, the event-time policy releases readings in event-time order; each released reading
// goes to the rollups and to every window operator it belongs to; when the device's
// watermark passes windows, they are handed to `closed`. No I/O, no clock of its own.

/** What waits in the event-time buffer per event: its readings and the filtered windows that refused it. */
type Held = [readings: Array<[string, number]>, excluded: string[] | 0]

export interface OpEntry {
  window: AttachedWindow
  deviceId: string
  metric: string
  op: WindowOperator<unknown>
  /** Changed since its snapshot was last written. */
  dirty: boolean
}

export interface Device {
  id: string
  policy: EventTimePolicy<Held>
  dirty: boolean
  /** The watermark the operators last advanced to. */
  advancedTo: number
  /** By `{window}\0{metric}`. */
  ops: Map<string, OpEntry>
}

export interface FanOutHooks {
  policy: EventTimePolicyOptions
  rollup: (deviceId: string, metric: string, time: number, value: number) => void
  closed: (e: OpEntry, result: ClosedWindow) => void
  readings: (n: number) => void
}

export interface FanOut {
  attach: (w: StreamWindow) => AttachedWindow
  /** Stops feeding a window and forgets its operators. */
  detach: (name: string) => void
  window: (name: string) => AttachedWindow | undefined
  windows: () => Iterable<AttachedWindow>
  devices: () => Iterable<Device>
  /** One event's readings, arriving at `arrival`. */
  accept: (event: Readonly<Record<string, unknown>>, r: EventReadings, arrival: number) => void
  /** Lets the arrival clock move every device's watermark (sparse devices). */
  flush: (now: number) => void
  restorePolicy: (deviceId: string, state: unknown) => void
  /** An operator from a snapshot; `caughtUp`: the device's watermark already reached it (a restart). */
  restoreOperator: (w: AttachedWindow, deviceId: string, metric: string, state: unknown, caughtUp: boolean) => void
  counters: () => EventTimeCounters
}

export const noCounters = (): EventTimeCounters => ({ invalidDropped: 0, lateDropped: 0, lateAdjusted: 0, earlyDropped: 0, earlyAdjusted: 0, outOfOrderDropped: 0, outOfOrderAdjusted: 0 })

export function addCounters (sum: EventTimeCounters, c: Readonly<EventTimeCounters>): void {
  for (const k of Object.keys(sum) as Array<keyof EventTimeCounters>) sum[k] += c[k]
}

export function createFanOut (hooks: FanOutHooks): FanOut {
  const attached = new Map<string, AttachedWindow>()
  const devices = new Map<string, Device>()
  /** The windows with a filter: each event is matched against these once, before it waits. */
  let filtered: AttachedWindow[] = []

  function device (id: string, state?: unknown): Device {
    let d = devices.get(id)
    if (d === undefined) {
      d = { id, policy: createEventTimePolicy<Held>(hooks.policy, state), dirty: false, advancedTo: -Infinity, ops: new Map() }
      devices.set(id, d)
    }
    return d
  }

  function opFor (d: Device, w: AttachedWindow, metric: string): OpEntry {
    const key = w.name + '\0' + metric
    let e = d.ops.get(key)
    if (e === undefined) {
      e = { window: w, deviceId: d.id, metric, op: operatorFor(w), dirty: true }
      d.ops.set(key, e)
    }
    return e
  }

  function feed (d: Device, released: ReadonlyArray<TimedValue<Held>>): void {
    let n = 0
    for (const { time, value: [readings, excluded] } of released) {
      for (const [metric, v] of readings) {
        n++
        hooks.rollup(d.id, metric, time, v)
        for (const w of attached.values()) {
          if (excluded !== 0 && excluded.includes(w.name)) continue
          if (w.metrics !== null && !w.metrics.has(metric)) continue
          const e = opFor(d, w, metric)
          e.op.add(time, v)
          e.dirty = true
        }
      }
    }
    if (n > 0) hooks.readings(n)
  }

  /** Closes the device's windows its watermark has passed; true when any closed. */
  function advance (d: Device): boolean {
    const wm = d.policy.watermark
    if (wm === d.advancedTo) return false
    d.advancedTo = wm
    let any = false
    for (const e of d.ops.values()) {
      const results = e.op.advance(wm)
      if (results.length === 0) continue
      any = true
      e.dirty = true
      for (const r of results) hooks.closed(e, r as ClosedWindow)
    }
    return any
  }

  const refilter = (): void => { filtered = [...attached.values()].filter((x) => x.matcher !== undefined) }

  return {
    attach (w) {
      const a = attachWindow(w)
      attached.set(w.name, a)
      refilter()
      return a
    },
    detach (name) {
      attached.delete(name)
      refilter()
      for (const d of devices.values()) {
        for (const [key, e] of d.ops) if (e.window.name === name) d.ops.delete(key)
      }
    },
    window: (name) => attached.get(name),
    windows: () => attached.values(),
    devices: () => devices.values(),
    accept (event, r, arrival) {
      let excluded: string[] | 0 = 0
      for (const w of filtered) {
        if (!(w.matcher as EventMatcher)(event)) (excluded === 0 ? (excluded = []) : excluded).push(w.name)
      }
      const d = device(r.deviceId)
      const released = d.policy.accept(r.time, arrival, [r.readings, excluded])
      d.dirty = true
      if (released.length > 0) feed(d, released)
      advance(d)
    },
    flush (now) {
      for (const d of devices.values()) {
        const released = d.policy.flush(now)
        if (released.length > 0) feed(d, released)
        if (advance(d) || released.length > 0) d.dirty = true
      }
    },
    restorePolicy: (deviceId, state) => { device(deviceId, state) },
    restoreOperator (w, deviceId, metric, state, caughtUp) {
      const d = device(deviceId)
      if (caughtUp) d.advancedTo = d.policy.watermark
      d.ops.set(w.name + '\0' + metric, { window: w, deviceId, metric, op: operatorFor(w, state), dirty: false })
    },
    counters () {
      const sum = noCounters()
      for (const d of devices.values()) addCounters(sum, d.policy.counters)
      return sum
    }
  }
}
