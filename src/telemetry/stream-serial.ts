// One task at a time: a stream's reads, checkpoints and window changes never interleave, so
// none of them sees the state half-changed by another.

export interface Serial {
  /** Runs the task after the ones queued before it. */
  run: <T>(task: () => Promise<T>) => Promise<T>
  /** For work nobody awaits: its failure goes to `onError` only. */
  background: (task: () => Promise<void>) => Promise<void>
  /** Resolves when the queued tasks have ended. */
  idle: () => Promise<void>
}

export function createSerial (onError: (err: unknown) => void): Serial {
  let chain: Promise<void> = Promise.resolve()
  const run = <T>(task: () => Promise<T>): Promise<T> => {
    const p = chain.then(task)
    chain = p.then(() => {}, onError)
    return p
  }
  return {
    run,
    background: (task) => run(task).catch(() => {}),
    idle: () => chain
  }
}
