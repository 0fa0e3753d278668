// Liveness is "the process answers"; readiness is "started, not stopping, and its storage
// answers" (a storage engine that can be unreachable, such as Redis, reports why not).
export interface Health {
  readonly ready: boolean
  setReady: (ready: boolean) => void
  /** Why the storage cannot answer now (read live from the probe); undefined while it can. */
  readonly storageProblem: string | undefined
  /** The probe of storageProblem (main.ts wires the engine's availability). */
  setStorageProbe: (probe: () => string | undefined) => void
}

export function createHealth (): Health {
  let ready = false
  let probe = (): string | undefined => undefined
  return {
    get ready () { return ready },
    setReady (r) { ready = r },
    get storageProblem () { return probe() },
    setStorageProbe (p) { probe = p }
  }
}
