import type { TelemetryChange } from './store.js'
import type { Device } from './stream-fanout.js'

// Policy and operator snapshots as the bytes the store keeps: JSON text, encoded here rather
// than by the store so it can happen a few hundred at a time between turns of the event loop
// (one write of thousands of window states encoded in one go stalled ingest for a second).

export const encodeState = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
export const decodeState = (bytes: Buffer): unknown => JSON.parse(bytes.toString('utf8'))

const PER_TURN = 256
const turn = async (): Promise<void> => await new Promise((resolve) => setImmediate(resolve))

/** Changes to commit; `failed` puts back what they took when the commit does not happen. */
export interface PendingWrite {
  changes: TelemetryChange[]
  failed: () => void
}

/**
 * The snapshots of the policies and operators that changed since they were last taken.
 * Nothing may change the devices until it resolves (a stream's tasks run one at a time), so
 * the turns given to ingest in between cannot change what is being written.
 */
export async function snapshotChanges (source: string, devices: Iterable<Device>): Promise<PendingWrite> {
  const changes: TelemetryChange[] = []
  const taken: Array<{ dirty: boolean }> = []
  let sinceTurn = 0
  for (const d of devices) {
    if (d.dirty) {
      d.dirty = false
      taken.push(d)
      changes.push({ kind: 'policy', source, deviceId: d.id, state: encodeState(d.policy.snapshot()) })
      sinceTurn++
    }
    for (const e of d.ops.values()) {
      if (!e.dirty) continue
      e.dirty = false
      taken.push(e)
      changes.push({ kind: 'operator', source, window: e.window.name, deviceId: d.id, metric: e.metric, state: encodeState(e.op.snapshot()) })
      sinceTurn++
    }
    if (sinceTurn >= PER_TURN) {
      sinceTurn = 0
      await turn()
    }
  }
  // Marked dirty again, they go into the next snapshot: a later checkpoint must not move the
  // cursor past readings whose state never reached the store.
  return { changes, failed: () => { for (const x of taken) x.dirty = true } }
}
