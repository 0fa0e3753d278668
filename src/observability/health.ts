// Liveness is "the process answers"; readiness is "started and not stopping".
export interface Health {
  readonly ready: boolean
  setReady: (ready: boolean) => void
}

export function createHealth (): Health {
  let ready = false
  return {
    get ready () { return ready },
    setReady (r) { ready = r }
  }
}
