import { afterEach } from 'vitest'

// Everything a test starts registers its stop here when it is created; afterEach stops
// them in reverse order, also when the test failed half-way.
export function useTeardown (): (fn: () => Promise<unknown> | unknown) => void {
  const fns: Array<() => Promise<unknown> | unknown> = []
  afterEach(async () => {
    while (fns.length > 0) {
      try { await fns.pop()?.() } catch { /* keep tearing down */ }
    }
  })
  return (fn) => { fns.push(fn) }
}
