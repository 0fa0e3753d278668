import { GridgateError } from './errors.js'
import { errorFromWire, errorToWire, type WireError } from './wire-error.js'

// Calls and notices over one message port (a MessagePort, a Worker, a worker's parentPort):
// either side may call the other's handlers and send one-way notices. Errors a handler
// throws come back as the same error (wire-error.ts). Values go by structured clone; a
// handler or a caller hands ArrayBuffers over without a copy with `transferring`.

/** What both ends of a MessageChannel, a Worker and a worker's parentPort have. */
export interface RpcPort {
  postMessage: (value: unknown, transferList?: readonly ArrayBuffer[]) => void
  on: (event: 'message', listener: (value: unknown) => void) => unknown
  off: (event: 'message', listener: (value: unknown) => void) => unknown
}

export type Handler = (...args: never[]) => unknown
export type Handlers = Record<string, Handler>

const TRANSFER = Symbol('transferring')

/** A value whose ArrayBuffers move to the other side instead of being copied. */
export interface Transferring<T> {
  readonly [TRANSFER]: true
  value: T
  transfer: ArrayBuffer[]
}

export function transferring<T> (value: T, transfer: ArrayBuffer[]): Transferring<T> {
  return { [TRANSFER]: true, value, transfer }
}

function unwrap (v: unknown): { value: unknown, transfer: ArrayBuffer[] } {
  if (v !== null && typeof v === 'object' && TRANSFER in v) {
    const t = v as Transferring<unknown>
    return { value: t.value, transfer: t.transfer }
  }
  return { value: v, transfer: [] }
}

type Message =
  | { rpc: 'call', id: number, method: string, args: unknown[] }
  | { rpc: 'ok', id: number, value: unknown }
  | { rpc: 'fail', id: number, error: WireError }
  | { rpc: 'notice', kind: string, value: unknown }

export interface Rpc {
  /** Calls the other side's handler; rejects with the error it threw. */
  call: <T = unknown>(method: string, ...args: unknown[]) => Promise<T>
  /** A one-way message to the other side's notice listener. */
  notify: (kind: string, value?: unknown) => void
  /** Rejects every call still waiting for an answer (the other side is gone). */
  failPending: (err: Error) => void
  /** Calls waiting for an answer. */
  readonly pending: number
  /** Stops listening on the port (calls still waiting are failed with SHUTTING_DOWN). */
  close: () => void
}

export interface RpcOptions {
  handlers?: Handlers
  onNotice?: (kind: string, value: unknown) => void
}

export function createRpc (port: RpcPort, opts: RpcOptions = {}): Rpc {
  const handlers = opts.handlers ?? {}
  const waiting = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  let nextId = 1
  let closed = false

  const post = (msg: Message, transfer: ArrayBuffer[] = []): void => {
    if (closed) return
    try {
      port.postMessage(msg, transfer)
    } catch (err) {
      // A value that cannot be cloned: answer the call with that instead of hanging it.
      if (msg.rpc === 'ok') port.postMessage({ rpc: 'fail', id: msg.id, error: errorToWire(err) } satisfies Message)
      else throw err
    }
  }

  async function serve (id: number, method: string, args: unknown[]): Promise<void> {
    try {
      const h = handlers[method]
      if (h === undefined) throw new Error(`no handler '${method}' on the other side of the port`)
      const { value, transfer } = unwrap(await (h as (...a: unknown[]) => unknown)(...args))
      post({ rpc: 'ok', id, value }, transfer)
    } catch (err) {
      post({ rpc: 'fail', id, error: errorToWire(err) })
    }
  }

  const listener = (raw: unknown): void => {
    const msg = raw as Message
    switch (msg.rpc) {
      case 'call': void serve(msg.id, msg.method, msg.args); break
      case 'ok': waiting.get(msg.id)?.resolve(msg.value); waiting.delete(msg.id); break
      case 'fail': waiting.get(msg.id)?.reject(errorFromWire(msg.error)); waiting.delete(msg.id); break
      case 'notice': opts.onNotice?.(msg.kind, msg.value); break
    }
  }
  port.on('message', listener)

  const failPending = (err: Error): void => {
    const all = [...waiting.values()]
    waiting.clear()
    for (const w of all) w.reject(err)
  }

  return {
    call: async <T>(method: string, ...args: unknown[]): Promise<T> => {
      if (closed) throw new GridgateError('SHUTTING_DOWN')
      const id = nextId++
      const last = args.length > 0 ? unwrap(args[args.length - 1]) : undefined
      const transfer = last?.transfer ?? []
      if (last !== undefined) args[args.length - 1] = last.value
      return await new Promise<T>((resolve, reject) => {
        waiting.set(id, { resolve: resolve as (v: unknown) => void, reject })
        try {
          port.postMessage({ rpc: 'call', id, method, args } satisfies Message, transfer)
        } catch (err) {
          waiting.delete(id)
          reject(err instanceof Error ? err : new Error(String(err)))
        }
      })
    },
    notify: (kind, value) => { post({ rpc: 'notice', kind, value }) },
    failPending,
    get pending () { return waiting.size },
    close: () => {
      if (closed) return
      closed = true
      port.off('message', listener)
      failPending(new GridgateError('SHUTTING_DOWN'))
    }
  }
}
