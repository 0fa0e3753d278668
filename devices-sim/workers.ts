import { Worker } from 'node:worker_threads'
import { SimError } from './errors.js'
import type { ConnectSummary, FromWorker, ToWorker, WorkerInit, WorkerReport, WorkerStats } from './protocol.js'

// The device workers as the main thread sees them: one WorkerHandle per thread (its
// messages as promises, its latest counts) and a WorkerPool that talks to all of them.

/** How long a worker gets to close its connections before it is terminated. */
const CLOSE_GRACE_MS = 5000

/** A worker thread; under tsx (the .ts sources) it first registers tsx, which workers do not inherit on Node 20. */
function spawnWorker (): Worker {
  const self = import.meta.url
  const workerData = { deviceWorker: true }
  if (self.endsWith('.ts')) {
    const entry = new URL('./worker.ts', self).href
    const tsx = import.meta.resolve('tsx/esm/api')
    return new Worker(`import(${JSON.stringify(tsx)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}) })`, { eval: true, workerData })
  }
  return new Worker(new URL('./worker.js', self), { workerData })
}

/** A promise and the function that resolves it. */
function deferred<T> (): { promise: Promise<T>, resolve: (value: T) => void } {
  let settle: (value: T) => void = () => {}
  const promise = new Promise<T>((resolve) => { settle = resolve })
  return { promise, resolve: settle }
}

/** One worker's messages as promises and its latest counts. */
export class WorkerHandle {
  stats: WorkerStats = { connected: 0, sent: 0, acked: 0, errors: 0 }
  private readonly ready = deferred<ConnectSummary>()
  private readonly published = deferred<number>()
  private readonly done = deferred<WorkerReport>()
  private readonly closed = deferred<void>()
  private readonly failed: Promise<never>

  constructor (readonly worker: Worker, readonly first: number) {
    let fail: (err: Error) => void = () => {}
    this.failed = new Promise<never>((_resolve, reject) => { fail = reject })
    this.failed.catch(() => {}) // observed through race()
    worker.on('message', (m: FromWorker) => this.receive(m))
    worker.on('error', (err) => fail(new SimError('WORKER_FAILED', `a device worker failed: ${err.stack ?? err.message}`, { exitCode: 1 })))
    worker.on('exit', (code) => {
      this.closed.resolve()
      fail(new SimError('WORKER_FAILED', `a device worker exited early (code ${code})`, { exitCode: 1 }))
    })
  }

  private receive (m: FromWorker): void {
    if (m.type === 'stats') this.stats = m.stats
    else if (m.type === 'ready') this.ready.resolve(m.summary)
    else if (m.type === 'published') this.published.resolve(m.lastAtMs)
    else if (m.type === 'done') this.done.resolve(m.report)
    else if (m.type === 'closed') this.closed.resolve()
  }

  post (m: ToWorker): void {
    this.worker.postMessage(m)
  }

  /** Its devices' connection outcomes, once all of them connected or gave up. */
  async whenReady (): Promise<ConnectSummary> { return await this.race(this.ready.promise) }
  /** When (shared-clock ms) it published its last message. */
  async whenPublished (): Promise<number> { return await this.race(this.published.promise) }
  /** Its report, after its PUBACK drain. */
  async whenDone (): Promise<WorkerReport> { return await this.race(this.done.promise) }

  /** Asks it to close its connections, waits a bounded while, then terminates the thread. */
  async close (): Promise<void> {
    this.post({ type: 'close' })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.closed.promise, new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE_MS) })])
    clearTimeout(timer)
    await this.worker.terminate()
  }

  /** The promise, or the worker's failure, whichever comes first. */
  private async race<T> (p: Promise<T>): Promise<T> {
    return await Promise.race([p, this.failed])
  }
}

/** All the workers of a run: one per device range, started together, summed together. */
export class WorkerPool {
  readonly handles: readonly WorkerHandle[]

  /** Spawns one worker per `[first, end)` range; the threads load while the caller goes on. */
  constructor (ranges: ReadonlyArray<readonly [number, number]>) {
    this.handles = ranges.map(([first]) => new WorkerHandle(spawnWorker(), first))
  }

  init (inits: readonly WorkerInit[]): void {
    inits.forEach((init, w) => this.handles[w]?.post({ type: 'init', init }))
  }

  /** Every worker starts publishing on the same instant of the shared clock. */
  start (atMs: number): void {
    for (const h of this.handles) h.post({ type: 'start', atMs })
  }

  /** Stops publishing early (Ctrl-C); the workers still drain and report. */
  stop (): void {
    for (const h of this.handles) h.post({ type: 'stop' })
  }

  /** A sum over the workers' latest counts. */
  total (key: keyof WorkerStats): number {
    return this.handles.reduce((a, h) => a + h.stats[key], 0)
  }

  async ready (): Promise<ConnectSummary[]> {
    return await Promise.all(this.handles.map(async (h) => await h.whenReady()))
  }

  /** When the last worker published its last message (shared-clock ms). */
  async lastPublishAt (): Promise<number> {
    return Math.max(...await Promise.all(this.handles.map(async (h) => await h.whenPublished())))
  }

  async reports (): Promise<WorkerReport[]> {
    return await Promise.all(this.handles.map(async (h) => await h.whenDone()))
  }

  async close (): Promise<void> {
    await Promise.all(this.handles.map(async (h) => { await h.close() }))
  }
}
